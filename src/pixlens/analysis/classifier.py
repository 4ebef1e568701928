"""The ImageNet-1k classifier (EfficientNet-Lite2, or Lite0 as the fast option)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.runtime import OnnxModel, model_path

Array = np.ndarray[Any, np.dtype[np.float32]]

INPUT_SIZES = {"efficientnet_lite2": 260, "efficientnet_lite0": 224}
EMBEDDING_OUTPUT = "embedding"  # the global pooling layer (1,280 values), added by scripts/add_embedding_output.py


class Classifier:
    """Softmax probabilities over the 1,000 ImageNet classes and the image embedding, on batches.

    ``lazy=True`` loads the model on its first run only (the embedding analyser, which usually takes the label
    analyser's run instead); by default a missing or broken model fails at start-up.
    """

    def __init__(self, variant: str, threads: int, *, lazy: bool = False) -> None:
        if variant not in INPUT_SIZES:
            raise ValueError(f"unknown classifier {variant!r} (known: {', '.join(INPUT_SIZES)})")
        self.variant = variant
        self.size = INPUT_SIZES[variant]
        # int8 (scripts/quantize_models.py): about 2.5x faster on a CPU; the float file is its source.
        self.path = model_path(f"{variant}_int8.onnx")
        self._threads = threads
        self._model: OnnxModel | None = None
        self._loading = threading.Lock()
        if not lazy:
            self.model  # noqa: B018 - load now

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self) -> OnnxModel:
        with self._loading:
            if self._model is None:
                self._model = OnnxModel(self.path, self._threads)
            return self._model

    def preprocess(self, image: Image.Image) -> Array:
        """Shorter side to size+32, centre crop, (x/255 - 0.5)/0.5, CHW: done as one resize of the crop box."""
        width, height = image.size
        scale = (self.size + 32) / min(width, height)
        crop = self.size / scale  # the crop's side in source pixels
        left, top = (width - crop) / 2, (height - crop) / 2
        resized = image.resize(
            (self.size, self.size), Image.Resampling.BILINEAR, box=(left, top, left + crop, top + crop)
        )
        pixels = np.asarray(resized, dtype=np.float32)
        return ((pixels * (2 / 255.0)) - 1.0).transpose(2, 0, 1)

    def predict(self, batch: Array) -> Array:
        """Probabilities [N, 1000] for a batch [N, 3, S, S]."""
        return self.infer(batch)[0]

    def embed(self, batch: Array) -> Array:
        """The raw (not normalised) embedding [N, 1280] for a batch [N, 3, S, S]."""
        (embedding,) = self.model.run(np.ascontiguousarray(batch, dtype=np.float32), [EMBEDDING_OUTPUT])
        return np.asarray(embedding, dtype=np.float32)

    def infer(self, batch: Array) -> tuple[Array, Array]:
        """Probabilities [N, 1000] and the raw (not normalised) embedding [N, 1280], from one run."""
        logits, embedding = self.model.run(batch, ["logits", EMBEDDING_OUTPUT])
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32), np.asarray(embedding, np.float32)


def shared_embedding_key(variant: str) -> str:
    """Under this key an analyser that ran the classifier shares its embedding with the later analysers."""
    return f"classifier.{variant}.embedding"
