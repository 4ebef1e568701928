"""Ten thousand 640-pixel photos through the real pipeline, labels only: images per second and total minutes.

    .venv/bin/python benchmarks/tenk.py [--count 10000] [--json]      (or ./dev bench --only tenk)

The photos are made once from the samples and cached in benchmarks/out/: each one a random crop (45-100% of the
area), maybe mirrored, with its colour, brightness, contrast and channel balance shifted, scaled to 640 pixels
on its longer side, saved as a JPEG (quality 90); no two files are the same. Then ``Pixlens.ingest`` analyses
the folder in place (it is the store) into a fresh catalog with the label analyser, 2 decode threads, the
default settings, the models loaded before the clock starts. Target: 10,000 photos in under 10 minutes.
Not part of the default ``./dev bench``: it keeps both cores busy for about 10 minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageEnhance

from pixlens.config import load_settings
from pixlens.pipeline import Outcome
from pixlens.service import Pixlens

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "samples"
OUT = HERE / "out"
VERSION = "1"  # bump when the way the photos are made changes
COUNT = 10_000
SIDE = 640
WORKERS = 2
TARGET_MINUTES = 10.0
SEED = 20261201


def variant(source: Image.Image, rng: random.Random) -> Image.Image:
    """A random crop of ``source``, maybe mirrored, colours shifted, scaled to SIDE pixels on its longer side."""
    area = rng.uniform(0.45, 1.0)
    aspect = rng.uniform(0.75, 1.33)
    width = min(source.width, round(source.width * (area * aspect) ** 0.5))
    height = min(source.height, round(source.height * (area / aspect) ** 0.5))
    left, top = rng.randint(0, source.width - width), rng.randint(0, source.height - height)
    image = source.crop((left, top, left + width, top + height))
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    for enhancer in (ImageEnhance.Color, ImageEnhance.Brightness, ImageEnhance.Contrast):
        image = enhancer(image).enhance(rng.uniform(0.75, 1.25))
    gains = [rng.uniform(0.9, 1.1) for _ in range(3)]
    image = image.point([min(255, round(value * gain)) for gain in gains for value in range(256)])
    scale = SIDE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)


def photo_set(count: int = COUNT) -> Path:
    """``count`` distinct photos, made on first use (in folders of 1,000) and cached under benchmarks/out/; the
    first photos of a larger set are those of a smaller one."""
    folder = OUT / f"tenk-v{VERSION}-{count}"
    if (folder / ".complete").is_file():
        return folder
    sources = []
    for path in sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        with Image.open(path) as im:
            sources.append(im.convert("RGB"))
    rng = random.Random(SEED)
    seen: set[str] = set()
    started = time.perf_counter()
    index = 0
    while index < count:
        image = variant(sources[index % len(sources)], rng)
        target = folder / f"{index // 1000:03d}" / f"{index:05d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "JPEG", quality=90)
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        if digest in seen:
            continue  # the same file twice: draw this one again
        seen.add(digest)
        index += 1
    (folder / ".complete").touch()
    print(f"  (made {count:,} photos in {folder.name} in {time.perf_counter() - started:.0f} s)")
    return folder


def run(count: int = COUNT) -> dict[str, Any]:
    """The first ``count`` photos of the 10,000 (a shorter run for a try)."""
    folder = photo_set(max(count, COUNT))
    files = sorted(folder.glob("*/*.jpg"))[:count]
    home = Path(tempfile.mkdtemp(prefix="pixlens-tenk-"))
    lens = Pixlens(load_settings(home, store=str(folder), workers=WORKERS, analyzers=["labels"]))
    lens.pipeline  # noqa: B018 - load the models before the clock starts
    started = time.perf_counter()
    report = lens.ingest(files)
    seconds = time.perf_counter() - started
    lens.close()
    analysed = sum(1 for result in report.results if result.outcome is Outcome.ANALYZED)
    if analysed != count:
        raise RuntimeError(f"analysed {analysed} of {count} photos")
    minutes = seconds / 60
    return {
        "images": count,
        "side": SIDE,
        "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "seconds": round(seconds, 1),
        "minutes": round(minutes, 2),
        "images_per_second": round(count / seconds, 2),
        "target_minutes": TARGET_MINUTES * count / COUNT,
        "verdict": "PASS" if minutes * COUNT / count < TARGET_MINUTES else "MISS",
    }


def report(results: dict[str, Any]) -> None:
    print(
        f"{results['images']:,} distinct {results['side']}-px photos ({results['mb']:,} MB), labels only,"
        f" Pixlens.ingest with {WORKERS} decode threads:"
    )
    print(
        f"  {results['images_per_second']:.2f} img/s, {results['minutes']:.1f} minutes"
        f"  (target < {results['target_minutes']:g} minutes: {results['verdict']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=COUNT, help="the first COUNT photos (the target scales)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args.count)
    print(json.dumps(results, indent=1)) if args.json else report(results)


if __name__ == "__main__":
    main()
