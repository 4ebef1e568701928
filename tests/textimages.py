"""Test images with known text, rendered with Pillow: the truth for the OCR tests and benchmarks.

Fonts come from the system when present (DejaVu, Liberation; ``scripts/install-fonts.sh``); Pillow's built-in
font (``ImageFont.load_default(size)``) is always available, so every case renders everywhere (a case whose font
is missing falls back to it and says so in its ``font`` field).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
FONT_DIRS = (Path("/usr/share/fonts/truetype"), Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
FONT_FILES = {
    "dejavu-sans": "DejaVuSans.ttf",
    "dejavu-sans-bold": "DejaVuSans-Bold.ttf",
    "dejavu-serif": "DejaVuSerif.ttf",
    "dejavu-mono": "DejaVuSansMono.ttf",
    "liberation-sans": "LiberationSans-Regular.ttf",
    "liberation-serif": "LiberationSerif-Regular.ttf",
    "liberation-mono": "LiberationMono-Regular.ttf",
}
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font_path(name: str) -> Path | None:
    """The system file of a font, or None when it is not installed."""
    filename = FONT_FILES.get(name)
    if filename is None:
        return None
    for folder in FONT_DIRS:
        if folder.is_dir():
            for found in folder.rglob(filename):
                return found
    return None


def load_font(name: str, size: int) -> tuple[Font, str]:
    """(font, name actually used): the named system font, else Pillow's built-in one at that size."""
    path = font_path(name)
    if path is not None:
        return ImageFont.truetype(str(path), size), name
    return ImageFont.load_default(size), "pillow-default"


@dataclass
class Drawn:
    """One line of text drawn on an image and where it was drawn (pixel box)."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom


@dataclass
class TextImage:
    name: str
    image: Image.Image
    lines: list[Drawn] = field(default_factory=list)
    font: str = ""

    @property
    def texts(self) -> list[str]:
        return [line.text for line in self.lines]


def _background(kind: str, size: tuple[int, int], seed: int) -> tuple[Image.Image, tuple[int, int, int]]:
    """A background and a text colour that reads on it."""
    width, height = size
    if kind == "white":
        return Image.new("RGB", size, (255, 255, 255)), (10, 10, 10)
    if kind == "dark":
        return Image.new("RGB", size, (25, 28, 35)), (240, 240, 235)
    if kind == "colour":
        return Image.new("RGB", size, (30, 90, 170)), (255, 230, 60)
    if kind == "noisy":
        rng = np.random.default_rng(seed)
        base = rng.normal(200, 22, (height // 8 + 1, width // 8 + 1, 3)).clip(0, 255).astype(np.uint8)
        texture = Image.fromarray(base).resize(size, Image.Resampling.BICUBIC)
        grain = rng.normal(0, 10, (height, width, 3))
        noisy = (np.asarray(texture, dtype=np.float64) + grain).clip(0, 255).astype(np.uint8)
        return Image.fromarray(noisy), (20, 20, 60)
    raise ValueError(kind)


def render(
    name: str,
    lines: list[str],
    font: str = "dejavu-sans",
    size: int = 40,
    background: str = "white",
    canvas: tuple[int, int] = (800, 400),
    seed: int = 0,
) -> TextImage:
    """``lines`` drawn top-left aligned, one under the other, with a margin, on ``background``."""
    image, colour = _background(background, canvas, seed)
    draw = ImageDraw.Draw(image)
    loaded, used = load_font(font, size)
    drawn: list[Drawn] = []
    x, y = max(canvas[0] // 16, 10), max(canvas[1] // 10, 10)
    for text in lines:
        draw.text((x, y), text, fill=colour, font=loaded)
        left, top, right, bottom = draw.textbbox((x, y), text, font=loaded)
        drawn.append(Drawn(text, (int(left), int(top), int(right), int(bottom))))
        y = int(bottom) + max(size // 2, 8)
    return TextImage(name, image, drawn, used)


def sign_on_photo(text: str = "OPEN 24 HOURS", photo: str = "000000000285.jpg") -> TextImage:
    """A white sign with black capitals pasted onto a real sample photo (a bear)."""
    with Image.open(SAMPLES / photo) as opened:
        image = opened.convert("RGB")
    font, used = load_font("dejavu-sans-bold", max(image.width // 18, 12))
    probe = ImageDraw.Draw(image)
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    pad = font.size // 2 if isinstance(font, ImageFont.FreeTypeFont) else 10
    sign = Image.new("RGB", (int(right - left + 2 * pad), int(bottom - top + 2 * pad)), (250, 250, 250))
    ImageDraw.Draw(sign).text((pad - left, pad - top), text, fill=(15, 15, 15), font=font)
    sign = sign.rotate(3, expand=True, fillcolor=(250, 250, 250), resample=Image.Resampling.BICUBIC)
    at = (image.width // 8, image.height // 6)
    image.paste(sign, at)
    half = int(pad // 2)
    box = (at[0] + half, at[1] + half, at[0] + sign.width - half, at[1] + sign.height - half)
    return TextImage("sign-on-photo", image, [Drawn(text, box)], used)


# The known strings, chosen to hold common words (for space restoration), numbers and a non-English word.
PHRASES = [
    "OPEN 24 HOURS",
    "Welcome to the coffee shop",
    "EMERGENCY EXIT ONLY",
    "Fresh bread baked daily",
    "Parking for customers only",
    "Meeting room 204",
    "THANK YOU FOR VISITING",
    "Please wait to be seated",
    "Total amount due 42.50",
    "NO SMOKING",
    "Strassenbahn Haltestelle",
]


def cases() -> list[TextImage]:
    """The rendered test set: fonts x sizes x backgrounds, multi-line, and a sign in a photo."""
    rng = random.Random(7)
    out: list[TextImage] = []
    fonts = ["dejavu-sans", "dejavu-serif", "dejavu-mono", "liberation-sans", "liberation-serif", "pillow-default"]
    for i, font in enumerate(fonts):
        phrase = PHRASES[i % len(PHRASES)]
        out.append(render(f"font-{font}", [phrase], font=font, size=44, canvas=(900, 200)))
    for size in (16, 24, 64, 110):
        phrase = PHRASES[(size // 8) % len(PHRASES)]
        canvas = (max(600, int(len(phrase) * size * 0.75)), max(160, size * 3))
        out.append(render(f"size-{size}", [phrase], font="dejavu-sans", size=size, canvas=canvas))
    for j, background in enumerate(("dark", "colour", "noisy")):
        phrase = PHRASES[(j + 6) % len(PHRASES)]
        out.append(render(f"bg-{background}", [phrase], font="liberation-sans", size=48, background=background, seed=j))
    out.append(
        render(
            "multiline",
            ["Fresh bread baked daily", "Meeting room 204", "Please wait to be seated", "Strassenbahn Haltestelle"],
            font="dejavu-serif",
            size=36,
            canvas=(900, 420),
        )
    )
    out.append(
        render("multiline-default-font", ["THANK YOU FOR VISITING", "Total amount due 42.50"], "pillow-default", 40)
    )
    shuffled = PHRASES[:]
    rng.shuffle(shuffled)
    out.append(render("noisy-mono", shuffled[:3], font="dejavu-mono", size=34, background="noisy", canvas=(900, 360)))
    out.append(sign_on_photo())
    return out


def blur(image: Image.Image, radius: float = 0.6) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))
