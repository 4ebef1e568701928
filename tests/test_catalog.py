"""The SQLite catalog's own tables on a real database file, with records built by hand.

Covers idempotent upserts and the inverted index (labels, parents, categories) row by row, deletes, failures as
data, thread safety, the query plan of "all images with X", and reopening. What every catalog must do (the
pending ledger, states, the search semantics: AND, OR, NOT, thresholds, ranking, paging) is in
``test_catalog_port.py``, run on every catalog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from catalog_records import count, fill, find, keys, label, label_counts, record
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.sqlite import MIGRATIONS, SqliteCatalog
from pixlens.catalog.sqlplan import term_sql
from pixlens.query import Term, parse
from pixlens.record import Status
from pixlens.search import Searcher

# --- helpers ----------------------------------------------------------------------------------------------


def index_rows(catalog: SqliteCatalog, key: str) -> list[tuple[str, float]]:
    return [
        (row[0], row[1])
        for row in catalog._reader().execute(
            "SELECT l.label, l.confidence FROM label_index AS l JOIN images AS i ON i.id = l.image_id"
            " WHERE i.key = ? ORDER BY l.label",
            (key,),
        )
    ]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqliteCatalog]:
    instance = SqliteCatalog(tmp_path / "catalog.db")
    yield instance
    instance.close()


@pytest.fixture
def filled(catalog: SqliteCatalog) -> SqliteCatalog:
    fill(catalog)
    return catalog


# --- records ----------------------------------------------------------------------------------------------


def test_put_is_idempotent(catalog: SqliteCatalog) -> None:
    rec = record("a.jpg", label("Poodle", 80.0, ("Dog",)), label("Person", 60.0))
    catalog.put([rec])
    before = (label_counts(catalog), index_rows(catalog, "a.jpg"), catalog.stats()["images"])
    catalog.put([rec])
    catalog.put([rec, rec])
    after = (label_counts(catalog), index_rows(catalog, "a.jpg"), catalog.stats()["images"])
    assert before == after
    assert after[0] == {"Dog": 1, "Person": 1, "Poodle": 1}
    assert after[2] == 1
    rows = catalog._reader().execute("SELECT COUNT(*) FROM images WHERE key = 'a.jpg'").fetchone()
    assert rows[0] == 1


def test_replacing_a_record_replaces_its_index_entries(catalog: SqliteCatalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), label("Ball", 70.0)), record("b.jpg", label("Dog", 50.0))])
    assert label_counts(catalog) == {"Dog": 2, "Ball": 1}
    catalog.put([record("a.jpg", label("Cat", 85.0), label("Dog", 40.0))])
    assert label_counts(catalog) == {"Dog": 2, "Cat": 1}  # Ball (count 0) is gone from labels()
    assert "Ball" not in catalog.label_names()
    assert find(catalog, "ball") == []
    assert keys(find(catalog, "cat")) == ["a.jpg"]
    # The new confidence replaced the old one: b.jpg (50) now ranks above a.jpg (40).
    assert [(hit.key, hit.score) for hit in find(catalog, "dog")] == [("b.jpg", 50.0), ("a.jpg", 40.0)]
    assert index_rows(catalog, "a.jpg") == [("Cat", 85.0), ("Dog", 40.0)]


def test_index_holds_parents_with_the_childs_confidence(catalog: SqliteCatalog) -> None:
    catalog.put([record("p.jpg", label("Poodle", 77.0, ("Dog", "Canine", "Animal")))])
    hits = find(catalog, "dog")
    assert keys(hits) == ["p.jpg"]
    assert hits[0].score == 77.0
    assert hits[0].matched == {"Dog": 77.0}
    assert keys(find(catalog, "animal")) == ["p.jpg"]
    assert label_counts(catalog) == {"Animal": 1, "Canine": 1, "Dog": 1, "Poodle": 1}


def test_a_parent_takes_the_best_confidence_of_its_children(catalog: SqliteCatalog) -> None:
    catalog.put([record("p.jpg", label("Poodle", 60.0, ("Dog",)), label("Terrier", 85.0, ("Dog",)))])
    assert index_rows(catalog, "p.jpg") == [("Dog", 85.0), ("Poodle", 60.0), ("Terrier", 85.0)]


def test_index_holds_categories(catalog: SqliteCatalog) -> None:
    catalog.put(
        [
            record("p.jpg", label("Poodle", 77.0, ("Dog", "Animal"), ("Animals and Pets",))),
            record("car.jpg", label("Car", 88.0, ("Vehicle",), ("Vehicles and Automotive",))),
        ]
    )
    assert ("category:Animals and Pets", 77.0) in index_rows(catalog, "p.jpg")
    assert "category:Animals and Pets" not in catalog.label_names()  # categories are not label names
    # labels() lists labels only, and stats() does not count categories as labels.
    assert not any(name.startswith("category:") for name in dict(catalog.labels()))
    assert catalog.stats()["labels"] == 5

    searcher = Searcher(catalog, Taxonomy.load(), catalog.label_names())
    result = searcher.search('category:"Animals and Pets"')
    assert keys(result.hits) == ["p.jpg"]
    assert result.hits[0].matched == {"Animals and Pets": 77.0}
    assert keys(searcher.search("category:animal").hits) == ["p.jpg"]
    assert keys(searcher.search("Category:vehicles").hits) == ["car.jpg"]
    assert keys(searcher.search("category:animal>=80").hits) == []


# --- delete -----------------------------------------------------------------------------------------------


def test_delete_removes_record_and_index_entries(filled: SqliteCatalog) -> None:
    assert filled.delete(["c.jpg", "nope.jpg"]) == 1
    assert filled.get("c.jpg") is None
    assert index_rows(filled, "c.jpg") == []
    assert filled._reader().execute("SELECT COUNT(*) FROM label_index WHERE label = 'Dog'").fetchone()[0] == 1
    assert keys(find(filled, "dog")) == ["a.jpg"]
    assert keys(find(filled, "cat")) == ["b.jpg"]
    assert label_counts(filled) == {"Person": 2, "Cat": 1, "Dog": 1}
    assert filled.delete(["c.jpg"]) == 0
    assert filled.delete([]) == 0
    assert filled.delete(["a.jpg", "b.jpg", "d.jpg"]) == 3
    assert filled.labels() == []
    assert [state.key for state in filled.states()] == ["e.jpg", "f.jpg"]


# --- failures are data ------------------------------------------------------------------------------------


def test_failed_records_have_no_index_entries(filled: SqliteCatalog) -> None:
    assert index_rows(filled, "f.jpg") == []
    rec = filled.get("f.jpg")
    assert rec is not None
    assert (rec.Status, rec.Error) == (Status.FAILED, "not an image")
    assert "f.jpg" not in keys(find(filled, "NOT dog"))


def test_a_failed_reanalysis_drops_the_old_index_entries(filled: SqliteCatalog) -> None:
    filled.put([record("a.jpg", status=Status.FAILED, error="truncated", etag="e2")])
    assert index_rows(filled, "a.jpg") == []
    assert keys(find(filled, "dog")) == ["c.jpg"]
    assert label_counts(filled) == {"Person": 1, "Cat": 2, "Dog": 1}


def test_a_failed_record_carrying_labels_is_not_indexed(catalog: SqliteCatalog) -> None:
    catalog.put([record("f.jpg", label("Dog", 90.0), status=Status.FAILED, error="text analyser failed")])
    assert index_rows(catalog, "f.jpg") == []
    assert catalog.labels() == []


def test_stats_counts_by_status(filled: SqliteCatalog) -> None:
    filled.mark_pending([("g.jpg", "eg"), ("a.jpg", "e2")])
    stats = filled.stats()
    assert stats["images"] == 7
    assert (stats["analyzed"], stats["pending"], stats["failed"]) == (4, 2, 1)
    assert stats["labels"] == 3
    assert stats["catalog"] == str(filled.path)
    assert isinstance(stats["bytes"], int)
    assert stats["bytes"] > 0


# --- threads ----------------------------------------------------------------------------------------------


def test_concurrent_puts_and_reads(catalog: SqliteCatalog) -> None:
    threads, per_thread = 8, 25

    def work(t: int) -> int:
        for i in range(per_thread):
            key = f"t{t}/img{i:03}.jpg"
            catalog.put([record(key, label("Dog", 50.0 + i), label(f"Thread{t}", 60.0))])
            got = catalog.get(key)
            assert got is not None
            assert got.ImageName == key
            assert [lab.Name for lab in got.Labels] == ["Dog", f"Thread{t}"]
            assert catalog.count(parse(f"Thread{t}"), lambda term: [term.value]) == i + 1
            assert catalog.search(parse("dog"), lambda term: ["Dog"], limit=1)
            if i % 5 == 0:  # and a write that must not disturb the others: replace an own record
                catalog.put([record(f"t{t}/img000.jpg", label("Dog", 50.0), label(f"Thread{t}", 60.0))])
        return t

    with ThreadPoolExecutor(max_workers=threads) as pool:
        assert sorted(pool.map(work, range(threads))) == list(range(threads))

    total = threads * per_thread
    assert catalog.stats()["images"] == total
    assert catalog.stats()["analyzed"] == total
    counts = label_counts(catalog)
    assert counts["Dog"] == total
    assert all(counts[f"Thread{t}"] == per_thread for t in range(threads))
    assert count(catalog, "dog") == total
    got = catalog._reader().execute("SELECT COUNT(*) FROM label_index").fetchone()[0]
    assert got == 2 * total
    for t in range(threads):
        for i in range(per_thread):
            assert catalog.get(f"t{t}/img{i:03}.jpg") is not None


# --- the query plan ---------------------------------------------------------------------------------------


def _plan(catalog: SqliteCatalog, sql: str, params: dict[str, object]) -> list[str]:
    return [row[3] for row in catalog._reader().execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


@pytest.mark.parametrize("query", ["dog", "dog>=80", "dog<30", '"teddy bear"'])
def test_single_term_is_an_index_lookup_never_a_scan(filled: SqliteCatalog, query: str) -> None:
    term = parse(query)
    assert isinstance(term, Term)
    sql, params = term_sql(term, [term.value.title()])
    page = f"{sql} ORDER BY score DESC, id DESC LIMIT :limit OFFSET :offset"
    plan = _plan(filled, page, {**params, "limit": 20, "offset": 0})
    assert any(detail.startswith("SEARCH label_index USING PRIMARY KEY (label=?") for detail in plan), plan
    assert not any(detail.startswith("SCAN") for detail in plan), plan
    assert not any("TEMP B-TREE" in detail for detail in plan), plan  # already in rank order: no sort


def test_a_word_naming_several_labels_reads_only_their_index_ranges(filled: SqliteCatalog) -> None:
    term = parse("crane")
    assert isinstance(term, Term)
    sql, params = term_sql(term, ["Crane (Bird)", "Crane (Machine)"])
    plan = _plan(filled, sql, params)
    assert any("USING PRIMARY KEY (label=?" in detail for detail in plan), plan
    assert not any(detail.startswith("SCAN label_index") for detail in plan), plan


# --- persistence ------------------------------------------------------------------------------------------


def test_catalog_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "catalog.db"
    first = SqliteCatalog(path)
    try:
        first.put([record("a.jpg", label("Dog", 90.0)), record("f.jpg", status=Status.FAILED, error="bad")])
        first.mark_pending([("p.jpg", "ep")])
    finally:
        first.close()
    with closing(sqlite3.connect(path)) as conn:
        applied = conn.execute("SELECT name, applied_at FROM migrations ORDER BY name").fetchall()
    assert [name for name, _ in applied] == [name for name, _ in MIGRATIONS]

    for _ in range(2):
        again = SqliteCatalog(path)
        try:
            assert again.get("a.jpg") == record("a.jpg", label("Dog", 90.0))
            assert keys(find(again, "dog")) == ["a.jpg"]
            assert dict(again.labels()) == {"Dog": 1}
            stats = again.stats()
            assert (stats["analyzed"], stats["failed"], stats["pending"]) == (1, 1, 1)
        finally:
            again.close()
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("SELECT name, applied_at FROM migrations ORDER BY name").fetchall() == applied
