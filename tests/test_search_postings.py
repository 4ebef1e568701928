"""The catalog's posting lists: pages and counts equal a direct reading of the query on every record, through every
path (scoring all hits or walking one term's rank order; postings from memory, from the catalog file or rebuilt),
after deletes and re-analysis, at any offset, and for a reader while a writer changes the catalog."""

from __future__ import annotations

import random
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pixlens.catalog import postings, sets
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.query import And, Node, Not, Or, Term, to_string
from pixlens.record import ImageRecord, Label, Status
from test_query_semantics import NAMES, matches, queries

Labels = dict[str, int]


def resolve(term: Term) -> list[str]:
    return [term.value.title()]


def record(index: int, labels: Labels) -> ImageRecord:
    return ImageRecord(
        ImageName=f"{index:05d}.jpg",
        Status=Status.ANALYZED,
        Labels=[Label(Name=name, Confidence=conf) for name, conf in labels.items()],
    )


def expected_page(images: dict[int, Labels], query: Node, limit: int, offset: int) -> list[tuple[str, float]]:
    """The direct reading: every record's score, best first, ties newest (highest index = highest id) first."""
    scored = [(score, index) for index, labels in images.items() if (score := matches(query, labels)) is not None]
    scored.sort(key=lambda pair: (-pair[0], -pair[1]))
    return [(f"{index:05d}.jpg", round(score, 2)) for score, index in scored[offset : offset + limit]]


def found(catalog: SqliteCatalog, query: Node, limit: int, offset: int) -> list[tuple[str, float]]:
    return [(hit.key, hit.score) for hit in catalog.page(query, resolve, limit, offset)[0]]


def check(catalog: SqliteCatalog, images: dict[int, Labels], query: Node, limit: int = 7, offset: int = 0) -> None:
    total = sum(matches(query, labels) is not None for labels in images.values())
    assert found(catalog, query, limit, offset) == expected_page(images, query, limit, offset), to_string(query)
    assert catalog.page(query, resolve, limit, offset)[1] == total == catalog.count(query, resolve)


@contextmanager
def walking_always() -> Iterator[None]:
    """Read every page off the scoring term's rank order whenever there is one (normally only for many hits)."""
    with mock.patch.object(sets, "WALK_FROM", 0), mock.patch.object(sets, "WALK_SHARE", 0):
        yield


@contextmanager
def saving_every_posting() -> Iterator[None]:
    with mock.patch.object(postings, "SAVE_FROM", 0):
        yield


catalogs = st.lists(
    st.dictionaries(st.sampled_from(NAMES), st.sampled_from([55, 60, 70, 80, 90, 100]), max_size=4),
    min_size=0,
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(catalogs, queries, st.integers(0, 12), st.integers(0, 45), st.booleans())
def test_pages_equal_the_direct_reading(labels: list[Labels], query: Node, limit: int, offset: int, walk: bool) -> None:
    """Few distinct confidences, so that ties decide much of the order; any page, with and without the walk."""
    images = dict(enumerate(labels))
    with tempfile.TemporaryDirectory() as folder:
        catalog = SqliteCatalog(Path(folder) / "c.db")
        try:
            catalog.put(record(index, labels) for index, labels in images.items())
            if walk:
                with walking_always():
                    check(catalog, images, query, limit, offset)
            else:
                check(catalog, images, query, limit, offset)
        finally:
            catalog.close()


def random_labels(rng: random.Random) -> Labels:
    return {name: rng.randint(55, 100) for name in NAMES if rng.random() < 0.5}


QUERIES = [
    Term("dog"),
    Term("dog", op=">=", threshold=80.0),
    Term("cat", op="<", threshold=70.0),
    Not(Term("person")),
    And((Term("dog"), Not(Term("cat")), Term("person"))),
    And((Or((Term("cat"), Term("dog"))), Not(Term("person")))),
    And((Term("car", op=">", threshold=75.0), Not(Term("dog")))),
    Or((Term("car"), Not(Term("cat")))),
]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqliteCatalog]:
    opened = SqliteCatalog(tmp_path / "c.db")
    yield opened
    opened.close()


def test_deletes_and_reanalysis_keep_postings_right(catalog: SqliteCatalog, tmp_path: Path) -> None:
    rng = random.Random(7)
    images = {index: random_labels(rng) for index in range(300)}
    with saving_every_posting():
        catalog.put(record(index, labels) for index, labels in images.items())
        for query in QUERIES:  # builds, keeps and saves every posting
            check(catalog, images, query)
        images[1000] = {name: 77 for name in NAMES}  # a new image: every posting grows
        catalog.put([record(1000, images[1000])])
        for query in QUERIES:
            check(catalog, images, query)
        changed = rng.sample(sorted(images), 60)
        for index in changed[:30]:
            del images[index]
        assert catalog.delete(f"{index:05d}.jpg" for index in changed[:30]) == 30
        for query in QUERIES:
            check(catalog, images, query)
        for index in changed[30:]:
            images[index] = random_labels(rng)
            catalog.put([record(index, images[index])])
        for query in QUERIES:
            check(catalog, images, query)
        failed = rng.choice(sorted(images))
        del images[failed]  # a failed re-analysis: found by no label, and not by NOT either
        catalog.put([ImageRecord(ImageName=f"{failed:05d}.jpg", Status=Status.FAILED, Error="unreadable")])
        for query in QUERIES:
            check(catalog, images, query)
            check(catalog, images, query, limit=5, offset=40)
        fresh = SqliteCatalog(tmp_path / "c.db")  # another process: postings from the file, none stale
        try:
            for query in QUERIES:
                check(fresh, images, query)
        finally:
            fresh.close()


def test_the_walk_and_the_full_scoring_agree_on_many_hits(catalog: SqliteCatalog) -> None:
    rng = random.Random(11)
    images = {index: random_labels(rng) for index in range(sets.WALK_FROM * 3)}
    catalog.put(record(index, labels) for index, labels in images.items())
    for query in QUERIES:
        for offset in (0, 20, 900, len(images) - 3):
            check(catalog, images, query, limit=20, offset=offset)
            with walking_always():
                check(catalog, images, query, limit=20, offset=offset)


@pytest.mark.parametrize("offset", [3, 10**6, 2**63 - 1])
def test_offsets_beyond_the_hits(catalog: SqliteCatalog, offset: int) -> None:
    catalog.put([record(0, {"Dog": 90}), record(1, {"Dog": 70, "Cat": 60}), record(2, {"Cat": 80})])
    for query, total in ((Term("dog"), 2), (And((Term("dog"), Not(Term("cat")))), 1), (Not(Term("dog")), 1)):
        assert catalog.page(query, resolve, limit=20, offset=offset) == ([], total)
    assert catalog.page(Term("dog"), resolve, limit=2**63 - 1, offset=1)[0][0].key == "00001.jpg"


def test_a_posting_read_before_a_write_is_not_saved_after_it(catalog: SqliteCatalog, tmp_path: Path) -> None:
    """A search that rebuilt a posting saves it only if the entry has not changed since: else the next process
    would load a stale one."""
    catalog.put([record(0, {"Dog": 90})])
    store = postings.Postings()
    reader = catalog._connect()
    with saving_every_posting():
        reader.execute("BEGIN")
        (dog,), built = store.get(reader, ["Dog"])
        reader.execute("COMMIT")
        assert len(dog) == 1 and len(built) == 1
        catalog.put([record(1, {"Dog": 80})])  # between the read and the save
        store.save(reader, built)
    assert reader.execute("SELECT COUNT(*) FROM postings WHERE entry = 'Dog'").fetchone()[0] == 0
    assert catalog.count(Term("dog"), resolve) == 2


def test_a_reader_sees_every_write_whole(tmp_path: Path) -> None:
    """A writer moves images between Dog and Cat, a batch per transaction; a reader (with its own connections and
    postings, like another process) must never see a half-moved batch: every image is a dog or a cat, never both."""
    count = 400
    writer = SqliteCatalog(tmp_path / "c.db")
    reader = SqliteCatalog(tmp_path / "c.db")
    writer.put(record(index, {"Dog": 60 + index % 40}) for index in range(count))
    done = threading.Event()
    problems: list[str] = []

    def write() -> None:
        rng = random.Random(3)
        try:
            for _ in range(60):
                batch = rng.sample(range(count), 50)
                writer.put(record(index, {rng.choice(["Dog", "Cat"]): 55 + rng.randint(0, 45)}) for index in batch)
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            both = reader.count(And((Term("dog"), Term("cat"))), resolve)
            hits, total = reader.page(Or((Term("dog"), Term("cat"))), resolve, limit=count)
            mixed = [hit.key for hit in hits if len(hit.matched) != 1]
            if both or len(hits) != count or total != count or mixed:
                problems.append(f"both {both}, either {len(hits)} of {total}, mixed {mixed[:3]}")

    threads = [threading.Thread(target=write), threading.Thread(target=read), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    reader.close()
    assert problems == []


def test_kept_postings_catch_up_from_the_log_instead_of_being_rebuilt(catalog: SqliteCatalog) -> None:
    rng = random.Random(11)
    images = {index: random_labels(rng) for index in range(200)}
    catalog.put(record(index, labels) for index, labels in images.items())
    for query in QUERIES:
        check(catalog, images, query)
    builds: list[str] = []
    real_build = postings.Postings._build

    def counted(conn: object, entry: str) -> sets.Posting:
        builds.append(entry)
        return real_build(conn, entry)  # type: ignore[arg-type]

    with mock.patch.object(postings.Postings, "_build", staticmethod(counted)):
        for step in range(5):  # new images, re-analysed ones (labels added, dropped, changed), deletions
            images[500 + step] = random_labels(rng)
            changed = rng.choice(sorted(images))
            images[changed] = random_labels(rng)
            gone = rng.choice(sorted(set(images) - {changed}))
            del images[gone]
            catalog.put([record(500 + step, images[500 + step]), record(changed, images[changed])])
            catalog.delete([f"{gone:05d}.jpg"])
            for query in QUERIES:
                check(catalog, images, query)
    assert builds == []  # every posting came from memory and the log


def test_a_pruned_log_means_a_rebuild_not_a_wrong_posting(catalog: SqliteCatalog) -> None:
    rng = random.Random(12)
    images = {index: random_labels(rng) for index in range(100)}
    catalog.put(record(index, labels) for index, labels in images.items())
    check(catalog, images, Term("dog"))
    images[1000] = {"Dog": 99}
    catalog.put([record(1000, images[1000])])
    with mock.patch.object(postings, "LOG_KEPT", 0):
        catalog._write(postings.prune_log)  # the log no longer reaches back to the kept posting
    check(catalog, images, Term("dog"))
    check(catalog, images, Not(Term("dog")))


def test_concurrent_readers_of_a_changed_posting_share_one_load(catalog: SqliteCatalog) -> None:
    images = {index: {"Dog": 60 + index % 40} for index in range(3000)}
    catalog.put(record(index, labels) for index, labels in images.items())
    loads: list[str] = []
    real_load = postings.Postings._load
    ready = threading.Barrier(8)

    def slow_load(self: postings.Postings, conn: object, entry: str, generation: int) -> object:
        loads.append(entry)
        threading.Event().wait(0.2)  # long enough for every reader to arrive meanwhile
        return real_load(self, conn, entry, generation)  # type: ignore[arg-type]

    def read() -> list[tuple[str, float]]:
        ready.wait()
        return found(catalog, Term("dog"), 5, 0)

    with mock.patch.object(postings.Postings, "_load", slow_load):
        results: list[list[tuple[str, float]]] = []
        threads = [threading.Thread(target=lambda: results.append(read())) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert loads.count("Dog") == 1
    assert len(results) == 8 and all(result == expected_page(images, Term("dog"), 5, 0) for result in results)
