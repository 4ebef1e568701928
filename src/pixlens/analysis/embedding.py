"""The image embedding behind "more like this" and near-duplicates (``ImageEmbedding``, kept out of the JSON).

The embedding is the classifier's global-pooling layer (1,280 values), read from a copy of the bundled
classifier that exposes it as a second output (``efficientnet_lite*_embed.onnx``, made by
``scripts/add_embedding_output.py``; same weights, same logits). Input and preprocessing are the classifier's.
Vectors are L2-normalised, so a dot product is the cosine similarity.

Rotation: a copy turned by 90 degrees has a plain embedding only 0.37-0.88 similar to its original (mean 0.66, on
the 30 sample photos), which overlaps different photos (up to 0.51). So by default the embedding is the mean of
the embeddings of the four 90-degree rotations of the (square) model input: the same vector for a photo and its
rotated copies (cosine 1.000), mirrored copies 0.98+, at the price of four model runs per image (preprocessing
once). Resized + recompressed copies: 0.79-0.96; different photos: at most 0.59 (lite0).
``rotations=False``
gives the plain embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pixlens.analysis.classifier import INPUT_SIZES, Classifier
from pixlens.analysis.runtime import OnnxModel, _sha256, model_path
from pixlens.config import Settings
from pixlens.imageio import DecodedImage

VERSION = "1"
EMBEDDING_OUTPUT = "embedding"
EMBEDDING_SIZE = 1280
Array = np.ndarray[Any, np.dtype[np.float32]]


class _Preprocessor(Classifier):
    """The classifier's preprocessing without loading the classifier's model."""

    def __init__(self, variant: str) -> None:  # deliberately no super().__init__: no session needed
        if variant not in INPUT_SIZES:
            raise ValueError(f"unknown classifier {variant!r} (known: {', '.join(INPUT_SIZES)})")
        self.variant = variant
        self.size = INPUT_SIZES[variant]


def normalise(vectors: Array) -> Array:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class EmbeddingAnalyzer:
    name = "embedding"
    fields = ("ImageEmbedding",)

    def __init__(self, settings: Settings, *, rotations: bool = True) -> None:
        self.rotations = rotations
        variant = settings.embedding.model
        self.preprocessor = _Preprocessor(variant)
        path = model_path(f"{variant}_embed.onnx")
        self.model = OnnxModel(path, settings.model_threads or settings.cpu_count())
        # A new model file (or a change here) makes reconcile re-embed every image.
        self.version = f"{VERSION}{'r' if rotations else ''}-{variant}-{_sha256(path)[:12]}"

    def prepare(self, image: DecodedImage) -> Array:
        return self.preprocessor.preprocess(image.image)

    def embed(self, batch: Array) -> Array:
        """Unit vectors [N, 1280] for a batch of prepared inputs [N, 3, S, S]."""
        (embedding,) = self.model.run(np.ascontiguousarray(batch, dtype=np.float32), [EMBEDDING_OUTPUT])
        return normalise(np.asarray(embedding, dtype=np.float32))

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        if not prepared:
            return []
        batch = np.stack(prepared)
        if self.rotations:
            turns = [np.rot90(batch, k, axes=(2, 3)) for k in range(4)]
            vectors = normalise(self.embed(np.concatenate(turns)).reshape(4, len(batch), -1).mean(axis=0))
        else:
            vectors = self.embed(batch)
        return [{"ImageEmbedding": [float(value) for value in vector]} for vector in vectors]
