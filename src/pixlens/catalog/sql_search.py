"""Search in the SQL catalogs: a query evaluated over the postings of its terms (``sets.py``, ``postings.py``) in
one read transaction, then the keys and matched labels of one page. Written once; each catalog gives its
dialect, its connections and its full-text reads."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

import numpy as np
from pyroaring import BitMap

from pixlens.catalog.base import Hit, Resolver, weighted
from pixlens.catalog.facets import CATEGORY
from pixlens.catalog.postings import UNIVERSE, Postings
from pixlens.catalog.sets import Evaluation, Posting
from pixlens.catalog.sqldialect import Connection, Dialect
from pixlens.catalog.sqlplan import NEAR, TEXT, positive_entries
from pixlens.geo import Circle
from pixlens.query import Node, Term

T = TypeVar("T")
Built = list[tuple[str, int, Posting]]  # postings built from the index during a search: (entry, generation, posting)
Scale = tuple[float, ...] | None


class SqlSearch(ABC):
    """The search methods of a SQL catalog."""

    dialect: Dialect
    _postings: Postings

    @abstractmethod
    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        """One statement on this thread's read connection (inside ``_search_read``: in its transaction)."""

    def _again(self, work: Callable[[], T]) -> T:
        """``work()`` (several reads in one snapshot), again where the catalog can lose its connection."""
        return work()

    @abstractmethod
    def _search_read(self) -> AbstractContextManager[tuple[Connection, Built]]:
        """One read transaction for a search, and the postings built in it (saved after it)."""

    @abstractmethod
    def _text(self, phrase: str) -> Posting:
        """The images whose text holds the phrase (stemmed words, any case); a match scores 100."""

    def _term(
        self, conn: Connection, entries: list[str], op: str | None, threshold: float | None, scale: Scale
    ) -> tuple[Posting, Built]:
        """``Postings.term`` (a catalog may say its driver's errors its own way)."""
        return self._postings.term(conn, entries, op, threshold, scale)

    def search(self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0) -> list[Hit]:
        return self.page(query, resolve, limit, offset)[0]

    def page(
        self, query: Node, resolve: Resolver, limit: int = 20, offset: int = 0, after: tuple[float, int] | None = None
    ) -> tuple[list[Hit], int]:
        """One page of hits, best first, and the number of all hits (one snapshot: a write meanwhile is seen
        entirely or not at all)."""
        return self._again(lambda: self._page(query, resolve, limit, offset, after))

    def _page(
        self, query: Node, resolve: Resolver, limit: int, offset: int, after: tuple[float, int] | None
    ) -> tuple[list[Hit], int]:
        with self._search_read() as (conn, built):
            evaluation = self._evaluate(conn, query, resolve, built)
            page = evaluation.page(limit, offset, after)
            return self._hits(query, resolve, page), evaluation.count()

    def facets(self, query: Node, resolve: Resolver, entries: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(entries))
        return self._again(lambda: self._facets(query, resolve, wanted))

    def _facets(self, query: Node, resolve: Resolver, wanted: list[str]) -> dict[str, int]:
        with self._search_read() as (conn, built):
            hits = self._evaluate(conn, query, resolve, built).matching(query)
            if not wanted or not hits:
                return {}
            found, new = self._postings.get(conn, wanted)
            built.extend(new)
            return {entry: hits.intersection_cardinality(p.bitmap) for entry, p in zip(wanted, found, strict=True)}

    def count(self, query: Node, resolve: Resolver) -> int:
        return self._again(lambda: self._count(query, resolve))

    def _count(self, query: Node, resolve: Resolver) -> int:
        with self._search_read() as (conn, built):
            return self._evaluate(conn, query, resolve, built).count()

    def matching(self, query: Node, resolve: Resolver, keys: Iterable[str]) -> list[str]:
        wanted = list(keys)
        if not wanted:
            return []
        return self._again(lambda: self._matching(query, resolve, wanted))

    def _matching(self, query: Node, resolve: Resolver, wanted: list[str]) -> list[str]:
        with self._search_read() as (conn, built):
            hits = self._evaluate(conn, query, resolve, built).matching(query)
            found: list[str] = []
            for batch in self.dialect.batches(wanted):
                where, params = self.dialect.any_of("key", batch)
                found += [
                    key
                    for image_id, key in self._read(f"SELECT id, key FROM images WHERE {where}", params)
                    if image_id in hits
                ]
            return found

    def _evaluate(self, conn: Connection, query: Node, resolve: Resolver, built: Built) -> Evaluation:
        def postings(entries: list[str], op: str | None, threshold: float | None, scale: Scale) -> Posting:
            found, new = self._term(conn, entries, op, threshold, scale)
            built.extend(new)
            return found

        def fetch(term: Term) -> Posting:
            weights = weighted(resolve(term))
            entries = list(weights)
            if not entries:
                return Posting.empty()
            if entries[0].startswith(TEXT):
                found = self._text(entries[0].removeprefix(TEXT))
            elif entries[0].startswith(NEAR):
                found = self._near(entries[0].removeprefix(NEAR))
            else:
                scale = tuple(weights.values()) if any(w != 1.0 for w in weights.values()) else None
                return postings(entries, term.op, term.threshold, scale)
            if term.op is not None and term.threshold is not None:
                found = found.within(term.op, term.threshold)
            return found

        def universe() -> BitMap:
            return postings([UNIVERSE], None, None, None).bitmap

        return Evaluation(query, fetch, universe)

    def _near(self, circle_text: str) -> Posting:
        """The images within a circle ("latitude,longitude,radius_km"): candidates from boxes of the position index,
        then the exact great-circle distance; a hit scores 100 at the centre down to 0 at the edge (included)."""
        latitude, longitude, radius = (float(part) for part in circle_text.split(","))
        circle = Circle(latitude, longitude, radius)
        sql = self.dialect.sql(
            f"""SELECT id, latitude, longitude FROM images
                WHERE latitude BETWEEN ? AND ? AND longitude BETWEEN ? AND ? AND {self.dialect.analysed}"""
        )
        rows: dict[int, tuple[float, float]] = {}
        for south, north, west, east in circle.boxes():
            for image_id, lat, lon in self._read(sql, (south, north, west, east)):
                rows[image_id] = (lat, lon)
        if not rows:
            return Posting.empty()
        ids = np.fromiter(rows, np.uint32, len(rows))
        where = np.array(list(rows.values()), dtype=np.float64)
        distances = circle.distances(where[:, 0], where[:, 1])
        inside = distances <= radius
        scores = np.clip(100.0 * (1.0 - distances[inside] / radius), 0.0, 100.0)
        return Posting.from_rows(ids[inside], scores)

    def _hits(self, query: Node, resolve: Resolver, page: list[tuple[int, float]]) -> list[Hit]:
        """Keys and matched labels for the rows of one page only."""
        if not page:
            return []
        ids = [image_id for image_id, _ in page]
        where, params = self.dialect.any_of("id", ids)
        keys = dict(self._read(f"SELECT id, key FROM images WHERE {where}", params))
        matched: dict[int, dict[str, float]] = {image_id: {} for image_id in ids}
        entries = positive_entries(query, resolve)
        if entries:
            of_images, image_params = self.dialect.any_of("image_id", ids)
            of_entries, entry_params = self.dialect.any_of("label", entries)
            for label, confidence, image_id in self._read(
                f"SELECT label, confidence, image_id FROM label_index WHERE {of_images} AND {of_entries}",
                [*image_params, *entry_params],
            ):
                matched[image_id][label.removeprefix(CATEGORY)] = confidence
        return [
            Hit(key=keys[image_id], score=round(score, 2), matched=matched[image_id], place=(score, image_id))
            for image_id, score in page
            if image_id in keys
        ]
