"""ImageProperties (dominant colours, quality) and the perceptual hash, on synthetic images and real photos."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from conftest import SAMPLES
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.colors import (
    CSS_COLORS,
    EXTRA_REFERENCES,
    SIMPLIFIED_COLORS,
    css_name,
    delta_e2000,
    lab_to_srgb,
    simplified_name,
    srgb_to_lab,
)
from pixlens.analysis.properties import (
    DIHEDRAL,
    HASH_SIZE,
    PropertyAnalyzer,
    _dct_matrix,
    dihedral_variants,
    hamming,
    image_properties,
    phash,
    phash_coefficients,
)
from pixlens.config import load_settings
from pixlens.imageio import DecodedImage, decode

BEAR = "000000000285.jpg"
PHOTOS = sorted(path.name for path in SAMPLES.iterdir() if path.suffix in (".jpg", ".png"))


def solid(color: tuple[int, int, int], size: tuple[int, int] = (200, 120)) -> Image.Image:
    return Image.new("RGB", size, color)


def photo(name: str) -> Image.Image:
    return decode((SAMPLES / name).read_bytes()).image


def colors_of(image: Image.Image, max_colors: int = 5) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = image_properties(image, max_colors)["ImageProperties"]["DominantColors"]
    return result


def quality_of(image: Image.Image) -> dict[str, float]:
    result: dict[str, float] = image_properties(image)["ImageProperties"]["Quality"]
    return result


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def recompressed(image: Image.Image, scale: float, quality: int) -> Image.Image:
    size = (round(image.width * scale), round(image.height * scale))
    buffer = io.BytesIO()
    image.resize(size, Image.Resampling.BILINEAR).save(buffer, "JPEG", quality=quality)
    return decode(buffer.getvalue()).image


# ----------------------------------------------------------------------------------------------------
# Colour science


@pytest.mark.parametrize(
    ("lab1", "lab2", "expected"),
    [  # Sharma, Wu and Dalal (2005), the CIEDE2000 test data
        ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
        ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
        ((50.0, 2.5, 0.0), (50.0, 3.1736, 0.5854), 1.0000),
        ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
        ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
        ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
        ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ],
)
def test_ciede2000_matches_the_reference_data(
    lab1: tuple[float, float, float], lab2: tuple[float, float, float], expected: float
) -> None:
    assert float(delta_e2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)
    assert float(delta_e2000(np.array(lab2), np.array(lab1))) == pytest.approx(expected, abs=1e-4)


def test_lab_round_trip_and_reference_points() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (500, 3)).astype(np.float64)
    assert np.abs(lab_to_srgb(srgb_to_lab(rgb)) - rgb).max() < 1e-6
    assert srgb_to_lab(np.array([255.0, 255.0, 255.0])) == pytest.approx([100.0, 0.0, 0.0], abs=1e-3)
    assert srgb_to_lab(np.array([255.0, 0.0, 0.0])) == pytest.approx([53.24, 80.09, 67.20], abs=0.01)


def test_every_css_colour_names_itself_and_every_reference_has_a_simplified_colour() -> None:
    rgb = np.array([value[:3] for value in CSS_COLORS.values()], dtype=np.float64)
    assert css_name(srgb_to_lab(rgb)) == list(CSS_COLORS)
    assert simplified_name(srgb_to_lab(rgb)) == [value[3] for value in CSS_COLORS.values()]
    assert len(SIMPLIFIED_COLORS) == 12
    used = {value[3] for value in CSS_COLORS.values()} | {value[3] for value in EXTRA_REFERENCES}
    assert used == set(SIMPLIFIED_COLORS)


# ----------------------------------------------------------------------------------------------------
# Dominant colours


@pytest.mark.parametrize(
    ("color", "hex_code", "css", "simplified"),
    [
        ((255, 0, 0), "#FF0000", "red", "red"),
        ((0, 0, 128), "#000080", "navy", "blue"),
        ((65, 105, 225), "#4169E1", "royalblue", "blue"),
        ((34, 139, 34), "#228B22", "forestgreen", "green"),
        ((255, 255, 255), "#FFFFFF", "white", "white"),
        ((0, 0, 0), "#000000", "black", "black"),
        ((128, 128, 128), "#808080", "gray", "gray"),
        ((139, 69, 19), "#8B4513", "saddlebrown", "brown"),
        ((255, 165, 0), "#FFA500", "orange", "orange"),
        ((255, 192, 203), "#FFC0CB", "pink", "pink"),
        ((128, 0, 128), "#800080", "purple", "purple"),
        ((255, 255, 0), "#FFFF00", "yellow", "yellow"),
        ((0, 128, 128), "#008080", "teal", "teal"),
    ],
)
def test_a_solid_colour_is_one_dominant_colour(
    color: tuple[int, int, int], hex_code: str, css: str, simplified: str
) -> None:
    assert colors_of(solid(color)) == [
        {
            "Red": color[0],
            "Green": color[1],
            "Blue": color[2],
            "HexCode": hex_code,
            "CSSColor": css,
            "SimplifiedColor": simplified,
            "PixelPercent": 100.0,
        }
    ]


def test_an_off_palette_colour_gets_the_nearest_names() -> None:
    (color,) = colors_of(solid((90, 60, 40)))  # a dark brown that CSS has no name for
    assert color["HexCode"] == "#5A3C28"
    assert color["SimplifiedColor"] == "brown"
    assert color["CSSColor"] in CSS_COLORS


def test_two_colours_70_30() -> None:
    pixels = np.zeros((120, 200, 3), dtype=np.uint8)
    pixels[:, :140] = (255, 0, 0)
    pixels[:, 140:] = (0, 0, 128)
    colors = colors_of(Image.fromarray(pixels))
    assert [(c["HexCode"], c["CSSColor"], c["SimplifiedColor"]) for c in colors] == [
        ("#FF0000", "red", "red"),
        ("#000080", "navy", "blue"),
    ]
    assert colors[0]["PixelPercent"] == pytest.approx(70.0, abs=1.0)
    assert colors[1]["PixelPercent"] == pytest.approx(30.0, abs=1.0)


def test_two_colours_in_a_large_jpeg_photo_sized_image() -> None:
    """Resampling and JPEG blur the edge between the colours; the blend does not become a colour."""
    pixels = np.zeros((768, 1024, 3), dtype=np.uint8)
    pixels[:, :307] = (255, 255, 255)
    pixels[:, 307:] = (34, 139, 34)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    colors = colors_of(decode(buffer.getvalue()).image)
    assert [c["SimplifiedColor"] for c in colors] == ["green", "white"]
    assert [c["PixelPercent"] for c in colors] == pytest.approx([70.0, 30.0], abs=1.5)


def test_a_gradient_is_several_colours_in_order() -> None:
    ramp = np.tile(np.linspace(0, 255, 256).astype(np.uint8)[None, :, None], (64, 1, 3))
    colors = colors_of(Image.fromarray(ramp))
    assert len(colors) == 5
    assert {c["SimplifiedColor"] for c in colors} <= {"black", "gray", "white"}
    assert {"black", "white"} <= {c["SimplifiedColor"] for c in colors}
    percents = [c["PixelPercent"] for c in colors]
    assert percents == sorted(percents, reverse=True)
    assert sum(percents) == pytest.approx(100.0, abs=0.1)
    assert all(10.0 < p < 35.0 for p in percents)

    hues = np.zeros((64, 300, 3), dtype=np.uint8)  # red -> green -> blue
    x = np.linspace(0.0, 2.0, 300)
    hues[..., 0] = (np.clip(1 - x, 0, 1) * 255).astype(np.uint8)
    hues[..., 1] = (np.clip(1 - abs(x - 1), 0, 1) * 255).astype(np.uint8)
    hues[..., 2] = (np.clip(x - 1, 0, 1) * 255).astype(np.uint8)
    names = {c["SimplifiedColor"] for c in colors_of(Image.fromarray(hues))}
    assert {"red", "green", "blue"} <= names


def test_the_bear_photo_is_brown_and_green() -> None:
    colors = colors_of(photo(BEAR))
    assert len(colors) == 5
    names = {c["SimplifiedColor"] for c in colors}
    assert {"brown", "green"} <= names
    assert sum(c["PixelPercent"] for c in colors) == pytest.approx(100.0, abs=0.1)
    for color in colors:
        assert color["HexCode"] == f"#{color['Red']:02X}{color['Green']:02X}{color['Blue']:02X}"
        assert color["CSSColor"] in CSS_COLORS
        assert color["SimplifiedColor"] in SIMPLIFIED_COLORS


@pytest.mark.parametrize("max_colors", [1, 3, 8])
def test_max_colors(max_colors: int) -> None:
    colors = colors_of(photo("coffee.png"), max_colors)
    assert 1 <= len(colors) <= max_colors
    assert sum(c["PixelPercent"] for c in colors) == pytest.approx(100.0, abs=0.1)


def test_deterministic() -> None:
    image = photo("astronaut.png")
    assert image_properties(image) == image_properties(image.copy())


# ----------------------------------------------------------------------------------------------------
# Quality


def test_quality_of_flat_images() -> None:
    gray = quality_of(solid((128, 128, 128)))
    assert gray["Contrast"] == 0.0
    assert gray["Sharpness"] == 0.0
    assert gray["Brightness"] == pytest.approx(53.6, abs=0.1)  # L* of sRGB 128
    assert quality_of(solid((0, 0, 0)))["Brightness"] == 0.0
    assert quality_of(solid((255, 255, 255)))["Brightness"] == 100.0


def test_quality_of_black_and_white() -> None:
    pixels = np.zeros((128, 128, 3), dtype=np.uint8)
    pixels[:, 64:] = 255
    quality = quality_of(Image.fromarray(pixels))
    assert quality["Contrast"] == 100.0
    assert quality["Brightness"] == pytest.approx(50.0, abs=0.1)


@pytest.mark.parametrize("name", [BEAR, "chelsea.png", "000000000785.jpg"])
def test_blurred_darkened_and_flattened_copies(name: str) -> None:
    image = photo(name)
    original = quality_of(image)
    assert all(0.0 <= value <= 100.0 for value in original.values())
    blurred = quality_of(image.filter(ImageFilter.GaussianBlur(1.5)))
    more_blurred = quality_of(image.filter(ImageFilter.GaussianBlur(4)))
    assert original["Sharpness"] > blurred["Sharpness"] + 10 > more_blurred["Sharpness"] + 10
    assert quality_of(ImageEnhance.Brightness(image).enhance(0.5))["Brightness"] < original["Brightness"] - 10
    assert quality_of(ImageEnhance.Contrast(image).enhance(0.4))["Contrast"] < original["Contrast"] - 10


# ----------------------------------------------------------------------------------------------------
# Perceptual hash


def test_dct_matrix_is_the_orthonormal_dct() -> None:
    matrix = _dct_matrix(HASH_SIZE)
    assert matrix @ matrix.T == pytest.approx(np.eye(HASH_SIZE), abs=1e-12)
    signal = np.random.default_rng(1).normal(size=HASH_SIZE)
    n = np.arange(HASH_SIZE)
    naive = [np.sum(signal * np.cos(np.pi * (2 * n + 1) * k / (2 * HASH_SIZE))) for k in range(HASH_SIZE)]
    scale = np.full(HASH_SIZE, np.sqrt(2.0 / HASH_SIZE))
    scale[0] = np.sqrt(1.0 / HASH_SIZE)
    assert matrix @ signal == pytest.approx(np.array(naive) * scale, abs=1e-9)


def test_hamming() -> None:
    assert hamming("0" * 16, "0" * 16) == 0
    assert hamming("0" * 16, "f" * 16) == 64
    assert hamming("8000000000000001", "0000000000000000") == 2
    with pytest.raises(ValueError, match="different lengths"):
        hamming("00", "000")


def test_phash_format() -> None:
    image = photo(BEAR)
    value = phash(image)
    assert len(value) == 16
    signs = (phash_coefficients(image) > 0).ravel()  # c[u][v]: u down the rows, v across
    assert int(value, 16) == int("0" + "".join("1" if bit else "0" for bit in signs[1:]), 2)  # DC bit 0
    assert 20 <= int(value, 16).bit_count() <= 44
    assert phash(solid((128, 128, 128))) == "0" * 16  # flat: no coefficient above the margin


def test_phash_coefficients_follow_the_rows_and_columns() -> None:
    """A left-right mirror negates the odd column frequencies v, a top-bottom mirror the odd row frequencies u."""
    image = photo(BEAR)
    block = phash_coefficients(image)
    parity = np.arange(8) % 2
    columns = np.where(parity[None, :] == 1, -1.0, 1.0)
    rows = np.where(parity[:, None] == 1, -1.0, 1.0)
    assert phash_coefficients(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == pytest.approx(block * columns)
    assert phash_coefficients(image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)) == pytest.approx(block * rows)
    assert phash_coefficients(image.transpose(Image.Transpose.TRANSPOSE)) == pytest.approx(block.T)
    assert np.abs(block * (1 - columns)).max() > 10  # the photo is not symmetric: the test could fail


def test_phash_matches_resized_recompressed_copies_and_separates_different_photos() -> None:
    hashes = {name: phash(photo(name)) for name in PHOTOS}
    near = [
        hamming(hashes[name], phash(recompressed(photo(name), scale, quality)))
        for name in PHOTOS
        for scale, quality in ((0.5, 75), (0.3, 50))
    ]
    pairs = list(itertools.combinations(PHOTOS, 2))
    far = [hamming(hashes[a], hashes[b]) for a, b in pairs]
    far_any_way = [min(hamming(v, hashes[b]) for v in dihedral_variants(hashes[a])) for a, b in pairs]
    assert max(near) <= 4
    assert min(far) >= 16
    assert min(far_any_way) >= 12
    # Measured on the 30 samples: near copies 0-1 bits, different photos 22-42 (mean 31), 16-33 (mean 26)
    # at the best of the 8 rotations and mirrors.


@pytest.mark.parametrize("name", [BEAR, "chelsea.png", "000000000785.jpg", "rocket.jpg"])
def test_dihedral_variants_are_the_hashes_of_the_rotations_and_mirrors(name: str) -> None:
    image = photo(name)
    variants = dihedral_variants(phash(image))
    assert variants[0] == phash(image)
    assert variants == [phash(image if t is None else image.transpose(t)) for t in DIHEDRAL]
    assert len(set(variants)) == 8
    for t, variant in zip(DIHEDRAL, variants, strict=True):  # the analyser's own hash, through PNG bytes
        copy = decode(png_bytes(image if t is None else image.transpose(t))).image
        assert image_properties(copy)["PerceptualHash"] == variant
        assert sorted(dihedral_variants(variant)) == sorted(variants)  # a group: the variants of a variant


def test_rotated_and_mirrored_copies_match_a_variant() -> None:
    """Recompressed rotated and mirrored copies are a few bits from the right variant, far from the others."""
    for name in PHOTOS:
        image = photo(name)
        variants = dihedral_variants(phash(image))
        for k in range(1, 8):
            transform = DIHEDRAL[k]
            assert transform is not None
            copy = phash(recompressed(image.transpose(transform), 0.5, 75))
            assert hamming(variants[k], copy) <= 3, (name, transform)
            assert min(hamming(v, copy) for j, v in enumerate(variants) if j != k) > 8, (
                name,
                transform,
            )  # measured: >= 14
    with pytest.raises(ValueError, match="64-bit"):
        dihedral_variants("abc")


# ----------------------------------------------------------------------------------------------------
# The analyser


def test_analyser_through_the_registry(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, properties={"max_colors": 3})
    (analyzer,) = create_analyzers(settings, ["properties"])
    assert isinstance(analyzer, PropertyAnalyzer)
    assert analyzer.name == "properties"
    assert analyzer.fields == ("ImageProperties", "PerceptualHash")
    assert analyzer.version
    images = [decode((SAMPLES / name).read_bytes()) for name in (BEAR, "chelsea.png")]
    images.append(DecodedImage(image=solid((0, 0, 128)), width=200, height=120, content_type="image/png"))
    results = analyzer.analyze([analyzer.prepare(image) for image in images])
    assert len(results) == 3
    for result, image in zip(results, images, strict=True):
        assert set(result) == {"ImageProperties", "PerceptualHash"}
        assert set(result["ImageProperties"]) == {"Quality", "DominantColors"}
        assert set(result["ImageProperties"]["Quality"]) == {"Brightness", "Sharpness", "Contrast"}
        assert 1 <= len(result["ImageProperties"]["DominantColors"]) <= 3
        assert result == image_properties(image.image, 3)
    assert results[2]["ImageProperties"]["DominantColors"][0]["CSSColor"] == "navy"
