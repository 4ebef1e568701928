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
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pixlens.analysis.calibration import DATA_FILE, Calibration, anchor, fit
from pixlens.analysis.evaluation import ground_truth
from pixlens.analysis.labels import LabelAnalyzer
from pixlens.config import load_settings
from pixlens.imageio import decode

MIN_SCORE = 0.01


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=Path("samples"))
    parser.add_argument("--precision", type=float, default=0.85, help="precision at MinConfidence 55")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="pixlens-calibrate-"))
    fitted: dict[str, Calibration] = {}
    for variant in ("efficientnet_lite2", "efficientnet_lite0"):
        analyzer = LabelAnalyzer(load_settings(home, labels={"classifier": variant, "accurate": True}))
        taxonomy = analyzer.taxonomy
        truth = ground_truth(args.samples / "labels.csv", taxonomy)
        single: list[list[float]] = []
        accurate: list[list[float]] = []
        boxes: list[list[float]] = []
        correct: list[bool] = []
        box_correct: list[bool] = []
        for name in sorted(truth):
            raw = analyzer.predict([analyzer.prepare(decode((args.samples / name).read_bytes()))])[0]
            averaged = raw.class_scores
            for index in range(80):
                label = taxonomy.coco_label(index)
                best = raw.view_scores[0].get(index, 0.0)
                family = raw.family_scores.get(label, 0.0)
                if max(best, averaged.get(index, 0.0), family) < MIN_SCORE:
                    continue
                second = raw.second_scores.get(index, 0.0)
                single.append([best, second, family])
                accurate.append([averaged.get(index, 0.0), second, family])
                correct.append(label in truth[name])
                if best >= MIN_SCORE:
                    boxes.append([best])
                    box_correct.append(label in truth[name])
        fitted[f"labels/{variant}"] = anchor(fit(single, correct), single, correct, args.precision)
        fitted[f"labels/{variant}/accurate"] = anchor(fit(accurate, correct), accurate, correct, args.precision)
        families = [[row[2]] for row in single]
        fitted[f"classifier/{variant}"] = fit(families, correct)
        fitted.setdefault("box/centernet", fit(boxes, box_correct))
        print(f"{variant}: {len(correct)} pairs, {sum(correct)} right")
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
