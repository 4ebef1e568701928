"""The PostgreSQL catalog's own behaviour, on the server that runs on 127.0.0.1:5432 (each test makes and drops its
own database): opening (clear errors, migrations once under concurrent opens), lost connections, ``text:``,
check, stats; then end to end through the ``pixlens`` command (slow). The port's semantics are
``test_catalog_port.py``'s, which runs on PostgreSQL too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import psycopg
import pytest

from catalog_records import count, find, keys, label, near, record, unit
from conftest import SAMPLES, sample_files
from pgserver import SERVER, fresh_database, terminate_connections
from pixlens.catalog import open_catalog, postings
from pixlens.catalog.postgres import PostgresCatalog
from pixlens.catalog.postgres_db import LostConnectionError, migrations
from pixlens.errors import CatalogError
from pixlens.query import Term, parse

PIXLENS = Path(sys.executable).with_name("pixlens")


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database() as made:
        yield made


@pytest.fixture
def catalog(url: str, tmp_path: Path) -> Iterator[PostgresCatalog]:
    opened = open_catalog(url, home=tmp_path / "home")
    assert isinstance(opened, PostgresCatalog)
    yield opened
    opened.close()


def one_line_error(url: str) -> str:
    with pytest.raises(CatalogError) as caught:
        open_catalog(url)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_database_that_does_not_exist_is_a_clear_error() -> None:
    message = one_line_error(f"{SERVER}/pixlens_test_no_such_database")
    assert "cannot open the PostgreSQL catalog" in message
    assert 'database "pixlens_test_no_such_database" does not exist' in message


def test_an_unreachable_server_is_a_clear_error() -> None:
    message = one_line_error("postgresql://postgres@127.0.0.1:1/pixlens")  # nothing listens on port 1
    assert "cannot open the PostgreSQL catalog postgresql://postgres@127.0.0.1:1/pixlens" in message


def test_a_password_is_never_shown() -> None:
    message = one_line_error("postgresql://postgres:s3cret@127.0.0.1:1/pixlens")
    assert "s3cret" not in message and ":***@" in message


def test_both_schemes_open_the_catalog(url: str, tmp_path: Path) -> None:
    for scheme_url in (url, url.replace("postgresql://", "postgres://", 1)):
        opened = open_catalog(scheme_url, home=tmp_path)
        opened.put([record("a.jpg", label("Dog", 90.0))])
        assert keys(find(opened, "dog")) == ["a.jpg"]
        opened.close()


def test_concurrent_opens_migrate_once(url: str, tmp_path: Path) -> None:
    opened: list[PostgresCatalog] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            catalog = open_catalog(url, home=tmp_path)
            assert isinstance(catalog, PostgresCatalog)
            opened.append(catalog)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with psycopg.connect(url) as conn:
        versions = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert versions == [(number, name) for number, (name, _) in enumerate(migrations(), start=1)]
    for catalog in opened:
        catalog.close()


def test_a_newer_schema_is_refused(url: str, tmp_path: Path) -> None:
    open_catalog(url, home=tmp_path).close()
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO schema_version VALUES (999, '0999_future', now())")
    with pytest.raises(CatalogError, match="newer pixlens"):
        open_catalog(url, home=tmp_path)


def test_killed_connections_are_replaced(catalog: PostgresCatalog, url: str) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0))])
    assert keys(find(catalog, "dog")) == ["a.jpg"]
    assert terminate_connections(url) >= 1  # the pool's idle connections, as a server restart leaves them
    assert keys(find(catalog, "dog")) == ["a.jpg"]
    assert terminate_connections(url) >= 1
    catalog.put([record("b.jpg", label("Dog", 80.0))])
    assert terminate_connections(url) >= 1
    assert catalog.mark_pending([("c.jpg", "e1")]) == 1
    assert keys(find(catalog, "dog")) == ["a.jpg", "b.jpg"]
    assert catalog.status_counts() == {"pending": 1, "analyzed": 2, "failed": 0}


def test_a_connection_killed_inside_a_transaction_is_retried(catalog: PostgresCatalog, url: str) -> None:
    """A write whose connection dies half-way runs again on a new connection: all of it or none, once."""
    killed = []

    def kill_once(conn: psycopg.Connection[tuple[object, ...]]) -> None:
        if not killed:
            killed.append(conn.info.backend_pid)
            with psycopg.connect(url, autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))

    original = catalog.vectors.begin

    def begin(conn: psycopg.Connection[tuple[object, ...]]) -> None:
        kill_once(conn)
        original(conn)

    catalog.vectors.begin = begin  # type: ignore[method-assign]
    catalog.put([record("a.jpg", label("Dog", 90.0)), record("b.jpg", label("Dog", 80.0))])
    assert killed
    assert keys(find(catalog, "dog")) == ["a.jpg", "b.jpg"]
    assert catalog.labels() == [("Dog", 2)]
    assert catalog.check() == []


def test_a_connection_lost_after_the_commit_does_not_fail_the_write(
    catalog: PostgresCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vector index is brought up to date after a write commits; losing the connection then must not report
    the committed write as failed (the pipeline would mark its images failed, "not saved")."""
    brought_up_to_date = catalog.vectors.vector_index
    calls = []

    def lost() -> object:
        calls.append(1)
        raise LostConnectionError("catalog read failed: the connection was lost: terminating connection")

    monkeypatch.setattr(catalog.vectors, "vector_index", lost)
    first = record("a.jpg", label("Dog", 90.0))
    first.ImageEmbedding = unit(1)
    catalog.put([first])  # no error: the record is committed
    assert calls
    monkeypatch.setattr(catalog.vectors, "vector_index", brought_up_to_date)
    second = record("b.jpg", label("Dog", 80.0))
    second.ImageEmbedding = near(unit(1), 2)
    catalog.put([second])
    assert keys(find(catalog, "dog")) == ["a.jpg", "b.jpg"]
    assert [key for key, _ in catalog.similar("a.jpg")] == ["b.jpg"]


def test_text_phrases_match_stemmed_words_in_any_case(catalog: PostgresCatalog) -> None:
    sign = record("sign.jpg")
    sign.TextDetections = [{"DetectedText": "Opening Hours Monday", "Type": "LINE", "Confidence": 99.0}]
    other = record("other.jpg")
    other.TextDetections = [{"DetectedText": "hours of opening", "Type": "LINE", "Confidence": 99.0}]
    catalog.put([sign, other])

    def text(term: Term) -> list[str]:
        return [f"text:{term.value}"]

    assert keys(catalog.search(parse('"opening hour"'), text)) == ["sign.jpg"]
    assert sorted(keys(catalog.search(parse("OPENED"), text))) == ["other.jpg", "sign.jpg"]
    assert catalog.search(parse("closed"), text) == []
    assert catalog.stats()["with_text"] == 2
    catalog.delete(["sign.jpg"])
    assert keys(catalog.search(parse("monday"), text)) == []


def test_postings_kept_in_memory_follow_another_process_writes(
    catalog: PostgresCatalog, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postings, "SAVE_FROM", 1)  # every posting is saved for the next process, however small
    catalog.put([record(f"{n:02d}.jpg", label("Dog", 60.0 + n)) for n in range(10)])
    assert count(catalog, "dog") == 10
    assert count(catalog, "NOT dog") == 0
    other = open_catalog(url, home=tmp_path / "other")
    try:
        other.put([record("new.jpg", label("Dog", 99.0), label("Cat", 70.0))])
        other.delete(["03.jpg"])
        other.put([record("05.jpg", label("Cat", 90.0))])  # 05 is a cat now, no longer a dog
    finally:
        other.close()
    # caught up from the log, not read again: the kept posting (and the universe) moved by the changes only
    assert keys(find(catalog, "dog"))[:2] == ["new.jpg", "09.jpg"]
    assert count(catalog, "dog") == 9
    assert sorted(keys(find(catalog, "cat AND NOT dog"))) == ["05.jpg"]
    with psycopg.connect(url) as conn:
        saved = dict(conn.execute("SELECT entry, generation FROM postings").fetchall())
        generations = dict(conn.execute("SELECT entry, generation FROM posting_generations").fetchall())
    assert saved["Dog"] == 10 and generations["Dog"] == 10 + 1 + 1 + 1  # saved at 10 rows; +new, -03, -05
    fresh = open_catalog(url, home=tmp_path / "fresh")
    try:
        assert keys(find(fresh, "dog")) == keys(find(catalog, "dog"))
        assert count(fresh, "NOT cat") == count(catalog, "NOT cat") == 8
    finally:
        fresh.close()


def test_stats_say_where_vectors_live(catalog: PostgresCatalog, tmp_path: Path) -> None:
    stats = catalog.stats()
    assert str(stats["vectors"]).startswith(f"local index at {tmp_path / 'home' / 'vectors'}")
    assert isinstance(stats["bytes"], int) and stats["bytes"] > 0


def test_check_finds_what_breaks_the_rules(catalog: PostgresCatalog, url: str) -> None:
    catalog.put([record("a.jpg", label("Dog", 90.0))])
    assert catalog.check() == []
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO label_index VALUES ('Dog', 50.0, 12345)")
    problems = catalog.check()
    assert "index entries of images that do not exist: 1" in problems
    assert "label counts that disagree with the label index: 1" in problems


def test_hooks_and_deliveries(catalog: PostgresCatalog) -> None:
    from pixlens.catalog.base import DeliveryRow

    hook = catalog.add_hook("dogs", "dog", "http://127.0.0.1:9/", None, "2026-01-01T00:00:00Z")
    assert hook is not None
    assert catalog.add_hook("dogs", "cat", "http://127.0.0.1:9/", None, "2026-01-01T00:00:00Z") is None
    catalog.put([record("a.jpg", label("Dog", 90.0))])
    assert catalog.unmatched() == ["a.jpg"]
    delivery = DeliveryRow("d1", hook.id, "dogs", "a.jpg", "{}", "pending", 0, "2026-01-01T00:00:00Z", None,
                           "2026-01-01T00:00:00Z", None)  # fmt: skip
    catalog.add_deliveries([delivery], matched=["a.jpg"])
    assert catalog.unmatched() == []
    (claimed,) = catalog.claim_deliveries("2026-01-02T00:00:00Z", "2026-01-02T00:05:00Z", 10)
    assert claimed.next_attempt_at == "2026-01-01T00:00:00Z"
    assert catalog.claim_deliveries("2026-01-02T00:00:00Z", "2026-01-02T00:05:00Z", 10) == []  # leased
    assert [d.next_attempt_at for d in catalog.deliveries("dogs")] == ["2026-01-02T00:05:00Z"]
    assert catalog.remove_hook("dogs") and catalog.deliveries() == []
    key = catalog.add_api_key("ci", "read", "pl_abc", "f" * 64, "2026-01-01T00:00:00Z")
    assert catalog.api_keys("pl_abc") == [key]
    revoked = catalog.revoke_api_key(key.id, "2026-01-03T00:00:00Z")
    assert revoked is not None and revoked.revoked_at == "2026-01-03T00:00:00Z"


# --- end to end through the command ---------------------------------------------------------------------------


def run(home: Path, url: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", PIXLENS_CATALOG=url, PIXLENS_BATCH_SIZE="2")
    done = subprocess.run(
        [str(PIXLENS), "--home", str(home), "--store", str(home.parent / "store"), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done


def start(home: Path, url: str, *args: str) -> subprocess.Popen[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", PIXLENS_CATALOG=url, PIXLENS_BATCH_SIZE="2")
    command = [str(PIXLENS), "--home", str(home), "--store", str(home.parent / "store"), *args]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> str:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return err


def two_halves(store: Path) -> tuple[Path, Path]:
    halves = (store / "first", store / "second")
    for number, name in enumerate(sample_files()):
        folder = halves[number % 2]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / name, folder / name)
    return halves


def people_of(url: str) -> list[list[tuple[str, int]]]:
    """Who is with whom (whatever the people's numbers)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT i.key, f.face_index, f.person_id FROM faces f JOIN images i ON i.id = f.image_id"
        ).fetchall()
    members: dict[int, set[tuple[str, int]]] = {}
    for key, face, person in rows:
        members.setdefault(person, set()).add((key, face))
    return sorted(sorted(group) for group in members.values())


@pytest.mark.slow
def test_ingest_search_show_people_reconcile(url: str, tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = tmp_path / "store"
    store.mkdir()
    names = sample_files()[:6]
    for name in names:
        shutil.copyfile(SAMPLES / name, store / name)
    run(home, url, "ingest", str(store))
    stats = run(home, url, "stats").stdout
    assert "analyzed: 6" in " ".join(stats.split()) and "local index at" in stats
    search = run(home, url, "search", "NOT zebra", "--json").stdout.splitlines()
    assert len(search) == 6
    run(home, url, "show", names[0])
    run(home, url, "people")
    (store / names[0]).unlink()
    done = run(home, url, "reconcile", "--yes")
    reconciled = done.stdout + done.stderr
    assert "deleted: 1" in " ".join(reconciled.split())
    assert len(run(home, url, "search", "NOT zebra", "--json").stdout.splitlines()) == 5


@pytest.mark.slow
def test_two_ingests_at_once_give_the_people_of_one_after_the_other(tmp_path: Path) -> None:
    with fresh_database() as together, fresh_database() as apart:
        homes = {}
        for name in ("together", "apart"):
            homes[name] = tmp_path / name / "home"
            homes[name].parent.mkdir()
            two_halves(homes[name].parent / "store")
        first, second = (homes["together"].parent / "store" / half for half in ("first", "second"))
        both = [start(homes["together"], together, "ingest", str(first)),
                start(homes["together"], together, "ingest", str(second))]  # fmt: skip
        for process in both:
            finish(process)
        for half in ("first", "second"):
            run(homes["apart"], apart, "ingest", str(homes["apart"].parent / "store" / half))
        expected = people_of(apart)
        assert len(expected) >= 5  # the samples' faces are of several people
        assert people_of(together) == expected


@pytest.mark.slow
def test_connections_killed_mid_ingest_are_survived(url: str, tmp_path: Path) -> None:
    """The server ends the ingest's connections again and again while it runs (as restarts would): the statements
    that lost theirs run again on new ones, and every image ends analysed; no traceback."""
    home = tmp_path / "home"
    (store,) = two_halves(tmp_path / "store")[:1]
    process = start(home, url, "ingest", str(store))
    killed = 0
    while process.poll() is None:
        killed += terminate_connections(url)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=0.5)
    err = finish(process)
    assert killed >= 1, err
    count = run(home, url, "search", "NOT zebra", "--json").stdout.splitlines()
    assert len(count) == len(list(store.iterdir()))
