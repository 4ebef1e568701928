"""Full analysis with and without the cascade, side by side in one run: images/second and time per analyser.

    .venv/bin/python benchmarks/cascade.py [--rounds 3] [--json]

Images: the 30 sample photos and the 17 test images with known text (``tests/textimages.py``), as PNG files in a
folder. For each mode (``cascade = true``, the default, and ``false``: every step of every analyser on every
image), ``Pixlens.ingest`` runs every analyser into a fresh catalog, ``--rounds`` times (interleaved); the
median round counts and each round's speed-up is printed beside it. Then the two catalogs are compared: which
images got other text lines or another number of faces.

The cascade's steps: the full text detector and OCR recognition only where cheap signals (the detector on a
480-px copy, word-like strokes) find candidate regions, and the full detector only inside them; the face search
only where the labels hold a person, and only around the people the labels' detector boxed; face description
only for faces found (and R-Net only on confident P-Net cells). In both modes the image embedding is the one the
label analyser's classifier run computed (shared, not a cascade step: the same vector either way). Per-analyser
times are measured alone, one analyser at a time on the decoded images (so the embedding runs its model there).

Both modes run with the default schedule (``parallel_analyzers = 2``: analysers that read no other's results run
side by side, one model thread each on 2 cores). For reference, both are also measured one analyser at a time
(``parallel_analyzers = 1``, every model on all the cores: the schedule before session 4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pixlens.analysis.base import create_analyzers  # noqa: E402
from pixlens.config import KNOWN_ANALYZERS, load_settings  # noqa: E402
from pixlens.imageio import decode  # noqa: E402
from pixlens.service import Pixlens  # noqa: E402
from textimages import cases  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "cascade-images"
BATCH = 8
TARGET = 2.0


def image_folder() -> Path:
    """The sample photos and the rendered text images, made once."""
    if not OUT.is_dir() or not any(OUT.iterdir()):
        OUT.mkdir(parents=True, exist_ok=True)
        for sample in sorted((ROOT / "samples").iterdir()):
            if sample.suffix in (".jpg", ".png"):
                (OUT / sample.name).write_bytes(sample.read_bytes())
        for number, case in enumerate(cases()):
            case.image.save(OUT / f"text-{number:02d}.png")
    return OUT


def run(folder: Path, cascade: bool, parallel: int = 2) -> tuple[float, Pixlens]:
    home = Path(tempfile.mkdtemp(prefix="pixlens-cascade-"))
    lens = Pixlens(load_settings(home, store=str(folder), cascade=cascade, parallel_analyzers=parallel))
    lens.pipeline  # noqa: B018 - load the models before the clock starts
    started = time.perf_counter()
    report = lens.ingest([folder])
    seconds = time.perf_counter() - started
    failed = [r for r in report.results if r.outcome.value != "analyzed"]
    if failed:
        raise RuntimeError(f"not analysed: {failed[:3]}")
    return seconds, lens


def findings(lens: Pixlens) -> dict[str, tuple[list[str], int]]:
    found = {}
    for state in lens.catalog.states():
        record = lens.catalog.get(state.key)
        assert record is not None
        lines = sorted(str(d["DetectedText"]) for d in record.TextDetections if d["Type"] == "LINE")
        found[state.key] = (lines, len(record.FaceDetails))
    return found


def per_analyzer(folder: Path, cascade: bool) -> dict[str, float]:
    """ms per image of each analyser alone (prepare + analyze in batches), on the decoded images."""
    settings = load_settings(Path(tempfile.mkdtemp()), cascade=cascade)
    images = [decode(path.read_bytes()) for path in sorted(folder.iterdir())]
    times = {}
    for analyzer in create_analyzers(settings, KNOWN_ANALYZERS):
        analyzer.analyze([analyzer.prepare(images[0])])  # warm up
        started = time.perf_counter()
        for start in range(0, len(images), BATCH):
            analyzer.analyze([analyzer.prepare(image) for image in images[start : start + BATCH]])
        times[analyzer.name] = 1000 * (time.perf_counter() - started) / len(images)
    return times


def measure(rounds: int = 3) -> dict[str, Any]:
    """Every configuration once per round (interleaved, so that a slower spell of a shared machine hits them all);
    the median round counts (the speed-up: the median of each round's own), and every round's is kept."""
    folder = image_folder()
    count = sum(1 for _ in folder.iterdir())
    times: dict[tuple[bool, int], list[float]] = {}
    lenses: dict[bool, Pixlens] = {}
    for _ in range(rounds):
        for parallel in (2, 1):
            for cascade in (True, False):
                seconds, lens = run(folder, cascade, parallel)
                if parallel == 2:
                    lenses[cascade] = lens  # the last round's catalog, for the comparison of what was found
                times.setdefault((cascade, parallel), []).append(seconds)
    on, off = findings(lenses[True]), findings(lenses[False])

    def summary(parallel: int) -> dict[str, Any]:
        cascade, everything = times[True, parallel], times[False, parallel]
        per_round = [off / on for on, off in zip(cascade, everything, strict=True)]
        return {
            "images_per_second": {
                "cascade": count / statistics.median(cascade),
                "everything": count / statistics.median(everything),
            },
            "images_per_second_per_round": {
                "cascade": [count / seconds for seconds in cascade],
                "everything": [count / seconds for seconds in everything],
            },
            "speedup": statistics.median(per_round),
            "speedup_per_round": per_round,
        }

    return {
        "images": count,
        **summary(2),
        "one_at_a_time": summary(1),
        "differences": {key: {"cascade": on[key], "everything": off.get(key)} for key in on if on[key] != off.get(key)},
        "ms_per_image_alone": {"cascade": per_analyzer(folder, True), "everything": per_analyzer(folder, False)},
    }


def report(results: dict[str, Any]) -> None:
    count, rates = results["images"], results["images_per_second"]
    print(f"Full analysis (every analyser), {count} images: 30 sample photos + 17 rendered text images")
    print(f"  cascade on          {rates['cascade']:6.2f} img/s  ({1000 / rates['cascade']:6.0f} ms/image)")
    print(f"  every step, always  {rates['everything']:6.2f} img/s  ({1000 / rates['everything']:6.0f} ms/image)")
    verdict = "PASS" if results["speedup"] >= TARGET else "MISS"
    print(f"  speed-up (median)   {results['speedup']:6.2f}x   (target >= {TARGET}x: {verdict})")
    print(f"  per round           {', '.join(f'{r:.2f}x' for r in results['speedup_per_round'])}")
    sequential = results["one_at_a_time"]
    rates_1 = sequential["images_per_second"]
    print("  one analyser at a time (parallel_analyzers = 1), for reference:")
    print(f"  cascade on          {rates_1['cascade']:6.2f} img/s  ({1000 / rates_1['cascade']:6.0f} ms/image)")
    print(f"  every step, always  {rates_1['everything']:6.2f} img/s  ({1000 / rates_1['everything']:6.0f} ms/image)")
    print(f"  speed-up (median)   {sequential['speedup']:6.2f}x")
    print(f"  per round           {', '.join(f'{r:.2f}x' for r in sequential['speedup_per_round'])}")
    differences = results["differences"]
    print(f"  images whose text or faces differ: {len(differences)} of {count}")
    for key, found in differences.items():
        print(f"    {key}: cascade {found['cascade']}, every step {found['everything']}")
    alone = results["ms_per_image_alone"]
    print("\n  each analyser alone (model threads as in the pipeline), ms per image (cascade on / off):")
    for name in alone["cascade"]:
        print(f"    {name:12s} {alone['cascade'][name]:8.1f} {alone['everything'][name]:8.1f}")
    print("  (alone, the face and embedding analysers cannot see the labels: their person gate and shared")
    print("   classifier run work only in the pipeline)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.rounds)
    print(json.dumps(results, indent=1)) if args.json else report(results)


if __name__ == "__main__":
    main()
