"""MTCNN face detection (P-Net, R-Net, O-Net) on ONNX Runtime, with NumPy and Pillow only.

The three graphs come from the Keras ``mtcnn`` package. They take RGB scaled ``(x - 127.5) * 0.0078125`` with
height and width swapped (the original weights were trained on transposed images) and return transposed maps,
so every input is transposed on the way in and every spatial output on the way out.

The cascade:

1. P-Net runs over an image pyramid (scale factor 0.709, from ``12 / min_size`` down to a 12-pixel image); every
   cell of its probability map above ``P_THRESHOLD`` is a candidate box; NMS per scale, then over all scales.
2. R-Net scores 24 x 24 crops of the (squared, regressed) candidates; NMS.
3. O-Net scores 48 x 48 crops, refines the box and gives 5 landmarks; NMS (intersection over the smaller box).

A stage runs only on the candidates the stage before kept: none left, no R-Net or O-Net run (MTCNN's own
algorithm). With ``gate=True`` R-Net also sees only P-Net cells of probability ``P_GATE`` (0.7) or more instead
of MTCNN's 0.6 (the only difference between the modes; the faces found are the same on the samples).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.runtime import OnnxModel, model_path

Array = np.ndarray[Any, np.dtype[np.float32]]

FACTOR = 0.709
P_THRESHOLD, R_THRESHOLD, O_THRESHOLD = 0.6, 0.7, 0.7  # MTCNN's own
# With the gate on, R-Net sees only P-Net cells from this probability: on the 30 samples the same faces with the
# same confidences, and a third fewer R-Net crops (the bulk of the cascade's work after P-Net itself).
P_GATE = 0.7
CROP_BATCH = 256  # R-Net and O-Net run over at most this many candidate crops at once


def normalise(pixels: np.ndarray[Any, Any]) -> Array:
    """uint8 RGB [..., H, W, 3] -> the networks' input: scaled, height and width swapped."""
    scaled = (pixels.astype(np.float32) - 127.5) * 0.0078125
    return np.ascontiguousarray(np.swapaxes(scaled, -3, -2))


@dataclass
class Pyramid:
    """An image to search for faces. P-Net's inputs, one per level of its pyramid, are made one at a time as
    the search reaches them (all levels of a batch's images at once took ~7 MB per 1-MP image)."""

    image: Image.Image
    min_size: int = 20

    def levels(self) -> Iterator[tuple[float, Array]]:
        """(scale, [1, W, H, 3] input) per level, largest first."""
        width, height = self.image.size
        scale = 12.0 / self.min_size
        side = min(width, height) * scale
        while side >= 12:
            size = (max(1, int(np.ceil(width * scale))), max(1, int(np.ceil(height * scale))))
            resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
            yield scale, normalise(np.asarray(self.image.resize(size, resample))[None])
            scale *= FACTOR
            side *= FACTOR


def pyramid(image: Image.Image, min_size: int) -> Pyramid:
    return Pyramid(image, min_size)


@dataclass
class Face:
    """One face: box (x1, y1, x2, y2) in pixels, probability, landmarks [5, 2] (x, y) in pixels."""

    box: tuple[float, float, float, float]
    probability: float
    landmarks: np.ndarray[Any, np.dtype[np.float64]]


@dataclass
class Stats:
    """Work done, for measuring the cascade."""

    pnet_candidates: int = 0
    rnet_runs: int = 0
    onet_runs: int = 0


def nms(boxes: np.ndarray[Any, Any], threshold: float, method: str = "union") -> np.ndarray[Any, Any]:
    """Indices kept by greedy non-maximum suppression over rows (x1, y1, x2, y2, score, ...)."""
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    x1, y1, x2, y2, score = (boxes[:, i] for i in range(5))
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(score)[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        denominator = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / denominator <= threshold]
    return np.array(keep, dtype=np.int64)


def _regress(boxes: np.ndarray[Any, Any], reg: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Apply box regression (dx1, dy1, dx2, dy2 as fractions of the box size)."""
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    out[:, 0] += reg[:, 0] * w
    out[:, 1] += reg[:, 1] * h
    out[:, 2] += reg[:, 2] * w
    out[:, 3] += reg[:, 3] * h
    return out


def _square(boxes: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    out = boxes.copy()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + w * 0.5 - side * 0.5
    out[:, 1] = boxes[:, 1] + h * 0.5 - side * 0.5
    out[:, 2:4] = out[:, 0:2] + side[:, None]
    out[:, 0:4] = np.fix(out[:, 0:4])
    return out


def _crops(image: Image.Image, boxes: np.ndarray[Any, Any], size: int) -> Array:
    """The boxes cut out of the image (zero outside it), resized to size x size, as network input."""
    crops = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for index, (x1, y1, x2, y2) in enumerate(boxes[:, :4].astype(np.int64)):
        crop = image.crop((int(x1), int(y1), int(x2) + 1, int(y2) + 1))
        crops[index] = np.asarray(crop.resize((size, size), Image.Resampling.BILINEAR))
    return normalise(crops)


class Mtcnn:
    def __init__(self, threads: int, min_size: int = 20) -> None:
        self.min_size = min_size
        self.pnet = OnnxModel(model_path("mtcnn/pnet.onnx"), threads)
        self.rnet = OnnxModel(model_path("mtcnn/rnet.onnx"), threads)
        self.onet = OnnxModel(model_path("mtcnn/onet.onnx"), threads)

    def prepare(self, image: Image.Image) -> Pyramid:
        return pyramid(image, self.min_size)

    # -- stage 1 ------------------------------------------------------------------------------------------------
    def proposals(self, item: Pyramid, gate: bool = True) -> np.ndarray[Any, Any]:
        """P-Net candidates [N, 5] (x1, y1, x2, y2, score), squared."""
        found: list[np.ndarray[Any, Any]] = []
        admit = P_GATE if gate else P_THRESHOLD
        for scale, tensor in item.levels():
            reg_t, prob_t = self.pnet.run(tensor)
            prob = prob_t[0, :, :, 1].T  # back to [h, w]
            reg = np.swapaxes(reg_t[0], 0, 1)  # [h, w, 4]
            rows, cols = np.nonzero(prob >= admit)
            if rows.size == 0:
                continue
            boxes = np.column_stack(
                [
                    np.fix((2 * cols + 1) / scale),
                    np.fix((2 * rows + 1) / scale),
                    np.fix((2 * cols + 12) / scale),
                    np.fix((2 * rows + 12) / scale),
                    prob[rows, cols],
                    reg[rows, cols],
                ]
            )
            found.append(boxes[nms(boxes, 0.5)])
        boxes = np.concatenate(found) if found else np.empty((0, 9))
        boxes = boxes[nms(boxes, 0.7)]
        if len(boxes) == 0:
            return np.empty((0, 5))
        refined = _regress(boxes[:, :4], boxes[:, 5:9])
        return _square(np.column_stack([refined, boxes[:, 4]]))

    # -- stages 2 and 3, batched over images ---------------------------------------------------------------------
    def refine(self, items: list[Pyramid], candidates: list[np.ndarray[Any, Any]]) -> list[np.ndarray[Any, Any]]:
        """R-Net over every image's candidates [N, 5]; returns the kept boxes [M, 5] per image."""
        scores, regs = self._run_batched(self.rnet, items, candidates, 24)
        kept = []
        for boxes, score, reg in zip(candidates, scores, regs, strict=True):
            above = score >= R_THRESHOLD
            if not above.any():
                kept.append(np.empty((0, 5)))
                continue
            chosen = np.column_stack([boxes[above, :4], score[above]])
            keep = nms(chosen, 0.7)
            refined = _regress(chosen[keep, :4], reg[above][keep])
            kept.append(_square(np.column_stack([refined, chosen[keep, 4]])))
        return kept

    def output(self, items: list[Pyramid], candidates: list[np.ndarray[Any, Any]]) -> list[list[Face]]:
        """O-Net over every image's candidates; faces above O-Net's threshold, after NMS (min)."""
        results = self._run_batched(self.onet, items, candidates, 48, landmarks=True)
        scores, regs, points = results[0], results[1], results[2]
        faces: list[list[Face]] = []
        for item, boxes, score, reg, landmark in zip(items, candidates, scores, regs, points, strict=True):
            width, height = item.image.size
            above = score >= O_THRESHOLD
            if not above.any():
                faces.append([])
                continue
            boxes, score, reg, landmark = boxes[above], score[above], reg[above], landmark[above]
            w = boxes[:, 2] - boxes[:, 0] + 1
            h = boxes[:, 3] - boxes[:, 1] + 1
            xs = landmark[:, 0:5] * w[:, None] + boxes[:, 0:1] - 1
            ys = landmark[:, 5:10] * h[:, None] + boxes[:, 1:2] - 1
            refined = np.column_stack([_regress(boxes[:, :4], reg), score])
            keep = nms(refined, 0.7, "min")
            image_faces = []
            for i in keep:
                x1, y1, x2, y2 = refined[i, :4]
                box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
                if box[2] <= box[0] or box[3] <= box[1]:
                    continue
                image_faces.append(Face(box, float(score[i]), np.stack([xs[i], ys[i]], axis=1)))
            image_faces.sort(key=lambda face: -face.probability)
            faces.append(image_faces)
        return faces

    def _run_batched(
        self,
        model: OnnxModel,
        items: list[Pyramid],
        candidates: list[np.ndarray[Any, Any]],
        size: int,
        landmarks: bool = False,
    ) -> tuple[list[Any], ...]:
        """Run a crop network over all images' boxes in one batch; per image: scores, regressions (, points)."""
        counts = [len(boxes) for boxes in candidates]
        empty: tuple[list[Any], ...] = tuple(
            [np.empty((n, k)) if k else np.empty(n) for n in counts] for k in ((0, 4, 10) if landmarks else (0, 4))
        )
        if sum(counts) == 0:
            return empty
        batch = np.concatenate(
            [_crops(item.image, boxes, size) for item, boxes in zip(items, candidates, strict=True) if len(boxes)]
        )
        # In runs of at most CROP_BATCH crops: a batch of 8 photos can hold thousands of candidates, and one run
        # over all of them took 200-400 MB for R-Net's activations; each crop's outputs are the same either way.
        runs = [model.run(batch[start : start + CROP_BATCH]) for start in range(0, len(batch), CROP_BATCH)]
        outputs = [np.concatenate([run[index] for run in runs]) for index in range(len(runs[0]))]
        prob = outputs[-1][:, 1]
        reg = outputs[0]
        splits = np.cumsum(counts)[:-1]
        if landmarks:
            return (np.split(prob, splits), np.split(reg, splits), np.split(outputs[1], splits))
        return (np.split(prob, splits), np.split(reg, splits))

    def detect(self, items: list[Pyramid], gate: bool = True, stats: Stats | None = None) -> list[list[Face]]:
        """Faces in each image, most probable first."""
        candidates = [self.proposals(item, gate) for item in items]
        if stats is not None:
            stats.pnet_candidates += sum(len(c) for c in candidates)
            stats.rnet_runs += sum(len(c) for c in candidates)
        refined = self.refine(items, candidates)
        if stats is not None:
            stats.onet_runs += sum(len(c) for c in refined)
        return self.output(items, refined)
