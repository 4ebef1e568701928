"""The search answer cache (pixlens.api.answers): kept per catalog generation, one computation for concurrent
requests, bounded, never serving an answer made before a write; and the SQLite catalog's generation."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.catalog_records import label, record
from tests.conftest import make_lens
from tests.serving import Served, serve

from pixlens.access import Scope, create_key
from pixlens.api.answers import AnswerCache
from pixlens.api.server import key_verifier
from pixlens.catalog.sqlite import SqliteCatalog


class Catalog:
    """A generation that the test moves, as a write would."""

    def __init__(self) -> None:
        self.value: int | None = 1

    def generation(self) -> int | None:
        return self.value


class Computing:
    """A compute function that counts its calls and answers what it is told."""

    def __init__(self, body: bytes = b"answer", before: Callable[[], None] | None = None) -> None:
        self.body = body
        self.calls = 0
        self.before = before

    def __call__(self) -> bytes:
        self.calls += 1
        number = self.calls
        if self.before is not None:
            self.before()
        return self.body + str(number).encode()


def cache(catalog: Catalog, answers: int = 10, nbytes: int = 1 << 20) -> AnswerCache:
    return AnswerCache(catalog.generation, answers, nbytes)


def test_an_answer_is_kept_while_the_catalog_is_unchanged() -> None:
    catalog, compute = Catalog(), Computing()
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        return [await answers.answer("q", compute) for _ in range(3)]

    assert asyncio.run(scenario()) == [b"answer1"] * 3
    assert compute.calls == 1
    assert (answers.counts.hits, answers.counts.misses) == (2, 1)


def test_a_write_makes_the_next_request_compute_again() -> None:
    catalog, compute = Catalog(), Computing()
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        first = await answers.answer("q", compute)
        catalog.value = 2  # a commit
        return [first, await answers.answer("q", compute), await answers.answer("q", compute)]

    assert asyncio.run(scenario()) == [b"answer1", b"answer2", b"answer2"]
    assert len(answers) == 1  # replaced, not kept beside the old one


def test_an_answer_computed_while_a_write_came_in_is_not_kept() -> None:
    catalog = Catalog()
    compute = Computing(before=lambda: setattr(catalog, "value", (catalog.value or 0) + 1))
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        return [await answers.answer("q", compute) for _ in range(2)]

    assert asyncio.run(scenario()) == [b"answer1", b"answer2"]  # the first may predate the write: asked again
    assert len(answers) == 0


def test_different_requests_have_their_own_answers() -> None:
    catalog = Catalog()
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        return [
            await answers.answer(("search", "dog", 20, None, True), Computing(b"dog")),
            await answers.answer(("search", "dog", 20, None, False), Computing(b"dog, no facets")),
            await answers.answer(("search", "cat", 20, None, True), Computing(b"cat")),
            await answers.answer(("search", "dog", 20, None, True), Computing(b"never")),
        ]

    assert asyncio.run(scenario()) == [b"dog1", b"dog, no facets1", b"cat1", b"dog1"]


def test_concurrent_requests_wait_for_one_computation() -> None:
    catalog = Catalog()
    release = threading.Event()
    compute = Computing(before=lambda: release.wait(30))
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        waiting = [asyncio.ensure_future(answers.answer("q", compute)) for _ in range(20)]
        await asyncio.sleep(0.05)  # all of them asked before the one computation ends
        release.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(scenario()) == [b"answer1"] * 20
    assert compute.calls == 1
    assert (answers.counts.misses, answers.counts.shared) == (1, 19)


def test_a_request_after_a_write_does_not_join_a_computation_started_before_it() -> None:
    catalog = Catalog()
    release = threading.Event()
    compute = Computing(before=lambda: release.wait(30))
    answers = cache(catalog)

    async def scenario() -> list[bytes]:
        before = asyncio.ensure_future(answers.answer("q", compute))
        await asyncio.sleep(0.05)
        catalog.value = 2
        after = asyncio.ensure_future(answers.answer("q", compute))
        await asyncio.sleep(0.05)
        release.set()
        return list(await asyncio.gather(before, after))

    assert sorted(asyncio.run(scenario())) == [b"answer1", b"answer2"]
    assert compute.calls == 2


def test_an_error_reaches_every_waiting_request_and_is_not_kept() -> None:
    catalog = Catalog()
    release = threading.Event()

    def failing() -> bytes:
        release.wait(30)
        raise ValueError("malformed query")

    answers = cache(catalog)

    async def scenario() -> list[BaseException | bytes]:
        waiting = [asyncio.ensure_future(answers.answer("q", failing)) for _ in range(5)]
        await asyncio.sleep(0.05)
        release.set()
        return list(await asyncio.gather(*waiting, return_exceptions=True))

    found = asyncio.run(scenario())
    assert all(isinstance(each, ValueError) for each in found)
    assert len(answers) == 0
    assert asyncio.run(answers.answer("q", Computing())) == b"answer1"


def test_a_request_that_goes_away_leaves_the_computation_to_the_others() -> None:
    catalog = Catalog()
    release = threading.Event()
    compute = Computing(before=lambda: release.wait(30))
    answers = cache(catalog)

    async def scenario() -> bytes:
        leaving = asyncio.ensure_future(answers.answer("q", compute))
        staying = asyncio.ensure_future(answers.answer("q", compute))
        await asyncio.sleep(0.05)
        leaving.cancel()  # its client disconnected
        release.set()
        return await staying

    assert asyncio.run(scenario()) == b"answer1"
    assert compute.calls == 1


def test_the_least_recently_used_answers_go_first() -> None:
    catalog = Catalog()
    answers = cache(catalog, answers=2)

    async def scenario() -> None:
        await answers.answer("a", Computing(b"a"))
        await answers.answer("b", Computing(b"b"))
        await answers.answer("a", Computing(b"never"))  # a used again: b is now the oldest
        await answers.answer("c", Computing(b"c"))

    asyncio.run(scenario())
    assert len(answers) == 2 and answers.counts.evicted == 1
    assert asyncio.run(answers.answer("a", Computing(b"again"))) == b"a1"
    assert asyncio.run(answers.answer("b", Computing(b"again"))) == b"again1"


def test_memory_is_bounded_in_bytes() -> None:
    catalog = Catalog()
    answers = cache(catalog, answers=100, nbytes=1000)

    async def scenario() -> None:
        for name in "abcdefgh":
            await answers.answer(name, Computing(name.encode() * 299))  # 300 bytes each
        await answers.answer("huge", Computing(b"x" * 5000))  # larger than the whole: answered, never kept

    asyncio.run(scenario())
    assert answers.nbytes <= 1000 and len(answers) == 3
    assert asyncio.run(answers.answer("huge", Computing(b"y"))) == b"y1"


@pytest.mark.parametrize("generation", [None, 1])
def test_nothing_is_kept_when_the_catalog_cannot_tell_or_the_cache_is_off(generation: int | None) -> None:
    catalog, compute = Catalog(), Computing()
    catalog.value = generation
    answers = cache(catalog, answers=0 if generation is not None else 10)

    async def scenario() -> list[bytes]:
        return [await answers.answer("q", compute) for _ in range(2)]

    assert asyncio.run(scenario()) == [b"answer1", b"answer2"]
    assert len(answers) == 0


# -- the SQLite catalog's generation ----
def test_sqlite_generation_moves_with_every_commit_of_any_connection(tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.db")
    try:
        first = catalog.generation()
        assert catalog.generation() == first  # reading changes nothing
        catalog.get("none.jpg")
        assert catalog.generation() == first
        catalog.put([record("a.jpg", label("Dog", 90.0))])
        second = catalog.generation()
        assert second != first
        catalog.mark_pending([("b.jpg", "etag")])
        third = catalog.generation()
        assert third != second
        other = sqlite3.connect(tmp_path / "catalog.db", isolation_level=None)  # another process's write
        other.execute("UPDATE people SET name = name")
        other.execute("DELETE FROM images WHERE key = 'b.jpg'")
        other.close()
        assert catalog.generation() != third
    finally:
        catalog.close()


# -- over HTTP: a real server over a real catalog ----
@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(make_lens(tmp_path / "home", analyzers=["labels"])) as running:
        yield running


def dogs(served: Served, **params: str) -> dict[str, Any]:
    answer = served.client.get("/v1/search", params={"q": "dog", "limit": "100", **params})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_search_after_a_write_sees_the_write(served: Served) -> None:
    catalog = served.runtime.lens.catalog
    assert dogs(served)["Total"] == 0
    assert dogs(served)["Total"] == 0  # kept
    catalog.put([record("a.jpg", label("Dog", 90.0))])
    assert [hit["ImageName"] for hit in dogs(served)["Images"]] == ["a.jpg"]
    assert dogs(served)["Facets"]["Labels"] == [{"Name": "Dog", "Count": 1}]
    catalog.put([record("b.jpg", label("Dog", 95.0))])
    assert [hit["ImageName"] for hit in dogs(served)["Images"]] == ["b.jpg", "a.jpg"]
    assert dogs(served)["Facets"]["Labels"] == [{"Name": "Dog", "Count": 2}]
    catalog.delete(["b.jpg"])
    assert dogs(served)["Total"] == 1
    assert served.runtime.answers.counts.hits > 0


def test_a_write_by_another_process_is_seen(served: Served, tmp_path: Path) -> None:
    assert dogs(served)["Total"] == 0
    other = SqliteCatalog(tmp_path / "home" / "catalog.db")  # what pixlens ingest in another shell opens
    try:
        other.put([record("elsewhere.jpg", label("Dog", 80.0))])
    finally:
        other.close()
    assert [hit["ImageName"] for hit in dogs(served)["Images"]] == ["elsewhere.jpg"]


def test_an_image_analysed_again_is_seen_by_the_next_search(served: Served) -> None:
    lens = served.runtime.lens
    lens.catalog.put([record("a.jpg", label("Dog", 90.0))])
    before = dogs(served)
    lens.catalog.put([record("a.jpg", label("Dog", 90.0), label("Cat", 70.0))])  # the same key, analysed again
    after = dogs(served)
    assert before["Facets"]["Labels"] == [{"Name": "Dog", "Count": 1}]
    assert after["Facets"]["Labels"] == [{"Name": "Cat", "Count": 1}, {"Name": "Dog", "Count": 1}]


def test_concurrent_searches_while_images_are_written(served: Served) -> None:
    catalog = served.runtime.lens.catalog
    written = 40

    def write() -> None:
        for number in range(written):
            catalog.put([record(f"dog-{number:02d}.jpg", label("Dog", 50.0 + number))])

    def ask(_: int) -> list[dict[str, Any]]:
        return [dogs(served) for _ in range(10)]

    with ThreadPoolExecutor(9) as pool:
        writing = pool.submit(write)
        answers = [answer for each in pool.map(ask, range(8)) for answer in each]
        writing.result()
    for answer in answers:  # each answer is one state of the catalog, whole: its hits, total and facets agree
        assert answer["Total"] == len(answer["Images"]) == sum(f["Count"] for f in answer["Facets"]["Labels"])
    assert dogs(served)["Total"] == written  # after the last write: all of them


def test_a_kept_answer_is_never_served_without_the_scope_it_needs(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["labels"])
    _, reader = create_key(lens.catalog, Scope.READ, "reader")
    verifier = key_verifier(lens)
    with serve(lens, verifier) as running:
        asked = running.client.get("/v1/search", params={"q": "dog"}, headers={"X-Api-Key": reader})
        assert asked.status_code == 200
        again = running.client.get("/v1/search", params={"q": "dog"})
        assert again.status_code == 401 and again.json()["code"] == "unauthorized"
        wrong = running.client.get("/v1/search", params={"q": "dog"}, headers={"X-Api-Key": "plk_wrong"})
        assert wrong.status_code == 401
        assert running.client.get("/v1/search", params={"q": "dog"}, headers={"X-Api-Key": reader}).json() == (
            asked.json()
        )


def test_errors_are_answered_and_not_kept(served: Served) -> None:
    for _ in range(2):
        answer = served.client.get("/v1/search", params={"q": "dog AND (cat"})
        assert answer.status_code == 400 and answer.json()["code"] == "invalid_query"
    assert len(served.runtime.answers) == 0
