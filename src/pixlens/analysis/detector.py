"""The COCO-80 object detector (MobileNetV3 CenterNet).

Input: RGB 0-255, NHWC, letterboxed at the top-left of a black 512 x 512 canvas; batch size fixed at 1.
Output: 100 detections (x1, y1, x2, y2 in input pixels, score, class). Duplicate boxes occur, hence class-aware NMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.runtime import OnnxModel, model_path

Array = np.ndarray[Any, np.dtype[np.float32]]

INPUT_SIZE = 512
NMS_IOU = 0.5
MIN_SCORE = 0.05  # far below any useful confidence; keeps the NMS input small


@dataclass(frozen=True)
class Detection:
    """One box in ratios of the image (left, top, width, height), a raw score and a COCO class index."""

    left: float
    top: float
    width: float
    height: float
    score: float
    class_index: int


class Detector:
    MODEL = "centernet_fused.onnx"  # MobileNetV3 CenterNet, activations fused (scripts/fuse_hard_swish.py)
    OUTPUT = "tower_0/detections"

    def __init__(self, threads: int) -> None:
        self.model = OnnxModel(model_path(self.MODEL), threads)

    def detect(self, image: Image.Image) -> list[Detection]:
        """Detections on one image, boxes as ratios of that image, after class-aware NMS."""
        canvas, scale = letterbox(image, INPUT_SIZE)
        return self.detect_tensor(canvas, scale, image.size)

    def detect_tensor(self, canvas: Array, scale: float, size: tuple[int, int]) -> list[Detection]:
        """Detections on a letterboxed canvas of an image of ``size`` pixels, scaled by ``scale``."""
        (raw,) = self.model.run(canvas[np.newaxis], [self.OUTPUT])
        rows = raw[0]
        rows = rows[rows[:, 4] >= MIN_SCORE]
        width, height = size
        boxes = rows[:, :4] / scale  # back to image pixels
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width) / width
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height) / height
        keep = nms(boxes, rows[:, 4], rows[:, 5].astype(np.int64), NMS_IOU)
        return [
            Detection(
                left=float(boxes[i, 0]),
                top=float(boxes[i, 1]),
                width=float(boxes[i, 2] - boxes[i, 0]),
                height=float(boxes[i, 3] - boxes[i, 1]),
                score=float(rows[i, 4]),
                class_index=int(rows[i, 5]),
            )
            for i in keep
            if boxes[i, 2] > boxes[i, 0] and boxes[i, 3] > boxes[i, 1]
        ]


def letterbox(image: Image.Image, size: int) -> tuple[Array, float]:
    """The image scaled so its longer side is ``size``, at the top-left of a black square; and the scale."""
    width, height = image.size
    scale = size / max(width, height)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    canvas = np.zeros((size, size, 3), dtype=np.float32)
    canvas[: new_size[1], : new_size[0]] = np.asarray(image.resize(new_size, Image.Resampling.BILINEAR))
    return canvas, scale


def nms(boxes: Array, scores: Array, classes: np.ndarray[Any, np.dtype[np.int64]], iou: float) -> list[int]:
    """Indices kept by class-aware non-maximum suppression, best score first."""
    # Offsetting each class's boxes by a distinct amount keeps classes apart in one pass.
    shifted = boxes + (classes[:, None] * 4.0)
    order = list(np.argsort(-scores))
    areas = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if not order:
            break
        rest = np.array(order)
        x1 = np.maximum(shifted[best, 0], shifted[rest, 0])
        y1 = np.maximum(shifted[best, 1], shifted[rest, 1])
        x2 = np.minimum(shifted[best, 2], shifted[rest, 2])
        y2 = np.minimum(shifted[best, 3], shifted[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        overlap = inter / (areas[best] + areas[rest] - inter + 1e-9)
        order = [int(i) for i, o in zip(rest, overlap, strict=True) if o <= iou]
    return keep
