"""The Catalog port's semantics, through the port only, on every catalog: the same tests for each adapter.

``CATALOGS`` names a factory per adapter, each making the URL of a fresh, empty catalog for one test (and
removing it after): SQLite; PostgreSQL (a database made for the test on the server on 127.0.0.1, dropped after);
DynamoDB (a table made for the test on moto's server on 127.0.0.1, the ``aws`` fixture). Nothing here reads an
adapter's tables: records go in with ``put`` and ``mark_pending``, and come out through ``get``, ``states``,
``search``, ``page``, ``facets``, ``count``, ``labels``, ``people``, ``duplicates`` and ``similar``. What a single
adapter stores row by row is tested beside it (``test_catalog.py``, ``test_catalog_vectors.py`` for SQLite,
``test_dynamodb_catalog.py`` for DynamoDB).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from catalog_records import count, fill, find, keys, label, label_counts, near, record, resolver, unit
from pgserver import fresh_database
from pixlens.catalog import create_catalog, open_catalog
from pixlens.catalog.base import Catalog
from pixlens.query import Term, parse
from pixlens.record import ImageRecord, Status


@contextmanager
def sqlite_catalog(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'catalog.db'}"


@contextmanager
def postgres_catalog(folder: Path) -> Iterator[str]:
    with fresh_database() as url:
        yield url


@contextmanager
def dynamodb_catalog(folder: Path) -> Iterator[str]:
    """A table made for the test on the local AWS endpoint (the ``aws`` fixture empties it after)."""
    url = f"dynamodb://catalog-{folder.name}"
    create_catalog(url)
    yield url


# adapter -> a fresh catalog's URL for one test
CATALOGS: dict[str, Callable[[Path], AbstractContextManager[str]]] = {
    "sqlite": sqlite_catalog,
    "postgres": postgres_catalog,
    "dynamodb": dynamodb_catalog,
}
NEEDS = {"dynamodb": "aws"}  # adapter -> the fixture of its server


@pytest.fixture(params=sorted(CATALOGS))
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Catalog]:
    if request.param in NEEDS:
        request.getfixturevalue(NEEDS[request.param])
    with CATALOGS[request.param](tmp_path) as url:
        instance = open_catalog(url)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def filled(catalog: Catalog) -> Catalog:
    return fill(catalog)


# --- records, deletes, states -------------------------------------------------------------------------------


def test_reads_in_a_snapshot_see_one_state(catalog: Catalog, request: pytest.FixtureRequest) -> None:
    """A search and its facets read in one snapshot agree, whatever is written meanwhile (DynamoDB's reads are
    eventually consistent: it has no snapshot to hold)."""
    if request.node.callspec.params["catalog"] == "dynamodb":
        pytest.skip("DynamoDB has no read transactions")
    catalog.put([record("a.jpg", label("Dog", 90.0))])
    with catalog.snapshot():
        assert count(catalog, "dog") == 1
        writer = threading.Thread(target=lambda: catalog.put([record("b.jpg", label("Dog", 80.0))]))
        writer.start()
        writer.join()
        assert count(catalog, "dog") == 1
        assert keys(find(catalog, "dog")) == ["a.jpg"]
    assert count(catalog, "dog") == 2


def test_put_get_round_trip(catalog: Catalog) -> None:
    original = record("trips/beach.jpg", label("Dog", 97.1, ("Canine", "Animal"), ("Animals and Pets",)))
    original.Width, original.Height, original.ContentType = 640, 480, "image/jpeg"
    original.Exif = {"Make": "Canon"}
    catalog.put([original])
    assert catalog.get("trips/beach.jpg") == original
    assert catalog.get("missing.jpg") is None


def test_mark_pending_new_key(catalog: Catalog) -> None:
    assert catalog.mark_pending([("new.jpg", "e1")]) == 1
    (state,) = catalog.states(["new.jpg"])
    assert (state.key, state.status, state.etag) == ("new.jpg", Status.PENDING, "e1")
    rec = catalog.get("new.jpg")
    assert rec is not None
    assert rec.Status is Status.PENDING
    assert rec.Labels == []
    assert catalog.stats()["pending"] == 1
    assert catalog.mark_pending([]) == 0


def test_mark_pending_same_etag_on_analysed_image_is_a_no_op(catalog: Catalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag="e1")])
    assert catalog.mark_pending([("a.jpg", "e1")]) == 0
    (state,) = catalog.states(["a.jpg"])
    assert state.status is Status.ANALYZED


def test_mark_pending_same_etag_on_failed_image_is_a_no_op(catalog: Catalog) -> None:
    catalog.put([record("f.jpg", status=Status.FAILED, error="truncated", etag="e1")])
    assert catalog.mark_pending([("f.jpg", "e1")]) == 0
    assert next(catalog.states(["f.jpg"])).status is Status.FAILED


def test_mark_pending_changed_etag_keeps_old_labels_searchable(catalog: Catalog) -> None:
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


def test_mark_pending_without_etag_is_always_pending(catalog: Catalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag=None)])
    assert catalog.mark_pending([("a.jpg", None)]) == 1
    assert next(catalog.states(["a.jpg"])).status is Status.PENDING


def test_mark_pending_force(catalog: Catalog) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0), etag="e1")])
    assert catalog.mark_pending([("a.jpg", "e1")], force=True) == 1
    assert next(catalog.states(["a.jpg"])).status is Status.PENDING
    assert keys(find(catalog, "dog")) == ["a.jpg"]


def test_states(filled: Catalog) -> None:
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


def test_stats_of_an_empty_catalog(catalog: Catalog) -> None:
    stats = catalog.stats()
    assert (stats["images"], stats["analyzed"], stats["pending"], stats["failed"], stats["labels"]) == (0, 0, 0, 0, 0)
    assert catalog.labels() == []
    assert catalog.label_names() == []


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
def test_boolean_queries(filled: Catalog, query: str, expected: list[str]) -> None:
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
def test_not_alone(filled: Catalog, query: str, expected: set[str]) -> None:
    hits = find(filled, query)
    assert set(keys(hits)) == expected
    assert len(hits) == len(expected)
    assert count(filled, query) == len(expected)


def test_not_skips_images_never_analysed(filled: Catalog) -> None:
    filled.mark_pending([("new.jpg", "e1")])
    assert "new.jpg" not in keys(find(filled, "NOT dog"))


def test_not_keeps_pending_images_with_an_older_analysis(filled: Catalog) -> None:
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
def test_thresholds(filled: Catalog, query: str, expected: list[str]) -> None:
    assert keys(find(filled, query)) == expected
    assert count(filled, query) == len(expected)


def test_ranking_is_by_confidence_best_first(filled: Catalog) -> None:
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


def test_paging(filled: Catalog) -> None:
    everything = keys(find(filled, "dog OR cat OR person"))
    assert everything == ["d.jpg", "c.jpg", "a.jpg", "b.jpg"]
    pages = [keys(find(filled, "dog OR cat OR person", limit=2, offset=start)) for start in (0, 2, 4)]
    assert pages == [["d.jpg", "c.jpg"], ["a.jpg", "b.jpg"], []]
    assert keys(find(filled, "dog OR cat OR person", limit=3, offset=1)) == ["c.jpg", "a.jpg", "b.jpg"]
    assert count(filled, "dog OR cat OR person") == 4


def test_paging_ties_is_stable(catalog: Catalog) -> None:
    catalog.put([record(f"{i:02}.jpg", label("Dog", 70.0)) for i in range(10)])
    everything = keys(find(catalog, "dog"))
    assert sorted(everything) == [f"{i:02}.jpg" for i in range(10)]
    paged = [key for start in range(0, 10, 3) for key in keys(find(catalog, "dog", limit=3, offset=start))]
    assert paged == everything


def test_matched_labels_with_confidences(filled: Catalog) -> None:
    assert {hit.key: hit.matched for hit in find(filled, "dog AND cat")} == {"c.jpg": {"Dog": 60.0, "Cat": 95.0}}
    # Negated terms are not reported as matched, and NOT alone reports nothing.
    assert {hit.key: hit.matched for hit in find(filled, "dog AND NOT cat")} == {"a.jpg": {"Dog": 90.0}}
    assert all(hit.matched == {} for hit in find(filled, "NOT dog"))
    # An OR reports the operands each image has.
    matched = {hit.key: hit.matched for hit in find(filled, "dog OR cat")}
    assert matched == {"a.jpg": {"Dog": 90.0}, "b.jpg": {"Cat": 80.0}, "c.jpg": {"Dog": 60.0, "Cat": 95.0}}


def test_unknown_word_has_no_hits(filled: Catalog) -> None:
    assert find(filled, "zebra") == []
    assert count(filled, "zebra") == 0
    assert find(filled, "zebra OR dog") == find(filled, "dog")
    assert find(filled, "zebra AND dog") == []
    assert find(filled, "dog", offset=50) == []


def test_a_term_resolving_to_several_entries(filled: Catalog) -> None:
    """A word may name several labels (the Searcher's taxonomy): an image matches on its best one."""

    def resolve(term: Term) -> list[str]:
        return ["Cat", "Dog"] if term.value == "pet" else []

    hits = filled.search(parse("pet"), resolve)
    assert [(hit.key, hit.score) for hit in hits] == [("c.jpg", 95.0), ("a.jpg", 90.0), ("b.jpg", 80.0)]
    assert hits[0].matched == {"Cat": 95.0, "Dog": 60.0}
    assert filled.count(parse("pet"), resolve) == 3
    assert keys(filled.search(parse("pet>=85"), resolve)) == ["c.jpg", "a.jpg"]


def test_with_content_finds_every_exact_copy_by_its_hash(catalog: Catalog) -> None:
    copies = [record("a.jpg", label("Dog", 90)), record("b/a.jpg", label("Dog", 90)), record("c.jpg")]
    for each, sha in zip(copies, ("1" * 64, "1" * 64, "2" * 64), strict=True):
        each.ContentSha256 = sha
    catalog.put(copies)

    assert sorted(catalog.with_content(["1" * 64])) == ["a.jpg", "b/a.jpg"]
    assert sorted(catalog.with_content(["2" * 64, "3" * 64])) == ["c.jpg"]
    assert catalog.with_content([]) == []


def test_delete_forgets_the_image_everywhere(filled: Catalog) -> None:
    assert filled.delete(["c.jpg", "nope.jpg"]) == 1
    assert filled.get("c.jpg") is None
    assert keys(find(filled, "dog")) == ["a.jpg"]
    assert keys(find(filled, "cat")) == ["b.jpg"]
    assert label_counts(filled) == {"Person": 2, "Cat": 1, "Dog": 1}
    assert "c.jpg" not in {state.key for state in filled.states()}
    assert filled.delete(["c.jpg"]) == 0
    assert filled.delete([]) == 0
    assert filled.delete(["a.jpg", "b.jpg", "d.jpg"]) == 3
    assert filled.labels() == []
    assert filled.label_names() == []


def test_failures_are_data_found_by_no_label(filled: Catalog) -> None:
    rec = filled.get("f.jpg")
    assert rec is not None
    assert (rec.Status, rec.Error) == (Status.FAILED, "not an image")
    assert [(key, error) for key, error, _ in filled.failures()] == [("f.jpg", "not an image")]
    filled.put([record("a.jpg", label("Dog", 90.0), status=Status.FAILED, error="truncated", etag="e2")])
    assert keys(find(filled, "dog")) == ["c.jpg"]  # its old labels went with the failed re-analysis
    assert "a.jpg" not in keys(find(filled, "NOT cat"))
    assert filled.status_counts() == {"pending": 0, "analyzed": 4, "failed": 2}


def test_put_is_idempotent(filled: Catalog) -> None:
    before = (filled.labels(), filled.status_counts(), keys(find(filled, "dog OR cat")))
    filled.put([record("a.jpg", label("Dog", 90.0), label("Person", 72.0))] * 2)
    assert (filled.labels(), filled.status_counts(), keys(find(filled, "dog OR cat"))) == before


# --- search: pages, counts, facets, entries -----------------------------------------------------------------


def test_pages_by_place_are_not_shifted_by_new_images(filled: Catalog) -> None:
    query, resolve = parse("dog OR cat OR person"), resolver(filled)
    first, total = filled.page(query, resolve, limit=2)
    assert (keys(first), total) == (["d.jpg", "c.jpg"], 4)
    filled.put([record("top.jpg", label("Dog", 100.0))])  # ranks first: an offset would shift
    second, total = filled.page(query, resolver(filled), limit=2, after=first[-1].place)
    assert (keys(second), total) == (["a.jpg", "b.jpg"], 5)
    assert filled.page(query, resolver(filled), limit=2, after=second[-1].place)[0] == []


def test_facets_count_over_every_hit(filled: Catalog) -> None:
    counts = filled.facets(parse("dog OR cat"), resolver(filled), ["Dog", "Cat", "Person", "Zebra"])
    assert {entry: counts.get(entry, 0) for entry in ("Dog", "Cat", "Person", "Zebra")} == {
        "Dog": 2,
        "Cat": 2,
        "Person": 1,
        "Zebra": 0,
    }
    assert filled.facets(parse("zebra"), resolver(filled), ["Dog"]).get("Dog", 0) == 0


def test_labels_entries_and_matching(filled: Catalog) -> None:
    filled.put([record("g.jpg", label("Poodle", 70.0, ("Dog",), ("Animals and Pets",)))])
    assert filled.labels() == [("Dog", 3), ("Cat", 2), ("Person", 2), ("Poodle", 1)]
    assert filled.label_names() == ["Cat", "Dog", "Person", "Poodle"]  # no categories, no other entries
    assert filled.entries("category:") == ["category:Animals and Pets"]
    assert count(filled, "dog") == 3
    query, resolve = parse("dog AND NOT person"), resolver(filled)
    assert sorted(filled.matching(query, resolve, ["a.jpg", "c.jpg", "g.jpg", "b.jpg", "missing.jpg"])) == [
        "c.jpg",
        "g.jpg",
    ]
    assert filled.matching(query, resolve, []) == []


# --- vectors: similar, people, duplicates -------------------------------------------------------------------


def with_vectors(
    key: str,
    embedding: list[float] | None,
    faces: Sequence[list[float]] = (),
    sha: str | None = None,
) -> ImageRecord:
    rec = record(key, label("Thing", 80.0))
    rec.ImageEmbedding = embedding
    rec.FaceDetails = [{"Confidence": 90.0 + number} for number in range(len(faces))]
    rec.FaceEmbeddings = list(faces)
    if sha is not None:
        rec.ContentSha256 = sha
    return rec


def test_similar_best_first(catalog: Catalog) -> None:
    base = unit(1)
    catalog.put(
        [
            with_vectors("base.jpg", base),
            with_vectors("close.jpg", near(base, 2, 0.05)),
            with_vectors("far.jpg", near(base, 3, 0.5)),
            with_vectors("other.jpg", unit(4)),
        ]
    )
    found = catalog.similar("base.jpg", 3)
    assert [key for key, _ in found] == ["close.jpg", "far.jpg", "other.jpg"]
    assert found[0][1] > found[1][1] > found[2][1]
    assert catalog.similar("missing.jpg") == []
    catalog.delete(["close.jpg"])
    assert [key for key, _ in catalog.similar("base.jpg", 1)] == ["far.jpg"]


def test_faces_are_clustered_into_people_that_can_be_named(catalog: Catalog) -> None:
    eileen, tom = unit(10), unit(11)
    catalog.put(
        [
            with_vectors("1.jpg", None, [eileen, tom]),
            with_vectors("2.jpg", None, [near(eileen, 12)]),
            with_vectors("3.jpg", None, [near(eileen, 13)]),
        ]
    )
    rows = catalog.people()
    assert [(row.faces, row.images, row.name) for row in rows] == [(3, 3, None), (1, 1, None)]
    first, second = rows[0].id, rows[1].id
    assert (rows[1].best_image, rows[1].best_face) == ("1.jpg", 1)
    one = catalog.get("1.jpg")
    assert one is not None
    assert [face["PersonId"] for face in one.FaceDetails] == [first, second]
    assert len(one.FaceEmbeddings) == 2

    # the faces' people are index entries
    def person(term: Term) -> list[str]:
        return [f"person:{first}"]

    assert sorted(keys(catalog.search(parse("someone"), person))) == ["1.jpg", "2.jpg", "3.jpg"]

    assert catalog.name_person(first, "Eileen")
    assert not catalog.name_person(999, "Nobody")
    assert catalog.person_ids("eileen") == [first]
    assert catalog.person_ids(str(second)) == [second]
    assert catalog.person_names([first, second]) == {first: "Eileen"}
    assert catalog.top_people(1) == [(first, "Eileen")]

    catalog.put([with_vectors("1.jpg", None, [eileen, tom])])  # the same faces again: same people, names kept
    again = catalog.get("1.jpg")
    assert again is not None
    assert [face["PersonId"] for face in again.FaceDetails] == [first, second]
    catalog.delete(["1.jpg"])  # Tom's only face goes, and Tom with it
    assert [(row.id, row.name, row.faces) for row in catalog.people()] == [(first, "Eileen", 2)]


def test_duplicates_group_copies_and_identical_bytes(catalog: Catalog) -> None:
    photo, other = unit(20), unit(21)
    catalog.put(
        [
            with_vectors("photo.jpg", photo),
            with_vectors("photo-small.jpg", near(photo, 22, 0.02)),
            with_vectors("other.jpg", other),
            with_vectors("twin-a.jpg", None, sha="1" * 64),
            with_vectors("twin-b.jpg", None, sha="1" * 64),
        ]
    )
    found = catalog.duplicates()
    assert [(sorted(group.keys), group.identical) for group in found] == [
        (["photo-small.jpg", "photo.jpg"], False),
        (["twin-a.jpg", "twin-b.jpg"], True),
    ]
    ((first, second, _, similarity),) = found[0].links
    assert {first, second} == {"photo.jpg", "photo-small.jpg"}
    assert similarity is not None and similarity > 0.9
    assert catalog.duplicates(min_similarity=0.9999) == [found[1]]  # thresholds are the caller's
