"""Search words to labels by meaning: a sentence-embedding model over the taxonomy's label names.

WordNet's is-a tree does not lead from every word a person types to the label they expect ("kitten" is not a
kind of Tabby Cat, "mug" is no hypernym of Coffee Mug, "beach" is not Seashore). :class:`LabelMeanings` embeds
the word with all-MiniLM-L6-v2 (int8 ONNX, see scripts/export_sentence_model.py) and returns the labels whose
names are nearest in meaning, at or above :data:`THRESHOLD`, with their cosine similarity.

Labels are embedded by their names alone: with their aliases too, WordNet's odd aliases pulled in wrong labels
("river" -> Hippopotamus by "river horse", "flower" -> Pot by "flowerpot", "beach" -> Beach Wagon first), and
the exact aliases are the taxonomy's own lookup anyway; "a photo of a ..." on both sides raised the scores of
abstract words as much as those of real matches. The label embeddings ship precomputed (embedding the 1,139
names takes about 4.5 s on one core, one run each), keyed by the model's and vocabulary's checksums and the
label names, so a stale file is noticed and the embeddings are computed afresh.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.analysis.runtime import OnnxModel, checksum, model_path
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.analysis.wordpiece import WordPiece
from pixlens.errors import ModelError

__all__ = ["MODEL_FILE", "THRESHOLD", "LabelMeanings", "SentenceEncoder"]

log = logging.getLogger(__name__)

MODEL_FILE = "minilm_l6_v2_int8.onnx"
VOCAB_FILE = "minilm_l6_v2_vocab.txt"
LABELS_FILE = "label_meanings.npz"  # in pixlens/analysis/data, written by scripts/embed_labels.py
DIMENSION = 384
# Lowest cosine similarity of a word to a label name, chosen on a development list (tests/test_meaning.py):
# the words reach their labels at 0.62 (lake -> Lakeside) to 0.95; abstract and nonsense words stay
# below 0.55 (justice -> Prison 0.54).
THRESHOLD = 0.6
Matrix = np.ndarray[Any, np.dtype[np.float32]]


class SentenceEncoder:
    """Texts to L2-normalised embeddings [N, 384]. The model loads on first use; safe to share across threads."""

    def __init__(self, threads: int = 1) -> None:
        self._threads = threads
        self._loaded: tuple[OnnxModel, WordPiece] | None = None
        self._loading = threading.Lock()

    def load(self) -> tuple[OnnxModel, WordPiece]:
        with self._loading:
            if self._loaded is None:
                self._loaded = (OnnxModel(model_path(MODEL_FILE), self._threads), WordPiece(model_path(VOCAB_FILE)))
            return self._loaded

    def embed(self, texts: list[str]) -> Matrix:
        """One run per text: the int8 model quantises its activations with one range per run, so in a batch a
        text's embedding would depend on the other texts and the padding (cosine 0.98-0.99 to its own)."""
        model, tokenizer = self.load()
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        for i, text in enumerate(texts):
            ids = np.asarray([tokenizer.encode(text)], dtype=np.int64)
            try:
                (embedding,) = model.session.run(["embedding"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelError(f"sentence model run failed: {exc}") from exc
            out[i] = embedding[0]
        return out


class LabelMeanings:
    """The labels nearest in meaning to a word. Get the shared instance with :meth:`shared`. Thread-safe."""

    def __init__(
        self,
        taxonomy: Taxonomy | None = None,
        encoder: SentenceEncoder | None = None,
        threshold: float = THRESHOLD,
        cache_size: int = 4096,
    ) -> None:
        self.taxonomy = taxonomy or Taxonomy.load()
        self.encoder = encoder or SentenceEncoder()
        self.threshold = threshold
        self.names = self.taxonomy.names()
        self._labels: Matrix | None = None
        self._loading = threading.Lock()
        self._cached = functools.lru_cache(maxsize=cache_size)(self._nearest)

    @classmethod
    def shared(cls) -> LabelMeanings:
        """One instance per process (the model and the label embeddings load on its first query)."""
        return _shared()

    def nearest(self, word: str, limit: int = 5) -> list[tuple[str, float]]:
        """Up to ``limit`` (label name, cosine similarity) pairs at or above the threshold, nearest first."""
        key = " ".join(word.split()).lower()  # the model is uncased
        if not key or limit <= 0:
            return []
        return self._cached(key, limit)

    def _nearest(self, word: str, limit: int) -> list[tuple[str, float]]:
        scores = self.label_embeddings() @ self.encoder.embed([word])[0]
        order = np.argsort(-scores, kind="stable")[:limit]
        return [(self.names[i], round(float(scores[i]), 4)) for i in order if scores[i] >= self.threshold]

    def label_embeddings(self) -> Matrix:
        """One row per label of ``names``: the shipped file's if it is current, else computed now."""
        with self._loading:
            if self._labels is None:
                key = labels_key(self.names)
                self._labels = _read_labels(key, _labels_path())
                if self._labels is None:
                    log.warning(
                        "%s does not match the taxonomy and model: embedding the labels now "
                        "(refresh it with scripts/embed_labels.py)",
                        LABELS_FILE,
                    )
                    self._labels = self.encoder.embed(self.names)
            return self._labels


def labels_key(names: list[str]) -> str:
    """What the label embeddings depend on: the model, its vocabulary and the label names, in order."""
    digest = hashlib.sha256(f"{checksum(MODEL_FILE)} {checksum(VOCAB_FILE)}\n".encode())
    digest.update("\n".join(names).encode())
    return digest.hexdigest()


def write_label_embeddings(path: Path | None = None) -> Path:
    """Compute and store the embeddings of the bundled taxonomy's labels (float16, with their key)."""
    names = Taxonomy.load().names()
    embeddings = SentenceEncoder().embed(names)
    target = path or _labels_path()
    with target.open("wb") as handle:
        np.savez(handle, key=np.array(labels_key(names)), embeddings=embeddings.astype(np.float16))
    return target


def _labels_path() -> Path:
    return Path(str(resources.files("pixlens.analysis.data").joinpath(LABELS_FILE)))


def _read_labels(key: str, path: Path) -> Matrix | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            if str(stored["key"]) != key:
                return None
            return np.asarray(stored["embeddings"], dtype=np.float32)
    except (OSError, ValueError, KeyError):
        return None


@functools.cache
def _shared() -> LabelMeanings:
    return LabelMeanings()
