"""Duplicate groups: pure logic over (id, perceptual hash, embedding) triples.

Two images are linked when

- their 64-bit perceptual hashes differ in at most ``max_hash_distance`` bits (resized or recompressed copies), or
- their embeddings have a cosine similarity of at least ``min_similarity`` (the same, plus rotated, mirrored and
  slightly cropped copies, through the rotation-averaged embedding of :mod:`pixlens.analysis.embedding`);

linked images form groups (union-find: the transitive closure). Identical bytes (same content sha) are the
caller's business. Neither test compares all pairs: hashes go through a pigeonhole band index (with ``t``
allowed differing bits, two hashes that match have at least one of ``t + 1`` disjoint bit bands in common), and
embeddings through the k nearest neighbours of a :class:`~pixlens.vectors.VectorIndex`.

Defaults, measured on the 30 sample photos (``tests/test_duplicates.py`` re-measures them):

- pHash (``PerceptualHash`` of the properties analyser, the classic DCT hash): copies halved/quartered and
  JPEG-recompressed at quality 70/40 differ by 0-2 bits; a 90 % crop by 4-18; different photos by 22-46
  (mean 31). Rotation and mirroring change the hash completely (24-40 bits). Default: 8 bits.
- embedding (EfficientNet-Lite0, rotation-averaged): resized + recompressed copies 0.79-0.96, rotated copies 1.00,
  mirrored 0.98+, 90 % crops 0.93+; different photos at most 0.59 (mean 0.34). But copies shrunk to a quarter
  and recompressed at quality 40 reach 0.72 between *different* photos (degraded thumbnails look alike) and
  only 0.55-0.80 with their own original (the hash catches those). Default: 0.75.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pixlens.vectors import VectorIndex

DEFAULT_MAX_HASH_DISTANCE = 8
DEFAULT_MIN_SIMILARITY = 0.75
DEFAULT_NEIGHBOURS = 10
HASH_BITS = 64


@dataclass(frozen=True)
class Item:
    id: int
    phash: str | None = None  # 16 hex digits
    embedding: Sequence[float] | np.ndarray[Any, Any] | None = None  # L2-normalised


@dataclass(frozen=True)
class Pair:
    """Why two images are linked: their hash distance (bits) and/or their cosine similarity."""

    first: int
    second: int
    hash_distance: int | None = None
    similarity: float | None = None


@dataclass
class DuplicateGroup:
    members: list[int]  # sorted ids
    pairs: list[Pair] = field(default_factory=list)  # the links found inside the group


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, first: int, second: int) -> None:
        a, b = self.find(first), self.find(second)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def hash_pairs(hashes: dict[int, str], max_distance: int = DEFAULT_MAX_HASH_DISTANCE) -> dict[tuple[int, int], int]:
    """Pairs of ids whose hashes differ in at most ``max_distance`` bits, with the distance."""
    values = {image_id: int(value, 16) for image_id, value in hashes.items()}
    bands = max(1, min(max_distance + 1, HASH_BITS))
    edges = [int(edge) for edge in np.linspace(0, HASH_BITS, bands + 1)]
    found: dict[tuple[int, int], int] = {}
    for low, high in itertools.pairwise(edges):
        mask = (1 << (high - low)) - 1
        buckets: dict[int, list[int]] = defaultdict(list)
        for image_id, value in values.items():
            buckets[(value >> low) & mask].append(image_id)
        for members in buckets.values():
            for i, first in enumerate(members):
                for second in members[i + 1 :]:
                    key = (min(first, second), max(first, second))
                    if key not in found:
                        distance = (values[first] ^ values[second]).bit_count()
                        if distance <= max_distance:
                            found[key] = distance
    return found


def embedding_pairs(
    embeddings: dict[int, np.ndarray[Any, np.dtype[np.float32]]],
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    neighbours: int = DEFAULT_NEIGHBOURS,
    index: VectorIndex | None = None,
) -> dict[tuple[int, int], float]:
    """Pairs of ids whose embeddings have a cosine of at least ``min_similarity``, among each one's k-NN.

    ``index`` may be the catalog's index (holding these ids and maybe others, which are ignored); without it a
    temporary in-memory index is built. Similarities are recomputed exactly from the given embeddings.
    """
    if len(embeddings) < 2:
        return {}
    ids = list(embeddings)
    matrix = np.stack([embeddings[image_id] for image_id in ids]).astype(np.float32)
    if index is None:
        from pixlens.vectors import VectorIndex

        index = VectorIndex(None, matrix.shape[1])
        index.add(ids, matrix)
    found: dict[tuple[int, int], float] = {}
    results = index.search_many(matrix, neighbours + 1)
    for image_id, row, hits in zip(ids, matrix, results, strict=True):
        for other, _ in hits:
            if other == image_id or other not in embeddings:
                continue
            key = (min(image_id, other), max(image_id, other))
            if key in found:
                continue
            similarity = float(np.dot(row, embeddings[other]))
            if similarity >= min_similarity:
                found[key] = similarity
    return found


def find_duplicates(
    items: Iterable[Item | tuple[int, str | None, Sequence[float] | np.ndarray[Any, Any] | None]],
    *,
    max_hash_distance: int = DEFAULT_MAX_HASH_DISTANCE,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    neighbours: int = DEFAULT_NEIGHBOURS,
    index: VectorIndex | None = None,
) -> list[DuplicateGroup]:
    """Groups of two or more duplicate images, largest first (then by smallest id)."""
    hashes: dict[int, str] = {}
    embeddings: dict[int, np.ndarray[Any, np.dtype[np.float32]]] = {}
    for entry in items:
        item = entry if isinstance(entry, Item) else Item(*entry)
        if item.phash:
            hashes[item.id] = item.phash
        if item.embedding is not None and len(item.embedding):
            vector = np.asarray(item.embedding, dtype=np.float32).reshape(-1)
            embeddings[item.id] = vector / max(float(np.linalg.norm(vector)), 1e-12)
    by_hash = hash_pairs(hashes, max_hash_distance)
    by_embedding = embedding_pairs(embeddings, min_similarity, neighbours, index)

    union = _UnionFind()
    for first, second in [*by_hash, *by_embedding]:
        union.union(first, second)
    groups: dict[int, DuplicateGroup] = {}
    for key in sorted(set(by_hash) | set(by_embedding)):
        pair = Pair(key[0], key[1], by_hash.get(key), by_embedding.get(key))
        group = groups.setdefault(union.find(key[0]), DuplicateGroup(members=[]))
        group.pairs.append(pair)
    for group in groups.values():
        group.members = sorted({member for pair in group.pairs for member in (pair.first, pair.second)})
    return sorted(groups.values(), key=lambda group: (-len(group.members), group.members[0]))
