"""The Catalog port: one record per image, keyed by the image's key, plus the indexes that make search fast."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
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


@dataclass(frozen=True)
class ApiKeyRow:
    """An API key as stored: never the key itself, only its SHA-256 (hex) and a short prefix to recognise it by.
    Times are ISO 8601 UTC text."""

    id: int
    name: str | None
    scope: str
    prefix: str
    sha256: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


@dataclass(frozen=True)
class HookRow:
    """A saved search with a webhook: every newly analysed image that ``query`` matches is POSTed to ``url``."""

    id: int
    name: str
    query: str
    url: str
    secret: str | None
    created_at: str


@dataclass(frozen=True)
class DeliveryRow:
    """One webhook delivery (one image matched by one hook): its JSON body and how sending it went.

    ``status`` is ``pending``, ``delivered`` or ``dead``; ``next_attempt_at`` (ISO 8601 UTC, fixed width, so that
    text order is time order) is when a pending one is due."""

    id: str
    hook_id: int
    hook: str
    image: str
    body: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


# Turns one query term into the index entries it must match (label names, or "category:<Name>"), each either
# plain or with a weight 0-1 that scales its confidences in the ranking (a word's rarer meaning ranks lower).
Resolved = Sequence[str] | Mapping[str, float]
Resolver = Callable[[Term], Resolved]


def weighted(resolved: Resolved) -> dict[str, float]:
    """Entries with their weights (1.0 where none is given)."""
    if isinstance(resolved, Mapping):
        return dict(resolved)
    return dict.fromkeys(resolved, 1.0)


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

    def generation(self) -> Hashable | None:
        """A token that changes whenever a write to the catalog is committed (by this process or another), so that
        an answer computed after reading it may be reused while it stays the same; None: this catalog cannot tell
        cheaply (answers are never reused)."""

    def entries(self, prefix: str) -> list[str]:
        """Every index entry that starts with ``prefix`` (``taken:``, ``place:``...), sorted."""

    def labels(self) -> list[tuple[str, int]]:
        """Every indexed label (parents included) with its number of images, most frequent first."""

    def status_counts(self) -> dict[str, int]:
        """How many images are pending, analysed and failed (cheap: for a queue depth)."""

    def failures(self, limit: int = 100) -> list[tuple[str, str | None, str]]:
        """The images that failed, latest first: (key, the reason, when)."""

    def stats(self) -> dict[str, object]:
        """Counts by status, number of labels, size on disk."""

    def similar(self, key: str, k: int = 10) -> list[tuple[str, float]]:
        """The ``k`` images most like ``key`` (cosine similarity of their embeddings), best first."""

    def people(self) -> list[PersonRow]:
        """The people that faces were clustered into, most faces first."""

    def person_names(self, person_ids: Iterable[int]) -> dict[int, str]:
        """The names of those of these people who have one."""

    def top_people(self, limit: int) -> list[tuple[int, str | None]]:
        """The ``limit`` people with the most faces: (number, name), cheaply (for facets)."""

    def person_ids(self, name: str) -> list[int]:
        """The people with this name (any case), or the one with this number."""

    def name_person(self, person_id: int, name: str | None) -> bool:
        """Name (or un-name) a person; False if there is no such person."""

    def duplicates(
        self, max_hash_distance: int | None = None, min_similarity: float | None = None
    ) -> list[DuplicateSet]:
        """Groups of identical and near-identical images, largest first (thresholds: pixlens.duplicates's
        defaults unless given)."""

    def matching(self, query: Node, resolve: Resolver, keys: Iterable[str]) -> list[str]:
        """Those of the given images that a parsed query matches (as ``search`` would find them), in no order."""

    # -- API keys (pixlens.access) ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        """Store a new API key, made at ``when`` (its hash and display prefix only)."""

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        """Every API key, revoked ones too, oldest first; or only those whose display prefix is ``prefix``."""

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        """Mark a key revoked at ``when`` (unless it already was); None if there is no such key."""

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        """Record that a key was used at ``when``, unless its last use recorded is at or after ``unless_since``."""

    # -- saved searches with webhooks (pixlens.webhooks) ----
    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        """Save a hook; None when the name is taken."""

    def hooks(self) -> list[HookRow]:
        """Every hook, by name."""

    def remove_hook(self, name: str) -> bool:
        """Remove a hook and its deliveries; False if there is no such hook."""

    def unmatched(self, limit: int = 500) -> list[str]:
        """Images analysed (written with a new analysis while saved searches existed) and not matched yet."""

    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched: Iterable[str] = ()) -> None:
        """Queue deliveries, and mark the ``matched`` images as matched, in one transaction."""

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        """The pending deliveries due by ``due_by``, oldest due first, each moved to ``lease_until`` in the same
        transaction, so that another sender (another process) does not take them meanwhile."""

    def update_delivery(self, delivery: DeliveryRow) -> None:
        """Record how an attempt to send a delivery went: its status, attempts, next attempt, error, time."""

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        """The most recent deliveries (of one hook, by name), newest first."""

    def snapshot(self) -> AbstractContextManager[object]:
        """Several reads on this thread that see one state of the catalog (a search and its facets); a catalog
        without read transactions (DynamoDB) gives each read its own."""

    def check(self) -> list[str]:
        """A full consistency check: every problem found, as sentences (empty: sound)."""

    def close(self) -> None:
        """Release connections."""
