"""Confidence calibration: raw model scores -> 0-100 confidences that mean what they say.

Platt scaling: ``confidence = 100 * sigmoid(a * logit(score) + b)``, fitted per model by
``scripts/calibrate.py`` on the sample photos (image-level labels judged against ``samples/labels.csv``). A label
at confidence 55 is then right about 55% of the time at the margin, which is why Rekognition's default
MinConfidence of 55 gives high overall precision.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

DATA_FILE = Path(__file__).parent / "data" / "calibration.json"
EPSILON = 1e-6


@dataclass(frozen=True)
class Calibration:
    a: float
    b: float

    def confidence(self, scores: Any) -> Any:
        """0-100 confidences for raw scores in (0, 1) (a float or an array)."""
        clipped = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1 - EPSILON)
        logits = np.log(clipped / (1 - clipped))
        result = 100.0 / (1.0 + np.exp(-(self.a * logits + self.b)))
        return float(result) if np.ndim(result) == 0 else result


def fit(scores: list[float], correct: list[bool], iterations: int = 100) -> Calibration:
    """Maximum-likelihood Platt scaling (Newton's method, with a tiny ridge so that it always converges)."""
    clipped = np.clip(np.asarray(scores, dtype=np.float64), EPSILON, 1 - EPSILON)
    x = np.log(clipped / (1 - clipped))
    y = np.asarray(correct, dtype=np.float64)
    params = np.array([1.0, 0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(params[0] * x + params[1])))
        gradient = np.array([((p - y) * x).sum(), (p - y).sum()]) + 1e-3 * params
        w = p * (1 - p)
        hessian = np.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]]) + 1e-3 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        params = params - step
        if np.abs(step).max() < 1e-9:
            break
    return Calibration(float(params[0]), float(params[1]))


@cache
def load_calibrations() -> dict[str, Calibration]:
    data = json.loads(DATA_FILE.read_text())
    return {name: Calibration(entry["a"], entry["b"]) for name, entry in data["models"].items()}


@cache
def calibration_digest() -> str:
    return hashlib.sha256(DATA_FILE.read_bytes()).hexdigest()[:8]
