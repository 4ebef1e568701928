"""Duplicate groups: pure logic over (id, perceptual hash, embedding) triples.

Two images are linked when

- their 64-bit perceptual hashes differ in at most ``max_hash_distance`` bits, up to a rotation or mirror of one
  of the images (resized, recompressed, rotated by 90/180/270 degrees and mirrored copies): the hash of
  :mod:`pixlens.analysis.properties` gives the hashes of the 8 rotations and mirrors of an image by bit
  operations, and the distance of a pair is the minimum over them; or
- their embeddings have a cosine similarity of at least ``min_similarity`` (resized, recompressed and slightly
  cropped copies, through the embedding of :mod:`pixlens.analysis.embedding`; it is not rotation-invariant);

linked images form groups (union-find: the transitive closure). Identical bytes (same content sha) are the
caller's business. Neither test compares all pairs: hashes go through a pigeonhole band index (with ``t``
allowed differing bits, two hashes that match have at least one of ``t + 1`` disjoint bit bands in common),
queried with the 8 variants of each hash, and embeddings through the k nearest neighbours of a
:class:`~pixlens.vectors.VectorIndex`.

Defaults, measured on the 30 sample photos (``tests/test_duplicates.py`` re-measures them):

- pHash (``PerceptualHash`` of the properties analyser, the signs of the low DCT frequencies), minimum over the
  8 variants: copies halved/quartered and JPEG-recompressed at quality 75/70/50/40 differ by 0-3 bits, rotated
  and mirrored copies by 0 (0-3 when also resized and recompressed); heavier edits (1/8 size, quality 20,
  20 % brighter) at most 6, at the limit; a 90 % crop 4-18; different photos 16-33 (mean 26; 22-42 without the variants:
  trying 8 orientations costs about 3 bits of selectivity). Default: 6 bits, 3 above the copies and 10 below
  the nearest different photos. Its cost grows fast with the threshold: 100,000 random hashes take 1.3 s at
  3 bits, 5 s at 6 and 26 s at 8, where 22 pairs of them match by chance (none at 6; random bits: about
  ``8 * P(Binomial(63, 1/2) <= t)`` per pair, 7e-11 at 6, 4e-9 at 8).
- embedding (EfficientNet-Lite2, the labels' classifier): resized + recompressed copies 0.77-0.97 (mean 0.86),
  90 % crops 0.88+, mirrored copies 0.92+ (the hash finds those anyway); different photos at most 0.52 (mean
  0.25). Copies shrunk to a quarter and recompressed at quality 40 are only 0.43-0.90 like their original (the
  hash catches those); rotated copies 0.37-0.88 (the hash again). Default: 0.70, between 0.52 and 0.77.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pixlens.analysis.properties import dihedral_array
from pixlens.catalog.base import DuplicateSet

if TYPE_CHECKING:
    from pixlens.vectors import VectorIndex

DEFAULT_MAX_HASH_DISTANCE = 6
DEFAULT_MIN_SIMILARITY = 0.70
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
    """Pairs of ids whose hashes, up to a rotation or mirror, differ in at most ``max_distance`` bits.

    The distance of a pair is the minimum over the 8 rotations and mirrors of one image's hash
    (:func:`~pixlens.analysis.properties.dihedral_variants`) against the other's: the same from either side,
    since a variant only permutes and flips bits. The stored hashes go into a pigeonhole band index (``t + 1``
    disjoint bands of bits, each sorted by its value), queried with the 8 variants of each hash: the best variant
    of a hash that matches another shares a band with it. Either side alone finds a pair, so each image only
    looks at the images after it. In NumPy, the candidates of many images at once.
    """
    if len(hashes) < 2:
        return {}
    ids = list(hashes)
    values = np.array([int(value, 16) for value in hashes.values()], dtype=np.uint64)
    variants = dihedral_array(values)
    count = len(ids)
    positions = np.arange(count, dtype=np.int64)
    bands = max(1, min(max_distance + 1, HASH_BITS))
    edges = [int(edge) for edge in np.linspace(0, HASH_BITS, bands + 1)]
    firsts: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    seconds: list[np.ndarray[Any, np.dtype[np.int64]]] = []
    for low, high in itertools.pairwise(edges):
        shift, mask = np.uint64(low), np.uint64((1 << (high - low)) - 1)
        keys = (values >> shift) & mask
        order = np.argsort(keys, kind="stable")  # by band value, then by position
        distinct, rank = np.unique(keys[order], return_inverse=True)
        ordered = rank.astype(np.int64) * count + order  # increasing: (band value, position) as one number
        stored = values[order]
        for variant in variants:
            query = (variant >> shift) & mask
            found_rank = np.minimum(np.searchsorted(distinct, query), len(distinct) - 1)
            begin = np.searchsorted(ordered, found_rank * count + positions + 1)  # same band value, after it
            end = np.searchsorted(ordered, (found_rank + 1) * count)
            sizes = np.where(distinct[found_rank] == query, end - begin, 0)
            for first, second in _band_candidates(variant, stored, begin, sizes, max_distance):
                firsts.append(first)
                seconds.append(order[second])
    if not firsts:
        return {}
    unique = np.unique(np.concatenate(firsts) * count + np.concatenate(seconds))
    first_positions, second_positions = unique // count, unique % count
    distances = np.bitwise_count(variants[:, first_positions] ^ values[second_positions]).min(axis=0)
    return {
        (min(ids[a], ids[b]), max(ids[a], ids[b])): int(distance)
        for a, b, distance in zip(first_positions.tolist(), second_positions.tolist(), distances.tolist(), strict=True)
    }


_CHUNK = 1 << 20  # candidate pairs examined at once


def _band_candidates(
    query: np.ndarray[Any, np.dtype[np.uint64]],
    stored: np.ndarray[Any, np.dtype[np.uint64]],
    begin: np.ndarray[Any, np.dtype[np.int64]],
    sizes: np.ndarray[Any, np.dtype[np.int64]],
    max_distance: int,
) -> Iterator[tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]]:
    """(query positions, positions in ``stored``) of the pairs within ``max_distance`` bits, in chunks.

    Query ``i`` is compared with ``stored[begin[i] : begin[i] + sizes[i]]``.
    """
    totals = np.cumsum(sizes)
    start = 0
    while start < len(sizes):
        # as many queries as fit in a chunk (at least one)
        stop = max(start + 1, int(np.searchsorted(totals, (totals[start - 1] if start else 0) + _CHUNK, "right")))
        chunk = sizes[start:stop]
        total = int(chunk.sum())
        if total:
            first = np.repeat(np.arange(start, stop, dtype=np.int64), chunk)
            second = np.repeat(begin[start:stop] - (np.cumsum(chunk) - chunk), chunk) + np.arange(total)
            near = np.bitwise_count(query[first] ^ stored[second]) <= max_distance
            yield first[near], second[near]
        start = stop


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
    chunks = [(ids, matrix)]
    return streamed_embedding_pairs(
        chunks, embeddings, index, lambda wanted: {i: embeddings[i] for i in wanted}, min_similarity, neighbours
    )


# The index stores vectors at a lower precision (f16, i8): its similarities may be off by about 1e-3 (f16) to
# 1e-2 (i8); a neighbour this close below the threshold is checked with the exact vectors.
INDEX_MARGIN = 0.03


def streamed_embedding_pairs(
    chunks: Iterable[tuple[Sequence[int], np.ndarray[Any, Any]]],
    members: Container[int],
    index: VectorIndex,
    vectors_of: Callable[[list[int]], dict[int, np.ndarray[Any, Any]]],
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> dict[tuple[int, int], float]:
    """:func:`embedding_pairs` over embeddings that come a chunk at a time (a catalog of millions).

    ``chunks`` yields (ids, vectors); only ids in ``members`` take part. Neighbours come from ``index``; the few
    whose indexed similarity is near or above the threshold get their exact vectors from ``vectors_of``.
    """
    found: dict[tuple[int, int], float] = {}
    for chunk_ids, chunk in chunks:
        rows = [row for row, image_id in enumerate(chunk_ids) if image_id in members]
        if not rows:
            continue
        ids = [chunk_ids[row] for row in rows]
        matrix = _normalised(np.asarray(chunk, dtype=np.float32)[rows])
        candidates: list[tuple[int, int]] = []  # (row in matrix, other id)
        for row, (image_id, hits) in enumerate(zip(ids, index.search_many(matrix, neighbours + 1), strict=True)):
            for other, similarity in hits:
                if other != image_id and other in members and similarity >= min_similarity - INDEX_MARGIN:
                    candidates.append((row, other))
        exact = {i: _normalised(np.asarray(v, dtype=np.float32)) for i, v in vectors_of(_others(candidates)).items()}
        for row, other in candidates:
            key = (min(ids[row], other), max(ids[row], other))
            if key in found or other not in exact:
                continue
            similarity = float(np.dot(matrix[row], exact[other]))
            if similarity >= min_similarity:
                found[key] = similarity
    return found


def _others(candidates: list[tuple[int, int]]) -> list[int]:
    return sorted({other for _, other in candidates})


def _normalised(vectors: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
    unit: np.ndarray[Any, np.dtype[np.float32]] = (vectors / norms).astype(np.float32)
    return unit


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
    return group_pairs(by_hash, by_embedding)


def group_pairs(
    by_hash: dict[tuple[int, int], int], by_embedding: dict[tuple[int, int], float]
) -> list[DuplicateGroup]:
    """The linked pairs joined into groups (the transitive closure), largest first (then by smallest id)."""
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


# -- what a catalog calls: its rows and embeddings in, the duplicate sets out ---------------------------------------
class EmbeddingSource(Protocol):
    """A catalog's image embeddings: a nearest-neighbour index over them, all of them a chunk at a time (millions
    do not fit in memory), and some of them exactly."""

    def vector_index(self) -> Any: ...  # a VectorIndex (search_many), None while there are no vectors

    def embedding_chunks(self) -> Iterator[tuple[list[int], np.ndarray[Any, np.dtype[np.float32]]]]: ...

    def embeddings_of(self, ids: list[int]) -> dict[int, np.ndarray[Any, np.dtype[np.float32]]]: ...


def duplicate_sets(
    images: Iterable[tuple[int, str, str | None, str | None]],
    embeddings: EmbeddingSource,
    max_hash_distance: int | None = None,
    min_similarity: float | None = None,
) -> list[DuplicateSet]:
    """A catalog's duplicate sets, largest first, from its analysed images ``(id, key, content sha, perceptual
    hash)`` in id order: images with the same content are one member of the hash and embedding tests (the first
    of them stands for all), and a content held by several images that nothing else links is a set of its own
    (``identical``)."""
    rows = list(images)
    copies: dict[str, list[tuple[int, str]]] = {}  # content sha -> (id, key) of every image with it
    for image_id, key, sha, _ in rows:
        copies.setdefault(sha or f"id:{image_id}", []).append((image_id, key))
    first = {members[0][0]: sha for sha, members in copies.items()}  # one image per content
    hashes = {image_id: phash for image_id, _, _, phash in rows if image_id in first and phash}
    by_hash = hash_pairs(hashes, DEFAULT_MAX_HASH_DISTANCE if max_hash_distance is None else max_hash_distance)
    index = embeddings.vector_index()
    by_embedding = (
        {}
        if index is None
        else streamed_embedding_pairs(
            embeddings.embedding_chunks(),
            first,
            index,
            embeddings.embeddings_of,
            DEFAULT_MIN_SIMILARITY if min_similarity is None else min_similarity,
        )
    )
    groups = group_pairs(by_hash, by_embedding)
    keys = {image_id: key for image_id, key, _, _ in rows}
    found: list[DuplicateSet] = []
    for group in groups:
        members = [key for image_id in group.members for _, key in copies[first[image_id]]]
        links = [(keys[p.first], keys[p.second], p.hash_distance, p.similarity) for p in group.pairs]
        found.append(DuplicateSet(members, identical=False, links=links))
    grouped = {image_id for group in groups for image_id in group.members}
    for image_id, sha in first.items():
        if len(copies[sha]) > 1 and image_id not in grouped:
            found.append(DuplicateSet([key for _, key in copies[sha]], identical=True, links=[]))
    return sorted(found, key=lambda d: (-len(d.keys), d.keys[0]))
