"""The Catalog port: one record per image, keyed by the image's key, plus the indexes that make search fast."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from pixlens.query import Node, Term
from pixlens.record import ImageRecord, Status


@dataclass(frozen=True)
class ImageState:
    """What reconcile needs to know about a catalogued image, without loading its record."""

    key: str
    status: Status
    etag: str | None
    sha256: str | None
    versions: dict[str, str]


@dataclass(frozen=True)
class Hit:
    """One search result: the image, its rank score (0-100) and the labels that matched, with confidences."""

    key: str
    score: float
    matched: dict[str, float] = field(default_factory=dict)
    place: tuple[float, int] | None = field(default=None, compare=False)  # (exact score, id): where a cursor resumes


@dataclass(frozen=True)
class PersonRow:
    """A person (a cluster of faces): number, name, how many faces and images."""

    id: int
    name: str | None
    faces: int
    images: int
    best_image: str | None = None  # the image holding the person's most confident face...
    best_face: int | None = None  # ... and its index in that record's FaceDetails


@dataclass(frozen=True)
class DuplicateSet:
    """Images that are copies of one another: identical bytes, or resized, recompressed or rotated copies."""

    keys: list[str]
    identical: bool  # every member has the same content
    links: list[tuple[str, str, int | None, float | None]]  # (image, image, hash bits apart, cosine similarity)


# Turns one query term into the index entries it must match (label names, or "category:<Name>").
Resolver = Callable[[Term], list[str]]


class Catalog(Protocol):
    """Storage of records. Every method is safe to call from several threads."""

    def get(self, key: str) -> ImageRecord | None:
        """The record of an image, or None."""

    def put(self, records: Iterable[ImageRecord]) -> None:
        """Insert or replace records, with their index entries, in one transaction (idempotent)."""

    def mark_pending(self, items: Iterable[tuple[str, str | None]], force: bool = False) -> int:
        """Record (key, etag) jobs as pending unless the catalog already has that etag (or ``force``)."""

    def delete(self, keys: Iterable[str]) -> int:
        """Remove images and their index entries; returns how many existed."""

    def states(self, keys: Iterable[str] | None = None) -> Iterator[ImageState]:
        """The state of every image (or of the given keys), for reconcile."""

    def with_content(self, sha256s: Iterable[str]) -> list[str]:
        """The keys of the images whose content has one of these SHA-256 hashes (exact copies of a file)."""

    def search(self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0) -> list[Hit]:
        """Images matching a parsed query, best first."""

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        """One page of hits, best first, and the number of all hits; with ``after`` (the ``place`` of the last hit
        of the previous page), the hits ranked below it: pages that new images cannot shift."""

    def facets(self, query: Node, resolve: Resolver, entries: Iterable[str]) -> dict[str, int]:
        """How many of the query's hits hold each of ``entries`` (index entries: labels, ``color:...``,
        ``has:text``...): counts over the whole result."""

    def count(self, query: Node, resolve: Resolver) -> int:
        """How many images match a parsed query."""

    def label_names(self) -> list[str]:
        """Every label name the index holds."""

    def labels(self) -> list[tuple[str, int]]:
        """Every indexed label (parents included) with its number of images, most frequent first."""

    def stats(self) -> dict[str, object]:
        """Counts by status, number of labels, size on disk."""

    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` images most like ``key`` (cosine similarity of their embeddings), best first."""

    def people(self) -> list[PersonRow]:
        """The people that faces were clustered into, most faces first."""

    def person_ids(self, name: str) -> list[int]:
        """The people with this name (any case), or the one with this number."""

    def name_person(self, person_id: int, name: str | None) -> bool:
        """Name (or un-name) a person; False if there is no such person."""

    def duplicates(
        self, max_hash_distance: int | None = None, min_similarity: float | None = None
    ) -> list[DuplicateSet]:
        """Groups of identical and near-identical images, largest first (thresholds: pixlens.duplicates's
        defaults unless given)."""

    def check(self) -> list[str]:
        """A full consistency check: every problem found, as sentences (empty: sound)."""

    def close(self) -> None:
        """Release connections."""
