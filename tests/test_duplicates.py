"""Duplicate groups on the 30 sample photos plus resized, recompressed, rotated and mirrored copies."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from PIL import Image

from conftest import SAMPLES, sample_files
from pixlens.analysis.embedding import EmbeddingAnalyzer
from pixlens.analysis.properties import dihedral_variants, hamming, phash
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


def best_distance(a: str | None, b: str | None) -> int:
    """The distance the hash test uses: the best of the 8 rotations and mirrors of ``a`` against ``b``."""
    assert a is not None and b is not None
    return min(hamming(variant, b) for variant in dihedral_variants(a))


def test_hash_alone_links_every_copy_and_no_two_photos(items: list[Item]) -> None:
    expected = sorted([100 * n + k for k in range(len(COPY_KINDS) + 1)] for n in range(len(sample_files())))
    hashes_only = find_duplicates([Item(i.id, i.phash, None) for i in items])
    assert sorted(g.members for g in hashes_only) == expected  # rotated and mirrored copies included
    # with the embeddings there but never similar enough, the same groups, every link by the hash
    unreachable = find_duplicates(items, min_similarity=1.01)
    assert sorted(g.members for g in unreachable) == expected
    assert all(p.hash_distance is not None and p.similarity is None for g in unreachable for p in g.pairs)
    originals = {i.id: i.phash or "" for i in items if i.id % 100 == 0}
    assert len(originals) == 30
    assert hash_pairs(originals) == {}


def test_embedding_alone(items: list[Item]) -> None:
    embeddings_only = find_duplicates([Item(i.id, None, i.embedding) for i in items])
    linked = {m for g in embeddings_only for m in g.members}
    assert all(item.id in linked for item in items if item.id % 100 in (0, 1))  # resized copies
    assert all(len({m // 100 for m in g.members}) == 1 for g in embeddings_only)


def test_measured_hash_distances(items: list[Item]) -> None:
    originals = [i for i in items if i.id % 100 == 0]
    by_id = {i.id: i for i in items}
    different = [best_distance(a.phash, b.phash) for a, b in itertools.combinations(originals, 2)]
    copies = {
        kind: [best_distance(o.phash, by_id[o.id + 1 + k].phash) for o in originals]
        for k, kind in enumerate(COPY_KINDS)
    }
    worst_copy = max(max(distances) for distances in copies.values())
    assert worst_copy + 3 <= DEFAULT_MAX_HASH_DISTANCE <= min(different) - 6  # a margin on both sides
    assert max(copies["rotated"]) == max(copies["mirrored"]) == 0  # lossless copies: the variant is exact
    for kind, distances in copies.items():
        print(f"pHash bits, {kind} copies: {min(distances)}-{max(distances)}")
    print(f"different photos {min(different)}-{max(different)} (mean {np.mean(different):.1f})")
    # Measured: resized 0-2, rotated 0, mirrored 0, small 0-3; different photos 16-33 (mean 25.8).


def test_hash_pairs_match_all_pairs_at_the_best_orientation() -> None:
    """The band index, queried with the 8 variants, finds exactly the pairs that comparing all pairs finds."""
    rng = random.Random(7)
    hashes: dict[int, str] = {}
    for image_id in range(0, 400, 2):
        value = rng.getrandbits(64) & ~(1 << 63)  # the DC bit is always 0
        hashes[image_id] = f"{value:016x}"
        variant = int(dihedral_variants(hashes[image_id])[rng.randrange(8)], 16)  # a turned or mirrored copy
        for bit in rng.sample(range(63), rng.randrange(12)):  # and a few bits changed
            variant ^= 1 << bit
        hashes[image_id + 1] = f"{variant:016x}"
    every_pair = {(a, b): best_distance(hashes[a], hashes[b]) for a, b in itertools.combinations(sorted(hashes), 2)}
    for max_distance in (0, 3, 8, 11):
        expected = {pair: distance for pair, distance in every_pair.items() if distance <= max_distance}
        assert hash_pairs(hashes, max_distance) == expected
        assert len(expected) >= 10  # measured: 12, 67, 153, 200
    a, b = hashes[0], dihedral_variants(hashes[0])[3]
    assert hash_pairs({1: a, 2: b}) == hash_pairs({2: a, 1: b}) == {(1, 2): 0}


def test_union_find_and_band_index() -> None:
    assert hash_pairs({1: "0" * 16, 2: "0" * 15 + "f", 3: "f" * 16}, 4) == {(1, 2): 4}
    # a chain: 1~2 by hash, 2~3 by embedding -> one group
    e = np.eye(4, dtype=np.float32)
    groups = find_duplicates(
        [(1, "00000000000000ff", None), (2, "00000000000000fe", e[0]), (3, None, e[0]), (4, None, e[1])]
    )
    assert [g.members for g in groups] == [[1, 2, 3]]
    assert find_duplicates([]) == []
