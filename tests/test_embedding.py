"""The image embedding: copies of a sample photo stay close to it, different photos do not."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, sample_files
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.embedding import EmbeddingAnalyzer, Shared
from pixlens.config import load_settings
from pixlens.duplicates import DEFAULT_MIN_SIMILARITY
from pixlens.imageio import decode
from pixlens.record import ImageRecord

Vectors = np.ndarray[Any, np.dtype[np.float32]]


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def resized_copy(data: bytes) -> bytes:
    """Half size, JPEG quality 70: a typical re-shared copy."""
    image = decode(data).image
    return jpeg_bytes(image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS), 70)


def rotated_copy(data: bytes) -> bytes:
    return png_bytes(decode(data).image.transpose(Image.Transpose.ROTATE_90))


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> EmbeddingAnalyzer:
    return EmbeddingAnalyzer(load_settings(tmp_path_factory.mktemp("home")))


def embed(analyzer: EmbeddingAnalyzer, blobs: list[bytes]) -> Vectors:
    results = analyzer.analyze([analyzer.prepare(decode(blob)) for blob in blobs])
    return np.asarray([result["ImageEmbedding"] for result in results], dtype=np.float32)


@pytest.fixture(scope="module")
def vectors(analyzer: EmbeddingAnalyzer) -> dict[str, Vectors]:
    originals = [(SAMPLES / name).read_bytes() for name in sample_files()]
    return {
        "original": embed(analyzer, originals),
        "resized": embed(analyzer, [resized_copy(blob) for blob in originals]),
    }


def test_registered_and_shaped(tmp_path: Path) -> None:
    (analyzer,) = create_analyzers(load_settings(tmp_path), ["embedding"])
    assert analyzer.name == "embedding" and analyzer.fields == ("ImageEmbedding",)
    assert "efficientnet_lite2" in analyzer.version
    (result,) = analyzer.analyze([analyzer.prepare(decode((SAMPLES / "chelsea.png").read_bytes()))])
    embedding = result["ImageEmbedding"]
    assert isinstance(embedding, list) and len(embedding) == 1280 and all(type(v) is float for v in embedding)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-5)
    assert analyzer.analyze([]) == []


def test_batched_equals_single(analyzer: EmbeddingAnalyzer) -> None:
    blobs = [(SAMPLES / name).read_bytes() for name in sample_files()[:3]]
    together = embed(analyzer, blobs)
    alone = np.concatenate([embed(analyzer, [blob]) for blob in blobs])
    assert np.allclose(together, alone, atol=1e-4)


def test_resized_copies_match_their_original_first(vectors: dict[str, Vectors]) -> None:
    similarity = vectors["resized"] @ vectors["original"].T
    own = np.diag(similarity)
    assert own.min() >= DEFAULT_MIN_SIMILARITY, own.min()
    assert (similarity.argmax(axis=1) == np.arange(len(own))).all()
    print(f"resized + JPEG 70 copies: cosine with their original {own.min():.3f}-{own.max():.3f}")


def test_different_photos_stay_below_the_threshold(vectors: dict[str, Vectors]) -> None:
    similarity = vectors["original"] @ vectors["original"].T
    different = similarity[np.triu_indices(len(similarity), 1)]
    assert different.max() < DEFAULT_MIN_SIMILARITY, different.max()
    copies_vs_others = vectors["resized"] @ vectors["original"].T
    np.fill_diagonal(copies_vs_others, -1)
    assert copies_vs_others.max() < DEFAULT_MIN_SIMILARITY
    print(f"different photos: cosine {different.min():.3f}-{different.max():.3f} (mean {different.mean():.3f})")


def test_the_labels_share_their_classifier_run(tmp_path: Path, vectors: dict[str, Vectors]) -> None:
    settings = load_settings(tmp_path)
    labels, embedding = create_analyzers(settings, ["labels", "embedding"])
    assert isinstance(embedding, EmbeddingAnalyzer)
    names = sample_files()[:4]
    images = [decode((SAMPLES / name).read_bytes()) for name in names]
    shared = [values["Shared"] for values in labels.analyze([labels.prepare(image) for image in images])]
    record = ImageRecord(ImageName="x")
    focused = [embedding.focus(record, embedding.prepare(image), s) for image, s in zip(images, shared, strict=True)]
    assert all(isinstance(item, Shared) for item in focused)
    # one fresh image among shared ones: computed by the model, in place
    focused[2] = embedding.prepare(images[2])
    result = np.asarray([r["ImageEmbedding"] for r in embedding.analyze(focused)], dtype=np.float32)
    assert np.allclose(result, vectors["original"][:4], atol=1e-4)  # the same vectors as the analyser's own run


def test_shared_embedding_spares_the_model(tmp_path: Path) -> None:
    labels, embedding = create_analyzers(load_settings(tmp_path), ["labels", "embedding"])
    assert isinstance(embedding, EmbeddingAnalyzer)
    image = decode((SAMPLES / "chelsea.png").read_bytes())
    [values] = labels.analyze([labels.prepare(image)])
    embedding.analyze([embedding.focus(ImageRecord(ImageName="x"), embedding.prepare(image), values["Shared"])])
    assert not embedding.classifier.loaded  # its model never loaded
    # Another model, or the rotation-averaged embedding, does not take the labels' vector.
    for other in ({"model": "efficientnet_lite0"}, {"rotations": True}):
        analyzer = EmbeddingAnalyzer(load_settings(tmp_path, embedding=other))
        prepared = analyzer.prepare(image)
        assert analyzer.focus(ImageRecord(ImageName="x"), prepared, values["Shared"]) is prepared


def test_rotation_averaged_embedding_finds_rotated_copies(tmp_path: Path) -> None:
    analyzer = EmbeddingAnalyzer(load_settings(tmp_path, embedding={"rotations": True}))
    blobs = [(SAMPLES / name).read_bytes() for name in sample_files()[:6]]
    originals, rotated = embed(analyzer, blobs), embed(analyzer, [rotated_copy(blob) for blob in blobs])
    similarity = rotated @ originals.T
    assert np.diag(similarity).min() >= 0.99  # invariant to 90-degree turns
    assert (similarity.argmax(axis=1) == np.arange(len(blobs))).all()
    assert analyzer.version != EmbeddingAnalyzer(load_settings(tmp_path)).version


def test_plain_embedding_is_not_rotation_invariant(tmp_path: Path) -> None:
    plain = EmbeddingAnalyzer(load_settings(tmp_path))
    blob = (SAMPLES / "000000214753.jpg").read_bytes()
    original, rotated = embed(plain, [blob, rotated_copy(blob)])
    assert float(original @ rotated) < DEFAULT_MIN_SIMILARITY  # why the hash matches rotated copies (duplicates.py)
