"""A crash mid-run loses nothing and redoes nothing: ``kill -9`` an ingest, then run it again (or reconcile).

The catalog is the durable ledger: every job is marked pending before it runs, each batch is written in one
transaction, so after the kill an image is either analysed (and stays as it is) or pending (and is finished by
the next run).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import SAMPLES, sample_files
from pixlens.catalog.facets import facets
from pixlens.record import ImageRecord, utc_now

pytestmark = pytest.mark.slow

PIXLENS = Path(sys.executable).with_name("pixlens")
SUBFOLDERS = ("first", "second")


def env() -> dict[str, str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    clean.update(COLUMNS="500", PIXLENS_BATCH_SIZE="2", PIXLENS_WORKERS="1")  # small batches: a kill lands mid-run
    return clean


def make_sixty(folder: Path) -> set[str]:
    """The 30 samples twice, under two sub-folders; returns the keys they get in the store."""
    keys = set()
    for sub in SUBFOLDERS:
        (folder / sub).mkdir(parents=True)
        for name in sample_files():
            shutil.copyfile(SAMPLES / name, folder / sub / name)
            keys.add(f"{folder.name}/{sub}/{name}")
    assert len(keys) == 60
    return keys


def read_only(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)


def analysed_count(db: Path) -> int:
    try:
        conn = read_only(db)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM images WHERE status = 'analyzed'").fetchone()[0])
    except sqlite3.Error:  # not created yet
        return 0
    finally:
        conn.close()


def snapshot(db: Path) -> dict[str, tuple[str, str, str]]:
    """key -> (status, record JSON, updated_at) of every row."""
    conn = read_only(db)
    try:
        return {
            key: (status, rec, at)
            for key, status, rec, at in conn.execute("SELECT key, status, record, updated_at FROM images")
        }
    finally:
        conn.close()


def kill_when(command: list[str], ready: Callable[[], bool], what: str) -> None:
    """Start ``command`` and kill -9 it as soon as ``ready()`` holds (within 90 s, before it ends)."""
    process = subprocess.Popen(command, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not ready():
            assert process.poll() is None, f"the process ended before {what}"
            assert time.monotonic() < deadline, f"not within 90 s: {what}"
            time.sleep(0.002)
        process.kill()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
    assert process.returncode == -9


def kill_mid_run(home: Path, folder: Path) -> None:
    """Start ``pixlens ingest`` and kill -9 it once some (not all) images are analysed."""
    command = [str(PIXLENS), "--home", str(home), "ingest", str(folder)]
    kill_when(command, lambda: analysed_count(home / "catalog.db") >= 2, "two images were analysed")


def wait_next_second() -> None:
    """AnalyzedAt has a resolution of one second: make sure a redo would show as a different time."""
    now = utc_now()
    while utc_now() == now:
        time.sleep(0.05)


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PIXLENS), *map(str, args)], env=env(), capture_output=True, text=True, timeout=300)


def check_after_finish(db: Path, keys: set[str], before: dict[str, tuple[str, str, str]]) -> None:
    """Every image analysed exactly once; those done before the kill untouched; the label index consistent."""
    after = snapshot(db)
    assert set(after) == keys
    assert {status for status, _, _ in after.values()} == {"analyzed"}
    for key, (status, rec, at) in before.items():
        if status == "analyzed":
            assert after[key] == (status, rec, at), f"{key} was redone or rewritten"
    for key, (_, rec, _) in after.items():
        record = ImageRecord.model_validate_json(rec)
        assert record.ImageName == key
        assert record.Status.value == "analyzed" and record.AnalyzedAt and record.ContentSha256

    conn = read_only(db)
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT key) FROM images").fetchone() == (60, 60)
        counted = dict(conn.execute("SELECT label, count(*) FROM label_index GROUP BY label").fetchall())
        stored = dict(conn.execute("SELECT label, images FROM label_counts").fetchall())
        assert counted == stored
        assert conn.execute(
            "SELECT count(*) FROM label_index WHERE image_id NOT IN (SELECT id FROM images)"
        ).fetchone() == (0,)
        index: dict[str, set[str]] = {}
        for key, label in conn.execute("SELECT i.key, l.label FROM label_index l JOIN images i ON i.id = l.image_id"):
            index.setdefault(key, set()).add(label)
        for key, (_, rec, _) in after.items():
            record = ImageRecord.model_validate_json(rec)
            people = {f"person:{face['PersonId']}" for face in record.FaceDetails}
            expected = set(facets(record)) | people
            assert index.get(key, set()) == expected, key
    finally:
        conn.close()


def killed_run(tmp_path: Path) -> tuple[Path, Path, set[str], dict[str, tuple[str, str, str]], set[str]]:
    home, folder = tmp_path / "home", tmp_path / "batch"
    keys = make_sixty(folder)
    kill_mid_run(home, folder)
    before = snapshot(home / "catalog.db")
    assert set(before) == keys  # every job was in the ledger before the first batch ran
    done = {key for key, (status, _, _) in before.items() if status == "analyzed"}
    pending = {key for key, (status, _, _) in before.items() if status == "pending"}
    assert 0 < len(done) < 60, "the kill did not land mid-run"
    assert done | pending == keys
    wait_next_second()
    return home, folder, keys, before, pending


def test_ingest_killed_mid_run_then_rerun_analyses_each_image_exactly_once(tmp_path: Path) -> None:
    home, folder, keys, before, pending = killed_run(tmp_path)

    rerun = run("--home", home, "ingest", "--json", folder)

    assert rerun.returncode == 0, rerun.stderr
    lines = [json.loads(line) for line in rerun.stdout.splitlines()]
    results = [line for line in lines if "ImageName" in line]
    assert sorted(line["ImageName"] for line in results) == sorted(pending)  # only the unfinished ones
    assert {line["Outcome"] for line in results} == {"analyzed"}
    summary = next(line for line in lines if "Summary" in line)["Summary"]
    assert summary["Analyzed"] == len(pending)
    assert summary["Unchanged"] == 60 - len(pending)
    assert summary["Failed"] == 0
    check_after_finish(home / "catalog.db", keys, before)


def test_reconcile_after_a_kill_finishes_the_pending_images(tmp_path: Path) -> None:
    home, _, keys, before, pending = killed_run(tmp_path)

    done = run("--home", home, "reconcile", "--json")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["Pending"] == len(pending)
    assert summary["New"] == summary["Changed"] == summary["Deleted"] == summary["Outdated"] == 0
    assert summary["Outcomes"]["Analyzed"] == len(pending)
    assert summary["Outcomes"]["Failed"] == 0
    check_after_finish(home / "catalog.db", keys, before)

    again = run("--home", home, "reconcile", "--dry-run", "--json")
    assert again.returncode == 0, again.stderr
    assert set(json.loads(again.stdout.splitlines()[-1]).values()) == {0}
