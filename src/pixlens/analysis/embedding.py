"""The image embedding behind "more like this" and near-duplicates (``ImageEmbedding``, kept out of the JSON).

The embedding is the classifier's global-pooling layer (1,280 values), read from a copy of the bundled
classifier that exposes it as a second output (``efficientnet_lite*_embed.onnx``, made by
``scripts/add_embedding_output.py``; same weights, same logits). Input and preprocessing are the classifier's.
Vectors are L2-normalised, so a dot product is the cosine similarity.

By default it is the labels' classifier (EfficientNet-Lite2), and the label analyser, which runs that very model
on that very input, shares its embedding through the pipeline (``focus``): no second model run. Run without the
labels (or with another model) the analyser runs the classifier itself; the vector is the same either way.

Measured on the 30 sample photos (Lite2): resized + recompressed copies 0.77-0.97 (mean 0.86) with their
original, copies at a quarter size and JPEG quality 40 0.43-0.90, 90 % crops 0.88+, mirrored copies 0.92+;
different photos at most 0.52 (mean 0.25). A copy turned by 90 degrees is only 0.37-0.88 like its original:
the perceptual hash (``properties.py``, matched under every rotation and mirror) finds those duplicates.
``embedding.rotations = true`` makes the embedding the mean of the four 90-degree rotations' embeddings
(rotated copies 1.00, for a "more like this" that ignores orientation), at the price of four model runs per
image (never shared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from pixlens.analysis.classifier import Classifier, shared_embedding_key
from pixlens.analysis.runtime import _sha256
from pixlens.config import Settings
from pixlens.imageio import DecodedImage
from pixlens.record import ImageRecord

VERSION = "2"  # 2: Lite2 by default, no rotation averaging by default
EMBEDDING_SIZE = 1280
Array = np.ndarray[Any, np.dtype[np.float32]]


@dataclass
class Shared:
    """The raw embedding of an image that an earlier analyser computed with the same model and input."""

    vector: Array


def normalise(vectors: Array) -> Array:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class EmbeddingAnalyzer:
    name = "embedding"
    fields = ("ImageEmbedding",)
    after = ("labels",)  # takes the embedding the labels' classifier run shares

    def __init__(self, settings: Settings) -> None:
        self.rotations = settings.embedding.rotations
        variant = settings.embedding.model
        # Loaded on first use: not at all while the labels share their run of the same model.
        self.classifier = Classifier(variant, settings.threads_per_model(), lazy=True)
        self.shared_key = None if self.rotations else shared_embedding_key(variant)
        # A new model file (or a change here) makes reconcile re-embed every image.
        self.version = f"{VERSION}{'r' if self.rotations else ''}-{variant}-{_sha256(self.classifier.path)[:12]}"

    def prepare(self, image: DecodedImage) -> Image.Image:
        # Preprocessed in analyze, and only if the labels did not share the embedding of this very input.
        return image.image

    def focus(self, record: ImageRecord, prepared: Any, shared: Mapping[str, Any]) -> Any:
        """The embedding the label analyser already computed for this image, if it did."""
        vector = shared.get(self.shared_key) if self.shared_key is not None else None
        return Shared(np.asarray(vector, dtype=np.float32)) if vector is not None else prepared

    def embed(self, batch: Array) -> Array:
        """Raw embeddings [N, 1280] for a batch of prepared inputs [N, 3, S, S] (rotation-averaged if set)."""
        if not self.rotations:
            return self.classifier.embed(batch)
        turns = np.concatenate([np.rot90(batch, k, axes=(2, 3)) for k in range(4)])
        averaged = normalise(self.classifier.embed(turns)).reshape(4, len(batch), -1).mean(axis=0)
        return np.asarray(averaged, dtype=np.float32)

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        if not prepared:
            return []
        vectors = np.zeros((len(prepared), EMBEDDING_SIZE), dtype=np.float32)
        fresh = [index for index, item in enumerate(prepared) if not isinstance(item, Shared)]
        if fresh:
            vectors[fresh] = self.embed(np.stack([self.classifier.preprocess(prepared[index]) for index in fresh]))
        for index, item in enumerate(prepared):
            if isinstance(item, Shared):
                vectors[index] = item.vector
        return [{"ImageEmbedding": [float(value) for value in vector]} for vector in normalise(vectors)]
