"""Confidence calibration: raw model scores -> 0-100 confidences.

A calibration is a logistic model over the logits of one or more raw scores,
``confidence = 100 * sigmoid(sum(w_i * logit(s_i)) + bias)``, fitted by ``scripts/calibrate.py`` on the sample
photos (image-level labels judged against ``samples/labels.csv``). With one score it is Platt scaling; the
detector's labels use three (its best box, its second box of the class, and the classifier's probability summed
over the classes below the label), which beat any one of them.

Fitting is maximum likelihood, with Platt's smoothed targets so that separable data still has a finite answer.
A calibration may then be *anchored*: its bias shifted so that the default MinConfidence (55) falls where the
labels at or above it reach a target precision on the samples: one global calibrated threshold (per-class
thresholds overfit).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_FILE = Path(__file__).parent / "data" / "calibration.json"
FLOOR = 0.01  # raw scores are clipped to [FLOOR, 1 - FLOOR]: "absent" and "very low" are the same evidence
Matrix = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Calibration:
    weights: tuple[float, ...]
    bias: float

    def confidence(self, *scores: float) -> float:
        """The 0-100 confidence for one set of raw scores in [0, 1], in the order of ``weights``."""
        z = float(np.dot(self.weights, _logits(np.asarray(scores, dtype=np.float64)))) + self.bias
        return 100.0 / (1.0 + float(np.exp(-np.clip(z, -500, 500))))

    def to_json(self) -> dict[str, Any]:
        return {"weights": [round(w, 5) for w in self.weights], "bias": round(self.bias, 5)}


def _logits(scores: Matrix) -> Matrix:
    clipped = np.clip(scores, FLOOR, 1 - FLOOR)
    result: Matrix = np.log(clipped / (1 - clipped))
    return result


def fit(features: Sequence[Sequence[float]], correct: Sequence[bool], iterations: int = 200) -> Calibration:
    """Maximum-likelihood logistic fit over the logits of the raw scores (damped Newton)."""
    x = np.column_stack([_logits(np.asarray(features, dtype=np.float64)), np.ones(len(features))])
    labels = np.asarray(correct, dtype=bool)
    positives = float(labels.sum())
    y = np.where(labels, (positives + 1) / (positives + 2), 1 / (len(labels) - positives + 2))

    def loss(params: Matrix) -> float:
        z = x @ params
        return float(np.sum(np.logaddexp(0, z) - y * z))

    params: Matrix = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ params, -500, 500)))
        gradient = x.T @ (p - y)
        hessian = (x.T * (p * (1 - p) + 1e-12)) @ x + 1e-9 * np.eye(len(params))
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-6 and loss(params - scale * step) > loss(params) + 1e-12:
            scale /= 2
        params = params - scale * step
        if np.abs(scale * step).max() < 1e-10:
            break
    return Calibration(tuple(float(w) for w in params[:-1]), float(params[-1]))


def anchor(
    calibration: Calibration,
    features: Sequence[Sequence[float]],
    correct: Sequence[bool],
    precision: float,
    at: float = 55.0,
) -> Calibration:
    """Shift the bias so that confidence ``at`` is the lowest threshold whose labels reach ``precision``."""
    confidences = np.array([calibration.confidence(*row) for row in features])
    order = np.argsort(-confidences)
    hits = np.cumsum(np.asarray(correct, dtype=np.float64)[order])
    cumulative = hits / np.arange(1, len(order) + 1)
    good = np.nonzero(cumulative >= precision)[0]
    if len(good) == 0:
        return calibration
    last = good[-1]
    lower = confidences[order[last + 1]] if last + 1 < len(order) else 0.0
    boundary = (confidences[order[last]] + lower) / 2  # midway to the first label that would break the target

    def logit(c: float) -> float:
        c = min(max(c / 100, 1e-9), 1 - 1e-9)
        return float(np.log(c / (1 - c)))

    return Calibration(calibration.weights, calibration.bias + logit(at) - logit(boundary))


@cache
def load_calibrations() -> dict[str, Calibration]:
    data = json.loads(DATA_FILE.read_text())
    return {name: Calibration(tuple(entry["weights"]), entry["bias"]) for name, entry in data["calibrations"].items()}


@cache
def calibration_digest() -> str:
    return hashlib.sha256(DATA_FILE.read_bytes()).hexdigest()[:8]
