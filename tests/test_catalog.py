"""The SQLite catalog on a real database file, with records built by hand.

Covers the record round trip, idempotent upserts and the inverted index (labels, parents, categories), deletes,
the pending ledger that reconcile relies on, failures as data, thread safety, the search semantics of the
compiled SQL (AND, OR, NOT, thresholds, ranking, paging), the query plan of "all images with X", and reopening.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

import pytest

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.base import Hit, Resolver
from pixlens.catalog.sqlite import MIGRATIONS, SqliteCatalog
from pixlens.catalog.sqlplan import term_sql
from pixlens.query import Term, parse
from pixlens.record import ImageRecord, Label, NameRef, Status
from pixlens.search import Searcher

# --- helpers ----------------------------------------------------------------------------------------------


def label(name: str, confidence: float, parents: tuple[str, ...] = (), categories: tuple[str, ...] = ()) -> Label:
    return Label(
        Name=name,
        Confidence=confidence,
        Parents=[NameRef(Name=p) for p in parents],
        Categories=[NameRef(Name=c) for c in categories],
    )


def record(
    key: str, *labels: Label, status: Status = Status.ANALYZED, etag: str | None = "e1", error: str | None = None
) -> ImageRecord:
    return ImageRecord(
        ImageName=key,
        Status=status,
        ETag=etag,
        Error=error,
        ContentSha256="sha-" + key,
        AnalyzedAt="2026-01-01T00:00:00Z" if status is not Status.PENDING else None,
        AnalyzerVersions={"labels": "test-1"},
        Labels=list(labels),
    )


def resolver(catalog: SqliteCatalog) -> Resolver:
    """A resolver without the taxonomy: a word matches the catalog label of that name, in any case."""
    names = {name.casefold(): name for name in catalog.label_names()}

    def resolve(term: Term) -> list[str]:
        found = names.get(term.value.casefold())
        return [found] if found is not None else []

    return resolve


def find(catalog: SqliteCatalog, query: str, limit: int = 100, offset: int = 0) -> list[Hit]:
    return catalog.search(parse(query), resolver(catalog), limit=limit, offset=offset)


def keys(hits: list[Hit]) -> list[str]:
    return [hit.key for hit in hits]


def count(catalog: SqliteCatalog, query: str) -> int:
    return catalog.count(parse(query), resolver(catalog))


def index_rows(catalog: SqliteCatalog, key: str) -> list[tuple[str, float]]:
    return [
        (row[0], row[1])
        for row in catalog._reader().execute(
            "SELECT l.label, l.confidence FROM label_index AS l JOIN images AS i ON i.id = l.image_id"
            " WHERE i.key = ? ORDER BY l.label",
            (key,),
        )
    ]


def label_counts(catalog: SqliteCatalog) -> dict[str, int]:
    return dict(catalog.labels())


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqliteCatalog]:
    instance = SqliteCatalog(tmp_path / "catalog.db")
    yield instance
    instance.close()


@pytest.fixture
def filled(catalog: SqliteCatalog) -> SqliteCatalog:
    """Six images: a dog with a person, a cat, a dog with a cat, a person, an empty analysis, a failure."""
    catalog.put(
        [
            record("a.jpg", label("Dog", 90.0), label("Person", 72.0)),
            record("b.jpg", label("Cat", 80.0)),
            record("c.jpg", label("Dog", 60.0), label("Cat", 95.0)),
            record("d.jpg", label("Person", 99.0)),
            record("e.jpg"),
            record("f.jpg", status=Status.FAILED, error="not an image"),
        ]
    )
    return catalog


# --- records ----------------------------------------------------------------------------------------------


def test_put_get_round_trip(catalog: SqliteCatalog) -> None:
    original = record("trips/beach.jpg", label("Dog", 97.1, ("Canine", "Animal"), ("Animals and Pets",)))
    original.Width, original.Height, original.ContentType = 640, 480, "image/jpeg"
    original.Exif = {"Make": "Canon"}
    catalog.put([original])
    assert catalog.get("trips/beach.jpg") == original
    assert catalog.get("missing.jpg") is None


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


# --- the pending ledger -----------------------------------------------------------------------------------


def test_mark_pending_new_key(catalog: SqliteCatalog) -> None:
    assert catalog.mark_pending([("new.jpg", "e1")]) == 1
    (state,) = catalog.states(["new.jpg"])
    assert (state.key, state.status, state.etag) == ("new.jpg", Status.PENDING, "e1")
    rec = catalog.get("new.jpg")
    assert rec is not None
    assert rec.Status is Status.PENDING
    assert rec.Labels == []
    assert catalog.stats()["pending"] == 1
    assert catalog.mark_pending([]) == 0


def test_mark_pending_same_etag_on_analysed_image_is_a_no_op(catalog: SqliteCatalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag="e1")])
    assert catalog.mark_pending([("a.jpg", "e1")]) == 0
    (state,) = catalog.states(["a.jpg"])
    assert state.status is Status.ANALYZED


def test_mark_pending_same_etag_on_failed_image_is_a_no_op(catalog: SqliteCatalog) -> None:
    catalog.put([record("f.jpg", status=Status.FAILED, error="truncated", etag="e1")])
    assert catalog.mark_pending([("f.jpg", "e1")]) == 0
    assert next(catalog.states(["f.jpg"])).status is Status.FAILED


def test_mark_pending_changed_etag_keeps_old_labels_searchable(catalog: SqliteCatalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag="e1"), record("b.jpg", label("Dog", 70.0))])
    assert catalog.mark_pending([("a.jpg", "e2"), ("b.jpg", "e1")]) == 1
    states = {state.key: state.status for state in catalog.states()}
    assert states == {"a.jpg": Status.PENDING, "b.jpg": Status.ANALYZED}
    assert keys(find(catalog, "dog")) == ["a.jpg", "b.jpg"]
    rec = catalog.get("a.jpg")
    assert rec is not None
    assert rec.Status is Status.PENDING  # the status column wins over the stored (older) record
    assert [lab.Name for lab in rec.Labels] == ["Dog"]
    assert label_counts(catalog) == {"Dog": 2}
    # Still pending on a second delivery of the same job.
    assert catalog.mark_pending([("a.jpg", "e2")]) == 1


def test_mark_pending_without_etag_is_always_pending(catalog: SqliteCatalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag=None)])
    assert catalog.mark_pending([("a.jpg", None)]) == 1
    assert next(catalog.states(["a.jpg"])).status is Status.PENDING


def test_mark_pending_force(catalog: SqliteCatalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag="e1")])
    assert catalog.mark_pending([("a.jpg", "e1")], force=True) == 1
    assert next(catalog.states(["a.jpg"])).status is Status.PENDING
    assert keys(find(catalog, "dog")) == ["a.jpg"]


def test_states(filled: SqliteCatalog) -> None:
    filled.mark_pending([("g.jpg", "eg")])
    every = list(filled.states())
    assert [state.key for state in every] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg"]
    by_key = {state.key: state for state in every}
    assert by_key["a.jpg"].status is Status.ANALYZED
    assert by_key["a.jpg"].etag == "e1"
    assert by_key["a.jpg"].sha256 == "sha-a.jpg"
    assert by_key["a.jpg"].versions == {"labels": "test-1"}
    assert by_key["f.jpg"].status is Status.FAILED
    assert by_key["g.jpg"].status is Status.PENDING
    assert by_key["g.jpg"].sha256 is None
    assert by_key["g.jpg"].versions == {}

    some = {state.key for state in filled.states(["b.jpg", "g.jpg", "missing.jpg"])}
    assert some == {"b.jpg", "g.jpg"}
    assert list(filled.states([])) == []
    many = [f"x{i}.jpg" for i in range(1200)] + ["c.jpg"]  # more keys than one IN (...) chunk
    assert [state.key for state in filled.states(many)] == ["c.jpg"]


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


def test_stats_of_an_empty_catalog(catalog: SqliteCatalog) -> None:
    stats = catalog.stats()
    assert (stats["images"], stats["analyzed"], stats["pending"], stats["failed"], stats["labels"]) == (0, 0, 0, 0, 0)
    assert catalog.labels() == []
    assert catalog.label_names() == []


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


# --- search semantics -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dog", ["a.jpg", "c.jpg"]),
        ("DOG", ["a.jpg", "c.jpg"]),
        ("dog AND cat", ["c.jpg"]),
        ("dog cat", ["c.jpg"]),
        ("dog OR cat", ["c.jpg", "a.jpg", "b.jpg"]),
        ("dog AND NOT cat", ["a.jpg"]),
        ("dog -cat", ["a.jpg"]),
        ("cat AND NOT dog", ["b.jpg"]),
        ("(dog OR cat) AND NOT person", ["c.jpg", "b.jpg"]),
        ("(dog AND person) OR (cat AND NOT dog)", ["a.jpg", "b.jpg"]),
        ("dog OR (cat AND NOT (person OR dog))", ["a.jpg", "b.jpg", "c.jpg"]),
        ("cat OR NOT (dog OR cat)", ["c.jpg", "b.jpg", "e.jpg", "d.jpg"]),
        ("dog cat person", []),
        ("person OR cat OR dog", ["d.jpg", "c.jpg", "a.jpg", "b.jpg"]),
    ],
)
def test_boolean_queries(filled: SqliteCatalog, query: str, expected: list[str]) -> None:
    assert keys(find(filled, query)) == expected
    assert count(filled, query) == len(expected)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NOT dog", {"b.jpg", "d.jpg", "e.jpg"}),
        ("-person", {"b.jpg", "c.jpg", "e.jpg"}),
        ("NOT dog AND NOT cat", {"d.jpg", "e.jpg"}),
        ("NOT (dog OR cat OR person)", {"e.jpg"}),
        ("NOT zebra", {"a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"}),  # never the failed image
        ("NOT NOT cat", {"b.jpg", "c.jpg"}),
    ],
)
def test_not_alone(filled: SqliteCatalog, query: str, expected: set[str]) -> None:
    hits = find(filled, query)
    assert set(keys(hits)) == expected
    assert len(hits) == len(expected)
    assert count(filled, query) == len(expected)


def test_not_skips_images_never_analysed(filled: SqliteCatalog) -> None:
    filled.mark_pending([("new.jpg", "e1")])
    assert "new.jpg" not in keys(find(filled, "NOT dog"))


def test_not_keeps_pending_images_with_an_older_analysis(filled: SqliteCatalog) -> None:
    filled.mark_pending([("b.jpg", "e2")])  # changed: its old analysis (a cat, no dog) stays searchable
    assert "b.jpg" in keys(find(filled, "NOT dog"))
    assert "b.jpg" in keys(find(filled, "cat"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("dog>=90", ["a.jpg"]),
        ("dog>90", []),
        ("dog>89.5", ["a.jpg"]),
        ("dog<=60", ["c.jpg"]),
        ("dog<60", []),
        ("dog>60", ["a.jpg"]),
        ("dog>=60", ["a.jpg", "c.jpg"]),
        ("dog<=100", ["a.jpg", "c.jpg"]),
        ("cat>=80", ["c.jpg", "b.jpg"]),
        ("dog>=50 dog<=80", ["c.jpg"]),
        ("dog>=80 OR cat>=90", ["c.jpg", "a.jpg"]),
        ("NOT dog>=80", ["e.jpg", "d.jpg", "c.jpg", "b.jpg"]),
    ],
)
def test_thresholds(filled: SqliteCatalog, query: str, expected: list[str]) -> None:
    assert keys(find(filled, query)) == expected
    assert count(filled, query) == len(expected)


def test_ranking_is_by_confidence_best_first(filled: SqliteCatalog) -> None:
    hits = find(filled, "person OR cat OR dog")
    assert [(hit.key, hit.score) for hit in hits] == [
        ("d.jpg", 99.0),
        ("c.jpg", 95.0),
        ("a.jpg", 90.0),
        ("b.jpg", 80.0),
    ]
    # An AND ranks by the mean confidence of its terms.
    filled.put([record("g.jpg", label("Dog", 99.0), label("Cat", 40.0))])
    hits = find(filled, "dog cat")
    assert [(hit.key, hit.score) for hit in hits] == [("c.jpg", 77.5), ("g.jpg", 69.5)]
    scores = [hit.score for hit in find(filled, "dog OR cat OR person")]
    assert scores == sorted(scores, reverse=True)


def test_paging(filled: SqliteCatalog) -> None:
    everything = keys(find(filled, "dog OR cat OR person"))
    assert everything == ["d.jpg", "c.jpg", "a.jpg", "b.jpg"]
    pages = [keys(find(filled, "dog OR cat OR person", limit=2, offset=start)) for start in (0, 2, 4)]
    assert pages == [["d.jpg", "c.jpg"], ["a.jpg", "b.jpg"], []]
    assert keys(find(filled, "dog OR cat OR person", limit=3, offset=1)) == ["c.jpg", "a.jpg", "b.jpg"]
    assert count(filled, "dog OR cat OR person") == 4


def test_paging_ties_is_stable(catalog: SqliteCatalog) -> None:
    catalog.put([record(f"{i:02}.jpg", label("Dog", 70.0)) for i in range(10)])
    everything = keys(find(catalog, "dog"))
    assert sorted(everything) == [f"{i:02}.jpg" for i in range(10)]
    paged = [key for start in range(0, 10, 3) for key in keys(find(catalog, "dog", limit=3, offset=start))]
    assert paged == everything


def test_matched_labels_with_confidences(filled: SqliteCatalog) -> None:
    assert {hit.key: hit.matched for hit in find(filled, "dog AND cat")} == {"c.jpg": {"Dog": 60.0, "Cat": 95.0}}
    # Negated terms are not reported as matched, and NOT alone reports nothing.
    assert {hit.key: hit.matched for hit in find(filled, "dog AND NOT cat")} == {"a.jpg": {"Dog": 90.0}}
    assert all(hit.matched == {} for hit in find(filled, "NOT dog"))
    # An OR reports the operands each image has.
    matched = {hit.key: hit.matched for hit in find(filled, "dog OR cat")}
    assert matched == {"a.jpg": {"Dog": 90.0}, "b.jpg": {"Cat": 80.0}, "c.jpg": {"Dog": 60.0, "Cat": 95.0}}


def test_unknown_word_has_no_hits(filled: SqliteCatalog) -> None:
    assert find(filled, "zebra") == []
    assert count(filled, "zebra") == 0
    assert find(filled, "zebra OR dog") == find(filled, "dog")
    assert find(filled, "zebra AND dog") == []
    assert find(filled, "dog", offset=50) == []


def test_a_term_resolving_to_several_entries(filled: SqliteCatalog) -> None:
    """A word may name several labels (the Searcher's taxonomy): an image matches on its best one."""

    def resolve(term: Term) -> list[str]:
        return ["Cat", "Dog"] if term.value == "pet" else []

    hits = filled.search(parse("pet"), resolve)
    assert [(hit.key, hit.score) for hit in hits] == [("c.jpg", 95.0), ("a.jpg", 90.0), ("b.jpg", 80.0)]
    assert hits[0].matched == {"Cat": 95.0, "Dog": 60.0}
    assert filled.count(parse("pet"), resolve) == 3
    assert keys(filled.search(parse("pet>=85"), resolve)) == ["c.jpg", "a.jpg"]


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


def test_with_content_finds_every_exact_copy_by_its_hash(catalog: SqliteCatalog) -> None:
    copies = [record("a.jpg", label("Dog", 90)), record("b/a.jpg", label("Dog", 90)), record("c.jpg")]
    for each, sha in zip(copies, ("1" * 64, "1" * 64, "2" * 64), strict=True):
        each.ContentSha256 = sha
    catalog.put(copies)

    assert sorted(catalog.with_content(["1" * 64])) == ["a.jpg", "b/a.jpg"]
    assert sorted(catalog.with_content(["2" * 64, "3" * 64])) == ["c.jpg"]
    assert catalog.with_content([]) == []
