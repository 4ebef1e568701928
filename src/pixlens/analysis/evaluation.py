"""Image-level label quality against a labelled set (``samples/labels.csv``: file, labels separated by ``;``).

Scored over (image, label) pairs of the detector's 80 COCO classes, mapped onto pixlens labels through the
taxonomy; a prediction counts when the label or one of its parents is in the record. Other labels are not scored
(the ground truth does not list them).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.record import Label


@dataclass(frozen=True)
class Score:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        total = self.predicted + self.actual
        return 2 * self.true_positives / total if total else 1.0


def coco_labels(taxonomy: Taxonomy) -> dict[str, str]:
    """COCO class name (as in labels.csv) -> pixlens label name."""
    from pixlens.analysis.runtime import model_dir

    names = (model_dir() / "coco80_classes.txt").read_text().split("\n")
    return {name.strip(): taxonomy.coco_label(i) for i, name in enumerate(n for n in names if n.strip())}


def ground_truth(labels_csv: Path, taxonomy: Taxonomy) -> dict[str, set[str]]:
    """File name -> the pixlens labels of its COCO-class ground truth."""
    mapping = coco_labels(taxonomy)
    truth: dict[str, set[str]] = {}
    with labels_csv.open(newline="") as handle:
        for row in csv.DictReader(handle):
            words = [w.strip() for w in row["labels"].split(";") if w.strip()]
            truth[row["file"]] = {mapping[w] for w in words if w in mapping}
    return truth


def predicted(labels: Iterable[Label], scored: set[str]) -> set[str]:
    """The scored labels that a record claims, directly or as a parent of one of its labels."""
    claimed = set()
    for label in labels:
        claimed.add(label.Name)
        claimed.update(parent.Name for parent in label.Parents)
    return claimed & scored


def score(predictions: Mapping[str, set[str]], truth: Mapping[str, set[str]]) -> Score:
    tp = sum(len(predictions.get(name, set()) & wanted) for name, wanted in truth.items())
    return Score(
        true_positives=tp,
        predicted=sum(len(predictions.get(name, set())) for name in truth),
        actual=sum(len(wanted) for wanted in truth.values()),
    )
