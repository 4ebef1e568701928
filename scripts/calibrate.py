"""Fit the confidence calibrations of the label models on the sample photos; write analysis/data/calibration.json.

    .venv/bin/python scripts/calibrate.py [--samples samples] [--precision 0.85]

Every calibration is fitted on image-level (image, COCO label) pairs judged against samples/labels.csv
(see pixlens.analysis.calibration for the model):
- ``labels/<classifier>[/accurate]``: a detector class's label from its best box score (averaged over the full
  image, its mirror and 2x2 tiles in accurate mode), its second box score, and the classifier's probability
  summed over the classes at or below the label (``Dog`` = all the breeds); then anchored so that MinConfidence 55
  is the lowest threshold at which the labels reach ``--precision`` on the samples;
- ``classifier/<classifier>``: the classifier's summed probability alone (Platt), for the classifier's own
  classes. Single classes can only be judged where their lineage reaches a COCO class, a sample biased towards
  right answers, so the family pairs stand in for them;
- ``box/centernet``: one box score alone (Platt), for the confidence of each instance's box.
Nothing but the samples is used, and one global mapping per model (per-class thresholds overfit).
benchmarks/label_quality.py fits the same way (``Pairs``, ``fit_variant``) on part of the samples to measure
the labels on photos the calibration did not see.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from pixlens.analysis.calibration import DATA_FILE, Calibration, anchor, fit
from pixlens.analysis.evaluation import ground_truth
from pixlens.analysis.labels import LabelAnalyzer, RawScores
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.config import load_settings
from pixlens.imageio import decode

MIN_SCORE = 0.01
PRECISION = 0.85


@dataclass
class Pairs:
    """The (image, COCO label) pairs of some images, with the raw scores each calibration is fitted on."""

    single: list[list[float]] = field(default_factory=list)  # best box, second box, classifier family
    accurate: list[list[float]] = field(default_factory=list)  # mean of the views' best boxes, second, family
    correct: list[bool] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)  # one box score
    box_correct: list[bool] = field(default_factory=list)

    def add(self, raw: RawScores, truth: set[str], taxonomy: Taxonomy) -> None:
        """The pairs of one image (``raw`` from an analyser in accurate mode, or single-pass for ``single``)."""
        averaged = raw.class_scores
        for index in range(80):
            label = taxonomy.coco_label(index)
            best = raw.view_scores[0].get(index, 0.0)
            family = raw.family_scores.get(label, 0.0)
            if max(best, averaged.get(index, 0.0), family) < MIN_SCORE:
                continue
            second = raw.second_scores.get(index, 0.0)
            self.single.append([best, second, family])
            self.accurate.append([averaged.get(index, 0.0), second, family])
            self.correct.append(label in truth)
            if best >= MIN_SCORE:
                self.boxes.append([best])
                self.box_correct.append(label in truth)


def fit_variant(pairs: Pairs, variant: str, precision: float = PRECISION) -> dict[str, Calibration]:
    """Every calibration of one classifier variant, named as in calibration.json."""
    families = [[row[2]] for row in pairs.single]
    return {
        f"labels/{variant}": anchor(fit(pairs.single, pairs.correct), pairs.single, pairs.correct, precision),
        f"labels/{variant}/accurate": anchor(
            fit(pairs.accurate, pairs.correct), pairs.accurate, pairs.correct, precision
        ),
        f"classifier/{variant}": fit(families, pairs.correct),
        "box/centernet": fit(pairs.boxes, pairs.box_correct),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--precision", type=float, default=PRECISION, help="precision at MinConfidence 55")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pixlens-calibrate-"))
    fitted: dict[str, Calibration] = {}
    for variant in ("efficientnet_lite2", "efficientnet_lite0"):
        analyzer = LabelAnalyzer(load_settings(home, labels={"classifier": variant, "accurate": True}))
        truth = ground_truth(args.samples / "labels.csv", analyzer.taxonomy)
        pairs = Pairs()
        for name in sorted(truth):
            raw = analyzer.predict([analyzer.prepare(decode((args.samples / name).read_bytes()))])[0]
            pairs.add(raw, truth[name], analyzer.taxonomy)
        for key, calibration in fit_variant(pairs, variant, args.precision).items():
            fitted.setdefault(key, calibration)  # the detector's boxes: the first variant's run
        print(f"{variant}: {len(pairs.correct)} pairs, {sum(pairs.correct)} right")
    for name, calibration in sorted(fitted.items()):
        print(f"  {name:36s} weights {calibration.weights}  bias {calibration.bias:.3f}")
    data = {
        "comment": "written by scripts/calibrate.py: confidence = 100 * sigmoid(sum(w * logit(score)) + bias)",
        "calibrations": {name: calibration.to_json() for name, calibration in sorted(fitted.items())},
    }
    DATA_FILE.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {DATA_FILE}")


if __name__ == "__main__":
    main()
