"""The int8 classifiers against their float sources, side by side in one run.

    .venv/bin/python benchmarks/bench_quantized.py [--rounds 10]

Two measurements, each interleaved per round (float then int8, the order swapped every other round) so that the
load of a shared machine falls on both alike:

- the classifier alone: ms/image on the sample photos in batches of 8 (the pipeline's batch size);
- the label analyser (``predict``: classifier + detector, default and fast modes): ms/image, batches of 8.

Printed per configuration: the median ms/image over the rounds and its spread (min-max), and the float/int8 ratio
per round (median, min-max). The detector is float in both (scripts/quantize_models.py says why). The load
average is printed before and after: on a busy machine the ratios are the figure to read, not the times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.analysis.classifier import Classifier
from pixlens.analysis.labels import LabelAnalyzer
from pixlens.analysis.runtime import model_path
from pixlens.config import load_settings
from pixlens.imageio import DecodedImage, decode

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
BATCH = 8
VARIANTS = ("efficientnet_lite2", "efficientnet_lite0")


def float_classifier(variant: str, threads: int) -> Classifier:
    """The classifier on its float source file (what pixlens ran before the int8 files)."""
    classifier = Classifier(variant, threads, lazy=True)
    classifier.path = model_path(f"{variant}_embed.onnx")
    return classifier


def batches(items: Sequence[Any]) -> list[Sequence[Any]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def interleaved(runs: dict[str, Callable[[], None]], count: int, rounds: int) -> dict[str, list[float]]:
    """ms per item of each run, per round; the runs alternate within a round, in reverse every other round."""
    for run in runs.values():
        run()  # warm-up: sessions loaded, first-run allocations done
    times: dict[str, list[float]] = {name: [] for name in runs}
    for index in range(rounds):
        order = list(runs) if index % 2 == 0 else list(reversed(runs))
        for name in order:
            start = time.perf_counter()
            runs[name]()
            times[name].append(1000 * (time.perf_counter() - start) / count)
    return times


def report(title: str, times: dict[str, list[float]]) -> None:
    (float_name, float_times), (int8_name, int8_times) = times.items()
    ratios = [f / q for f, q in zip(float_times, int8_times, strict=True)]
    print(f"  {title}")
    for name, values in times.items():
        print(
            f"    {name:6s} {statistics.median(values):7.1f} ms/image  (min {min(values):.1f}, max {max(values):.1f})"
        )
    print(
        f"    {float_name}/{int8_name} {statistics.median(ratios):.2f}x per round (min {min(ratios):.2f}x,"
        f" max {max(ratios):.2f}x)"
    )


def infer_all(classifier: Classifier, inputs: list[np.ndarray[Any, np.dtype[np.float32]]]) -> Callable[[], None]:
    def run() -> None:
        for batch in inputs:
            classifier.infer(batch)

    return run


def classifier_alone(variant: str, images: list[DecodedImage], threads: int, rounds: int) -> None:
    runs: dict[str, Callable[[], None]] = {}
    for name, classifier in (
        ("float", float_classifier(variant, threads)),
        ("int8", Classifier(variant, threads, lazy=True)),
    ):
        inputs = [np.stack([classifier.preprocess(image.image) for image in batch]) for batch in batches(images)]
        runs[name] = infer_all(classifier, inputs)
    report(f"{variant} alone", interleaved(runs, len(images), rounds))


def label_analyser(variant: str, images: list[DecodedImage], rounds: int) -> None:
    settings = load_settings(Path(tempfile.mkdtemp(prefix="pixlens-bench-")), labels={"classifier": variant})
    analyzer = LabelAnalyzer(settings)
    prepared = [analyzer.prepare(image) for image in images]
    int8 = analyzer.classifier
    floating = float_classifier(variant, settings.model_threads or settings.cpu_count())

    def with_classifier(classifier: Classifier) -> Callable[[], None]:
        def run() -> None:
            analyzer.classifier = classifier
            for batch in batches(prepared):
                analyzer.predict(batch)

        return run

    times = interleaved({"float": with_classifier(floating), "int8": with_classifier(int8)}, len(images), rounds)
    analyzer.classifier = int8
    report(f"label analyser, {variant} (predict: classifier + detector)", times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    images = [decode(path.read_bytes()) for path in sorted(SAMPLES.iterdir()) if path.suffix in (".jpg", ".png")]
    settings = load_settings(Path(tempfile.mkdtemp(prefix="pixlens-bench-")))
    threads = settings.model_threads or settings.cpu_count()
    print(
        f"{len(images)} sample photos, batches of {BATCH}, {threads} model threads, {args.rounds} interleaved rounds;"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    for variant in VARIANTS:
        classifier_alone(variant, images, threads, args.rounds)
    for variant in VARIANTS:
        label_analyser(variant, images, args.rounds)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
