"""Image-level label precision and recall on the sample photos, for each label mode, side by side.

    .venv/bin/python benchmarks/label_quality.py [--samples samples] [--json]

Scored over (image, label) pairs of the detector's 80 COCO classes, mapped onto pixlens labels through the
taxonomy (pixlens.analysis.evaluation); other labels are not scored. The default settings (MinConfidence 55,
MaxLabels 10) are the headline; a sweep of MinConfidence shows the trade-off.

The shipped calibration is fitted on these same photos and anchored so that MinConfidence 55 gives precision
0.85 on them (scripts/calibrate.py): on the samples that figure holds by construction. So the labels are also
measured on photos the calibration did not see: k-fold cross-validation (the calibration fitted on the other
folds with scripts/calibrate.py's own code, the labels scored on the held-out fold), repeated over several
shuffles of the photos; the figures are the mean and the range over the folds, and the folds pooled.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))

from calibrate import Pairs, fit_variant
from pixlens.analysis.evaluation import coco_labels, ground_truth, predicted, score
from pixlens.analysis.labels import LabelAnalyzer, RawScores
from pixlens.config import load_settings
from pixlens.imageio import decode
from pixlens.record import Label

MODES: dict[str, dict[str, Any]] = {
    "default (lite2, single pass)": {"classifier": "efficientnet_lite2"},
    "accurate (lite2, 6 detector views)": {"classifier": "efficientnet_lite2", "accurate": True},
    "fast (lite0, single pass)": {"classifier": "efficientnet_lite0"},
}
SWEEP = (40, 45, 50, 55, 60, 65, 70, 80)
DEFAULT_THRESHOLD, DEFAULT_MAX_LABELS = 55, 10
FOLDS = 5
REPEATS = 4  # shuffles of the photos into folds
SEED = 20261201
Figures = dict[str, float]


def scored_at(every: dict[str, list[Label]], truth: dict[str, set[str]], scored: set[str], threshold: float) -> Figures:
    predictions = {
        name: predicted([label for label in labels if label.Confidence >= threshold][:DEFAULT_MAX_LABELS], scored)
        for name, labels in every.items()
    }
    result = score(predictions, {name: truth[name] for name in every})
    return {"precision": round(result.precision, 3), "recall": round(result.recall, 3), "f1": round(result.f1, 3)}


def held_out_labels(
    analyzer: LabelAnalyzer, raws: dict[str, RawScores], truth: dict[str, set[str]], held_out: list[str]
) -> dict[str, list[Label]]:
    """Every label of the held-out photos, with the calibrations fitted on the other photos only."""
    pairs = Pairs()
    for name, raw in raws.items():
        if name not in held_out:
            pairs.add(raw, truth[name], analyzer.taxonomy)
    settings = analyzer.settings
    fitted = fit_variant(pairs, settings.classifier)
    shipped = analyzer.label_calibration, analyzer.classifier_calibration, analyzer.box_calibration
    analyzer.label_calibration = fitted[f"labels/{settings.classifier}" + ("/accurate" if settings.accurate else "")]
    analyzer.classifier_calibration = fitted[f"classifier/{settings.classifier}"]
    analyzer.box_calibration = fitted["box/centernet"]
    try:
        return {name: analyzer.labels(raws[name]) for name in held_out}
    finally:
        analyzer.label_calibration, analyzer.classifier_calibration, analyzer.box_calibration = shipped


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def cross_validate(
    analyzer: LabelAnalyzer, raws: dict[str, RawScores], truth: dict[str, set[str]], scored: set[str]
) -> dict[str, Any]:
    folds: list[Figures] = []
    pooled: list[dict[float, Figures]] = []
    for repeat in range(REPEATS):
        names = sorted(raws)
        random.Random(SEED + repeat).shuffle(names)
        every: dict[str, list[Label]] = {}
        for fold in range(FOLDS):
            held_out = names[fold::FOLDS]
            labels = held_out_labels(analyzer, raws, truth, held_out)
            folds.append(scored_at(labels, truth, scored, DEFAULT_THRESHOLD))
            every.update(labels)
        pooled.append({threshold: scored_at(every, truth, scored, threshold) for threshold in SWEEP})
    return {
        "folds": FOLDS,
        "repeats": REPEATS,
        "default": {metric: spread([fold[metric] for fold in folds]) for metric in ("precision", "recall", "f1")},
        "pooled_sweep": {
            threshold: {
                metric: round(statistics.fmean(p[threshold][metric] for p in pooled), 3)
                for metric in ("precision", "recall", "f1")
            }
            for threshold in SWEEP
        },
    }


def evaluate(samples: Path, overrides: dict[str, Any]) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="pixlens-quality-"))
    settings = load_settings(home, labels={**overrides, "min_confidence": 0, "max_labels": 1000})
    analyzer = LabelAnalyzer(settings)
    truth = ground_truth(samples / "labels.csv", analyzer.taxonomy)
    scored = set(coco_labels(analyzer.taxonomy).values())
    raws: dict[str, RawScores] = {}
    started = time.perf_counter()
    for name in sorted(truth):
        raws[name] = analyzer.predict([analyzer.prepare(decode((samples / name).read_bytes()))])[0]
    every = {name: analyzer.labels(raw) for name, raw in raws.items()}
    seconds = time.perf_counter() - started
    return {
        "images": len(truth),
        "ms_per_image": round(1000 * seconds / len(truth), 1),
        "default": scored_at(every, truth, scored, DEFAULT_THRESHOLD),  # in-sample: fitted on these photos
        "sweep": {threshold: scored_at(every, truth, scored, threshold) for threshold in SWEEP},
        "held_out": cross_validate(analyzer, raws, truth, scored),
    }


def run(samples: Path, modes: dict[str, dict[str, Any]] = MODES) -> dict[str, Any]:
    return {mode: evaluate(samples, overrides) for mode, overrides in modes.items()}


def report(results: dict[str, Any]) -> None:
    any_mode = next(iter(results.values()))
    cv = any_mode["held_out"]
    print(
        f"Label quality on {any_mode['images']} sample photos (COCO classes), MinConfidence {DEFAULT_THRESHOLD},"
        f" MaxLabels {DEFAULT_MAX_LABELS}:"
    )
    print(
        f"  held out: {cv['folds']}-fold cross-validation x {cv['repeats']} shuffles, calibration fitted on the"
        " other folds; mean (min-max over the folds)"
    )
    for mode, result in results.items():
        d = result["held_out"]["default"]
        cells = "  ".join(
            f"{m} {d[m]['mean']:.3f} ({d[m]['min']:.2f}-{d[m]['max']:.2f})" for m in ("precision", "recall")
        )
        print(f"    {mode:38s} {cells}  ({result['ms_per_image']} ms/image)")
    print("  in-sample (the shipped calibration, fitted on these photos: precision 0.85 by construction):")
    for mode, result in results.items():
        d = result["default"]
        print(f"    {mode:38s} precision {d['precision']:.3f}  recall {d['recall']:.3f}  F1 {d['f1']:.3f}")
    print("  MinConfidence sweep, held out (folds pooled), precision / recall:")
    print("    " + " " * 38 + "".join(f"{t:>13}" for t in SWEEP))
    for mode, result in results.items():
        sweep = result["held_out"]["pooled_sweep"]
        print(f"    {mode:38s}" + "".join(f"  {sweep[t]['precision']:.2f} / {sweep[t]['recall']:.2f}" for t in SWEEP))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args.samples)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
