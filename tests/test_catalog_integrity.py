"""A catalog that is not one, is damaged, full, newer or read-only: a CatalogError a person understands."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from catalog_processes import write_past_a_file_size_limit
from catalog_records import resolver
from pixlens.catalog.sqlite import SCHEMA_VERSION, SqliteCatalog
from pixlens.errors import CatalogError
from pixlens.query import parse
from pixlens.record import ImageRecord, Label, Status

SPAWN = multiprocessing.get_context("spawn")


def record(number: int, text_size: int = 200) -> ImageRecord:
    words = " ".join(f"word{number}x{k}" for k in range(text_size // 8))
    return ImageRecord(
        ImageName=f"img{number:04d}.jpg",
        Status=Status.ANALYZED,
        Labels=[Label(Name="Dog", Confidence=90.0 - number % 30), Label(Name=f"Thing{number % 40}", Confidence=70.0)],
        TextDetections=[{"DetectedText": words, "Type": "LINE", "Confidence": 99.0}],
    )


def filled(path: Path, images: int = 400) -> None:
    catalog = SqliteCatalog(path)
    try:
        for start in range(0, images, 50):
            catalog.put(record(number) for number in range(start, min(images, start + 50)))
    finally:
        catalog.close()


def use(catalog: SqliteCatalog) -> None:
    """Read everything a user can ask for."""
    catalog.search(parse("dog"), resolver(catalog), limit=1000)
    catalog.labels()
    catalog.stats()
    list(catalog.states())
    for number in range(0, 400, 7):
        catalog.get(f"img{number:04d}.jpg")


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_text("these are my holiday notes, not a catalog\n" * 200)
    with pytest.raises(CatalogError, match="is not a pixlens catalog"):
        SqliteCatalog(path)
    assert path.read_text().startswith("these are my holiday notes")  # left as it was


def test_a_catalog_damaged_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    filled(path)
    assert not SqliteCatalog(path).check()  # sound before
    with closing(sqlite3.connect(path)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = path.stat().st_size // page_size
    assert pages > 40
    with path.open("r+b") as handle:  # garbage over a few pages in the middle, as a failing disk would leave
        for page in range(pages // 2, pages // 2 + 4):
            handle.seek(page * page_size)
            handle.write(bytes([0xA5]) * page_size)

    errors: list[str] = []
    try:
        catalog = SqliteCatalog(path)
        use(catalog)
    except CatalogError as exc:
        errors.append(str(exc))
    assert errors and "damaged" in errors[0] and "pixlens check" in errors[0], errors
    catalog = SqliteCatalog(path)  # the schema pages are intact: it opens, and check says what is wrong
    problems = catalog.check()
    catalog.close()
    assert problems and all(isinstance(problem, str) for problem in problems)


def test_check_finds_what_breaks_the_catalogs_own_rules(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    filled(path, images=20)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE label_counts SET images = images + 1 WHERE label = 'Dog'")
        conn.commit()
    catalog = SqliteCatalog(path)
    assert catalog.check() == ["label counts that disagree with the label index: 1"]
    catalog.close()


def test_a_full_disk_reports_the_disk_and_keeps_the_catalog_usable(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    catalog = SqliteCatalog(path)
    catalog.put([record(0)])
    pages = catalog._writer.execute("PRAGMA page_count").fetchone()[0]
    catalog._writer.execute(f"PRAGMA max_page_count = {pages}")  # no room for one more page
    with pytest.raises(CatalogError) as raised:
        catalog.put([record(number, text_size=20_000) for number in range(1, 40)])
    message = str(raised.value)
    assert "disk is full" in message and "no transaction" not in message, message
    assert catalog.get("img0001.jpg") is None  # nothing of the failed batch
    catalog._writer.execute("PRAGMA max_page_count = 1073741823")  # room again: the same catalog goes on
    catalog.put([record(1)])
    assert catalog.get("img0001.jpg") is not None
    assert catalog.check() == []
    catalog.close()


def test_a_write_failing_half_way_reports_why_and_the_catalog_goes_on(tmp_path: Path) -> None:
    # SQLite rolls such a transaction back itself; a second ROLLBACK used to replace the error with "cannot
    # rollback - no transaction is active".
    results = SPAWN.Queue()
    writer = SPAWN.Process(target=write_past_a_file_size_limit, args=(str(tmp_path / "c.db"), results), daemon=True)
    writer.start()
    outcome, rewritten, failed_absent, problems = results.get(timeout=120)
    writer.join(60)
    assert "disk I/O error" in outcome and "no transaction" not in outcome, outcome
    assert "disk may be full" in outcome
    assert rewritten and failed_absent and problems == []


def test_a_catalog_from_a_newer_pixlens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    filled(path, images=2)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO migrations VALUES ('0099_something_new', '2031-01-01T00:00:00Z')")
        conn.commit()
    with pytest.raises(CatalogError, match=r"newer pixlens .*0099_something_new.*upgrade pixlens"):
        SqliteCatalog(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM migrations WHERE name = '0099_something_new'")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
        conn.commit()
    with pytest.raises(CatalogError, match=f"schema version {SCHEMA_VERSION + 3}"):
        SqliteCatalog(path)


def test_a_catalog_is_marked_with_its_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    filled(path, images=1)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file or folder read-only for real, also for root (who ignores permission bits)."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a file read-only")
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("this file system does not support immutable files")
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


def test_a_read_only_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    filled(path, images=2)
    with read_only(path), pytest.raises(CatalogError, match=r"is read-only.*the file is not writable"):
        SqliteCatalog(path)


def test_a_catalog_in_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "home"
    filled(folder / "catalog.db", images=2)
    with read_only(folder), pytest.raises(CatalogError, match=r"is read-only.*folder"):
        SqliteCatalog(folder / "catalog.db")
    with read_only(folder), pytest.raises(CatalogError, match=r"read-only|cannot create"):
        SqliteCatalog(folder / "new" / "catalog.db")


def pixlens_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    import sys

    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment["COLUMNS"] = "500"
    command = [str(Path(sys.executable).with_name("pixlens")), *map(str, args)]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


def test_pixlens_check_says_sound_or_names_each_problem(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    filled(home / "catalog.db", images=20)

    sound = pixlens_cli("--home", home, "check")
    assert sound.returncode == 0 and "the catalog is sound" in sound.stderr, sound.stderr

    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        conn.execute("UPDATE label_counts SET images = images + 1 WHERE label = 'Dog'")
        conn.commit()
    broken = pixlens_cli("--home", home, "check", "--json")
    assert broken.returncode == 1
    assert json.loads(broken.stdout) == {"Problems": ["label counts that disagree with the label index: 1"]}


def test_a_catalog_that_is_not_a_database_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "catalog.db").write_text("not a catalog\n" * 100)

    done = pixlens_cli("--home", home, "search", "dog")

    assert done.returncode == 2 and "is not a pixlens catalog" in done.stderr
    assert "Traceback" not in done.stderr
