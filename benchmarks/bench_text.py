"""The text analyser: time with and without the cascade, and how often the restored spaces are right.

    python benchmarks/bench_text.py [--rounds N]

Timing: ms/image (prepare + analyze, one image per batch, after a warm-up) on the sample photos and on the
rendered text images of tests/textimages.py, with ``cascade`` on and off, measured side by side in one run.
Spaces: on the rendered images, for each line read with the right characters, the word gaps of the truth
found (recall) and the spaces put where the truth has none (false), for the recogniser's raw text and after
each restoration step.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pixlens.analysis.spaces import _geometric_spaces, restore_spaces  # noqa: E402
from pixlens.analysis.text import TextAnalyzer  # noqa: E402
from pixlens.config import Settings  # noqa: E402
from pixlens.imageio import DecodedImage, decode  # noqa: E402
from textimages import cases  # noqa: E402

SAMPLES = ROOT / "samples"


def sample_images() -> list[DecodedImage]:
    files = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".jpg", ".png"))
    return [decode(p.read_bytes()) for p in files]


def rendered_images() -> list[DecodedImage]:
    images = []
    for case in cases():  # through the real decoder, as the pipeline sees them (longer side <= 1024)
        buffer = io.BytesIO()
        case.image.save(buffer, format="PNG")
        images.append(decode(buffer.getvalue()))
    return images


def timed(analyzer: TextAnalyzer, images: list[DecodedImage], rounds: int) -> tuple[float, int]:
    """(median over rounds of the mean ms/image, images skipped by the cascade)."""
    analyzer.analyze([analyzer.prepare(images[0])])  # warm-up
    means, skipped = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        skipped = 0
        for image in images:
            result = analyzer.analyze([analyzer.prepare(image)])[0]
            skipped += "Skipped" in result
        means.append((time.perf_counter() - start) * 1000 / len(images))
    return statistics.median(means), skipped


def gaps(text: str) -> tuple[str, set[int]]:
    """(the characters without spaces, upper-cased; the positions in them that a space precedes)."""
    chars: list[str] = []
    spaces: set[int] = set()
    for char in " ".join(text.split()):
        if char == " ":
            spaces.add(len(chars))
        else:
            chars.append(char.upper())
    return "".join(chars), spaces


def space_figures(analyzer: TextAnalyzer) -> dict[str, Any]:
    steps: dict[str, Callable[[str, list[float]], str]] = {
        "raw": lambda text, columns: text,
        "dictionary": lambda text, columns: restore_spaces(text),
        "geometry": lambda text, columns: _geometric_spaces(text, columns),
        "both": restore_spaces,
    }
    counts = {name: [0, 0] for name in steps}  # found, false
    truth_gaps = lines_compared = lines_total = 0
    exact = dict.fromkeys(steps, 0)
    for case in cases():
        bgr = np.ascontiguousarray(np.asarray(case.image)[:, :, ::-1])
        read = analyzer.read([bgr])[0]
        for truth in case.texts:
            lines_total += 1
            want_chars, want = gaps(truth)
            match = [line for line in read if gaps(line.text)[0] == want_chars]
            if not match:
                continue
            line = match[0]
            lines_compared += 1
            truth_gaps += len(want)
            for name, step in steps.items():
                _, got = gaps(step(line.text, line.columns))
                counts[name][0] += len(want & got)
                counts[name][1] += len(got - want)
                exact[name] += got == want
    return {
        "lines": lines_total,
        "compared": lines_compared,
        "gaps": truth_gaps,
        "steps": {
            name: {"found": found, "false": false, "exact_lines": exact[name]}
            for name, (found, false) in counts.items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    on = TextAnalyzer(Settings(cascade=True))
    off = TextAnalyzer(Settings(cascade=False))
    sets = {"sample photos": sample_images(), "rendered text": rendered_images()}
    print(f"Text analyser, ms/image (median of {args.rounds} rounds), one image per batch:")
    for label, images in sets.items():
        on_ms, skipped = timed(on, images, args.rounds)
        off_ms, _ = timed(off, images, args.rounds)
        print(
            f"  {label:14s} ({len(images):2d} images)  cascade on {on_ms:7.1f}  off {off_ms:7.1f}"
            f"  off/on {off_ms / on_ms:5.2f}x  (skipped by the cascade: {skipped})"
        )
    figures = space_figures(off)
    print(
        f"Spaces on the rendered lines: {figures['compared']} of {figures['lines']} lines read with the right"
        f" characters, {figures['gaps']} word gaps in them:"
    )
    for name, step in figures["steps"].items():
        print(
            f"  {name:10s} gaps found {step['found']:3d}/{figures['gaps']}  false spaces {step['false']:2d}"
            f"  lines exactly right {step['exact_lines']}/{figures['compared']}"
        )
    # Words the dictionary must leave alone.
    keep = ["Strassenbahn", "Haltestelle", "understanding", "therapist", "MP3", "COVID19", "iPhone", "nowhere"]
    changed = [word for word in keep if restore_spaces(word) != word]
    print(f"  single words split by mistake: {len(changed)}/{len(keep)} {changed or ''}")


if __name__ == "__main__":
    main()
