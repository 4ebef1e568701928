"""Duplicate groups on the 30 sample photos plus resized, recompressed, rotated and mirrored copies."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, sample_files
from pixlens.analysis.embedding import EmbeddingAnalyzer
from pixlens.analysis.properties import hamming, phash
from pixlens.config import load_settings
from pixlens.duplicates import (
    DEFAULT_MAX_HASH_DISTANCE,
    Item,
    find_duplicates,
    hash_pairs,
)
from pixlens.imageio import decode
from pixlens.vectors import VectorIndex
from test_embedding import jpeg_bytes, png_bytes, resized_copy, rotated_copy

COPY_KINDS = ("resized", "rotated", "mirrored", "small")


def copies(data: bytes) -> dict[str, bytes]:
    image = decode(data).image
    small = image.resize((max(64, image.width // 4), max(64, image.height // 4)), Image.Resampling.BILINEAR)
    return {
        "resized": resized_copy(data),
        "rotated": rotated_copy(data),
        "mirrored": png_bytes(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
        "small": jpeg_bytes(small, 40),
    }


@pytest.fixture(scope="module")
def items(tmp_path_factory: pytest.TempPathFactory) -> list[Item]:
    """Sample i has id 100 * i; its copies ids 100 * i + 1.. (one per COPY_KIND)."""
    analyzer = EmbeddingAnalyzer(load_settings(tmp_path_factory.mktemp("home")))
    entries: list[tuple[int, bytes]] = []
    for number, name in enumerate(sample_files()):
        data = (SAMPLES / name).read_bytes()
        entries.append((100 * number, data))
        entries += [(100 * number + 1 + k, copies(data)[kind]) for k, kind in enumerate(COPY_KINDS)]
    decoded = [decode(blob) for _, blob in entries]
    vectors = [r["ImageEmbedding"] for r in analyzer.analyze([analyzer.prepare(image) for image in decoded])]
    return [
        Item(image_id, phash(image.image), vector)
        for (image_id, _), image, vector in zip(entries, decoded, vectors, strict=True)
    ]


def test_copies_group_with_their_original_and_nothing_else(items: list[Item]) -> None:
    groups = find_duplicates(items)
    expected = sorted([100 * n + k for k in range(len(COPY_KINDS) + 1)] for n in range(len(sample_files())))
    assert sorted(group.members for group in groups) == expected
    for group in groups:
        for pair in group.pairs:
            assert pair.hash_distance is not None or pair.similarity is not None


def test_groups_through_the_catalog_index(items: list[Item]) -> None:
    index = VectorIndex(None, 1280)
    index.add([item.id for item in items], np.stack([np.asarray(item.embedding) for item in items]))
    index.add([999_999], np.ones((1, 1280), dtype=np.float32))  # an image not asked about: ignored
    by_index = find_duplicates(items, index=index)
    assert [g.members for g in by_index] == [g.members for g in find_duplicates(items)]


def test_hash_alone_and_embedding_alone(items: list[Item]) -> None:
    hashes_only = find_duplicates([Item(i.id, i.phash, None) for i in items])
    # the hash links resized and shrunk copies, not rotated or mirrored ones
    assert all(len(g.members) == 3 and all(m % 100 in (0, 1, 4) for m in g.members) for g in hashes_only)
    embeddings_only = find_duplicates([Item(i.id, None, i.embedding) for i in items])
    linked = {m for g in embeddings_only for m in g.members}
    assert all(item.id in linked for item in items if item.id % 100 in (0, 1, 2, 3))
    assert all(len({m // 100 for m in g.members}) == 1 for g in embeddings_only)


def test_measured_hash_distances(items: list[Item]) -> None:
    originals = [i for i in items if i.id % 100 == 0]
    by_id = {i.id: i for i in items}
    different = [hamming(a.phash or "", b.phash or "") for n, a in enumerate(originals) for b in originals[n + 1 :]]
    resized = [hamming(o.phash or "", by_id[o.id + 1].phash or "") for o in originals]
    assert max(resized) <= DEFAULT_MAX_HASH_DISTANCE < min(different)
    print(
        f"pHash bits: resized copies {min(resized)}-{max(resized)}, different photos {min(different)}-{max(different)}"
    )


def test_union_find_and_band_index() -> None:
    assert hash_pairs({1: "0" * 16, 2: "0" * 15 + "f", 3: "f" * 16}, 4) == {(1, 2): 4}
    # a chain: 1~2 by hash, 2~3 by embedding -> one group
    e = np.eye(4, dtype=np.float32)
    groups = find_duplicates(
        [(1, "00000000000000ff", None), (2, "00000000000000fe", e[0]), (3, None, e[0]), (4, None, e[1])]
    )
    assert [g.members for g in groups] == [[1, 2, 3]]
    assert find_duplicates([]) == []
