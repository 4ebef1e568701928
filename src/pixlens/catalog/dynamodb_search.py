"""Reading the DynamoDB catalog's index: one entry's images as a ``Posting`` (paginated Queries of its shards, best
first), the images with an analysis (for NOT), phrases of text, and the images near a place.

A phrase is found as SQLite's full-text index finds it, with the same tokenizer (SQLite's FTS5, ``porter
unicode61``, in memory): each image's text is indexed as the list of its word stems (``/word/<stem>``); the
images holding every stem of the phrase are read back with their text and matched in an in-memory FTS5 table.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pyroaring import BitMap

from pixlens.catalog.dynamodb_items import (
    ANALYSED,
    count_name,
    entry_list,
    geo_list,
    geo_rank,
    text_name,
    unrank,
    word_list,
)
from pixlens.catalog.dynamodb_schema import RANK
from pixlens.catalog.dynamodb_table import Table
from pixlens.catalog.sets import Posting
from pixlens.geo import Circle

TOKENIZER = "porter unicode61 remove_diacritics 2"  # the SQLite catalog's text_fts
BAND_DEGREES = 1  # near: the images' positions are listed per band of latitude, by longitude within a band
THREADS = 8

_local = threading.local()


def _fts() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "fts", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.execute(f"CREATE VIRTUAL TABLE texts USING fts5(text, tokenize = '{TOKENIZER}')")
        conn.execute("CREATE VIRTUAL TABLE words USING fts5vocab(texts, instance)")
        _local.fts = conn
    return conn


def stems(text: str) -> list[str]:
    """The word stems of a text, in order, as the SQLite catalog's full-text index makes them."""
    conn = _fts()
    with conn:
        conn.execute("DELETE FROM texts")
        conn.execute("INSERT INTO texts (rowid, text) VALUES (1, ?)", (text,))
        found = [row[0] for row in conn.execute("SELECT term FROM words ORDER BY offset")]
        conn.execute("DELETE FROM texts")
    return found


def phrase_hits(texts: dict[int, str], phrase: str) -> list[int]:
    """Those of the texts (by image id) that hold the phrase (stemmed words, any case)."""
    conn = _fts()
    query = '"' + " ".join(phrase.split()).replace('"', '""') + '"'
    with conn:
        conn.execute("DELETE FROM texts")
        conn.executemany("INSERT INTO texts (rowid, text) VALUES (?, ?)", texts.items())
        found = [row[0] for row in conn.execute("SELECT rowid FROM texts WHERE texts MATCH ?", (query,))]
        conn.execute("DELETE FROM texts")
    return found


class IndexReader:
    """Postings read off the table's index (see the module docstring)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.pool = ThreadPoolExecutor(THREADS, thread_name_prefix="pixlens-dynamodb")

    def close(self) -> None:
        self.pool.shutdown(wait=False)

    def shards(self, entries: Iterable[str]) -> dict[str, int]:
        """How many shards each counted entry's list has (0: no image holds it)."""
        wanted = list(entries)
        found = self.table.batch_get([count_name(entry) for entry in wanted], ["pxShards"])
        return {entry: int(found.get(count_name(entry), {}).get("pxShards", 0)) for entry in wanted}

    def ranks(self, lists: list[str], low: int | None = None, high: int | None = None) -> list[tuple[Any, Any]]:
        """(rank, pxV) of every item of these index lists, read in parallel (each list paginated)."""

        def read(name: str) -> list[tuple[Any, Any]]:
            return [(item[RANK], item.get("pxV")) for item in self.table.query(name, low, high)]

        if len(lists) == 1:
            return read(lists[0])
        return [row for rows in self.pool.map(read, lists) for row in rows]

    def postings(self, entries: list[str]) -> dict[str, Posting]:
        """Each counted entry's images with their confidences."""
        shards = self.shards(entries)

        def one(entry: str) -> Posting:
            count = shards[entry]
            if count == 0:
                return Posting.empty()
            rows = self.ranks([entry_list(entry, shard) for shard in range(count)])
            return _posting(rows)

        if len(entries) == 1:
            return {entries[0]: one(entries[0])}
        return dict(zip(entries, self.pool.map(one, entries), strict=True))

    def posting(self, entry: str) -> Posting:
        return self.postings([entry])[entry]

    def uncounted(self, name: str) -> Posting:
        """The images of one uncounted list (a word, a content hash)."""
        return _posting(self.ranks([name]))

    def universe(self) -> BitMap:
        return self.posting(ANALYSED).bitmap

    def text(self, phrase: str) -> Posting:
        """Images whose text holds the phrase; a match scores 100, as in SQLite."""
        words = list(dict.fromkeys(stems(phrase)))
        if not words:
            return Posting.empty()
        candidates = BitMap.intersection(*(self.uncounted(word_list(word)).bitmap for word in words))
        if not candidates:
            return Posting.empty()
        items = self.table.batch_get([text_name(image_id) for image_id in candidates], ["pxText"])
        texts = {
            image_id: str(items[text_name(image_id)]["pxText"])
            for image_id in candidates
            if text_name(image_id) in items
        }
        hits = np.asarray(sorted(phrase_hits(texts, phrase)), dtype=np.uint32)
        return Posting.from_rows(hits, np.full(len(hits), 100.0)) if len(hits) else Posting.empty()

    def near(self, circle_text: str) -> Posting:
        """The images within a circle ("latitude,longitude,radius_km"), scored 100 at the centre down to 0 at the
        edge (as SQLite's)."""
        latitude, longitude, radius = (float(part) for part in circle_text.split(","))
        circle = Circle(latitude, longitude, radius)
        found: dict[int, tuple[float, float]] = {}
        for south, north, west, east in circle.boxes():
            bands = range(math.floor(south / BAND_DEGREES), math.floor(north / BAND_DEGREES) + 1)
            low, high = geo_rank(west, 0), geo_rank(east, 0) + 10**10 - 1
            for value, lat in self.ranks([geo_list(band) for band in bands], low, high):
                lon_micro, image_id = unrank(value)
                if lat is not None and south <= float(lat) <= north:
                    found[image_id] = (float(lat), lon_micro / 1e6 - 180.0)
        if not found:
            return Posting.empty()
        ids = np.fromiter(found, np.uint32, len(found))
        where = np.array(list(found.values()), dtype=np.float64)
        distances = circle.distances(where[:, 0], where[:, 1])
        inside = distances <= radius
        scores = np.clip(100.0 * (1.0 - distances[inside] / radius), 0.0, 100.0)
        return Posting.from_rows(ids[inside], scores)


def _posting(rows: list[tuple[Any, Any]]) -> Posting:
    if not rows:
        return Posting.empty()
    values = np.array([int(value) for value, _ in rows], dtype=object)
    high = np.array([value // 10**10 for value in values], dtype=np.float64)
    ids = np.array([value % 10**10 for value in values], dtype=np.uint32)
    return Posting.from_rows(ids, high / 1000.0)
