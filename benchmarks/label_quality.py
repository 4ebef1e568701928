"""Image-level label precision and recall on the sample photos, for each label mode, side by side.

    .venv/bin/python benchmarks/label_quality.py [--samples samples] [--json]

Scored over (image, label) pairs of the detector's 80 COCO classes, mapped onto pixlens labels through the
taxonomy (pixlens.analysis.evaluation); other labels are not scored. The default settings (MinConfidence 55,
MaxLabels 10) are the headline; a sweep of MinConfidence shows the trade-off.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pixlens.analysis.evaluation import coco_labels, ground_truth, predicted, score
from pixlens.analysis.labels import LabelAnalyzer
from pixlens.config import load_settings
from pixlens.imageio import decode
from pixlens.record import Label

MODES: dict[str, dict[str, object]] = {
    "default (lite2, single pass)": {"classifier": "efficientnet_lite2"},
    "accurate (lite2, 6 detector views)": {"classifier": "efficientnet_lite2", "accurate": True},
    "fast (lite0, single pass)": {"classifier": "efficientnet_lite0"},
}
SWEEP = (40, 45, 50, 55, 60, 65, 70, 80)


def evaluate(samples: Path, overrides: dict[str, object]) -> dict[str, object]:
    home = Path(tempfile.mkdtemp(prefix="pixlens-quality-"))
    settings = load_settings(home, labels={**overrides, "min_confidence": 0, "max_labels": 1000})
    analyzer = LabelAnalyzer(settings)
    truth = ground_truth(samples / "labels.csv", analyzer.taxonomy)
    scored = set(coco_labels(analyzer.taxonomy).values())
    every: dict[str, list[Label]] = {}
    started = time.perf_counter()
    for name in sorted(truth):
        prepared = analyzer.prepare(decode((samples / name).read_bytes()))
        every[name] = analyzer.labels(analyzer.predict([prepared])[0])
    seconds = time.perf_counter() - started

    def at(threshold: float, max_labels: int) -> dict[str, float]:
        predictions = {
            name: predicted([label for label in labels if label.Confidence >= threshold][:max_labels], scored)
            for name, labels in every.items()
        }
        result = score(predictions, truth)
        return {"precision": round(result.precision, 3), "recall": round(result.recall, 3), "f1": round(result.f1, 3)}

    return {
        "default": at(55, 10),
        "sweep": {threshold: at(threshold, 10) for threshold in SWEEP},
        "ms_per_image": round(1000 * seconds / len(truth), 1),
        "images": len(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = {mode: evaluate(args.samples, overrides) for mode, overrides in MODES.items()}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"Image-level labels on {args.samples} (COCO classes), MinConfidence 55, MaxLabels 10:")
    for mode, result in results.items():
        d = result["default"]
        assert isinstance(d, dict)
        print(
            f"  {mode:38s} precision {d['precision']:.3f}  recall {d['recall']:.3f}  F1 {d['f1']:.3f}"
            f"  ({result['ms_per_image']} ms/image)"
        )
    print("\nMinConfidence sweep (precision / recall):")
    print("  " + " " * 38 + "".join(f"{t:>13}" for t in SWEEP))
    for mode, result in results.items():
        sweep = result["sweep"]
        assert isinstance(sweep, dict)
        cells = "".join(f"  {sweep[t]['precision']:.2f} / {sweep[t]['recall']:.2f}" for t in SWEEP)
        print(f"  {mode:38s}{cells}")


if __name__ == "__main__":
    main()
