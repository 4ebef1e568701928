"""``kill -9`` during a copy-in and during ``watch``: the next run finishes the work, copies nothing twice and
leaves no temporary file behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES, sample_files
from test_crash import PIXLENS, check_after_finish, kill_when, make_sixty, run, snapshot

pytestmark = pytest.mark.slow


def files_below(folder: Path) -> list[Path]:
    return [Path(top) / name for top, _, names in os.walk(folder) for name in names]


def test_ingest_killed_while_copying_in_then_rerun_copies_each_file_once(tmp_path: Path) -> None:
    home, folder = tmp_path / "home", tmp_path / "batch"
    keys = make_sixty(folder)
    store = home / "images"

    kill_when(
        [str(PIXLENS), "--home", str(home), "ingest", str(folder)],
        lambda: len([p for p in files_below(store) if not p.name.startswith(".")]) >= 3,
        "three files were copied in",
    )
    copied = {p for p in files_below(store) if not p.name.startswith(".")}
    assert 3 <= len(copied) < 60, "the kill did not land during the copy-in"

    rerun = run("--home", home, "ingest", folder)
    assert rerun.returncode == 0, rerun.stderr
    swept = run("--home", home, "reconcile")
    assert swept.returncode == 0, swept.stderr

    in_store = sorted(p.relative_to(store).as_posix() for p in files_below(store))
    assert in_store == sorted(keys)  # no "(2)" copies, no temporary files
    for key in keys:
        assert (store / key).read_bytes() == (SAMPLES / key.rsplit("/", 1)[1]).read_bytes(), key
    after = snapshot(home / "catalog.db")
    assert set(after) == keys and {status for status, _, _ in after.values()} == {"analyzed"}


def test_watch_killed_mid_run_then_restarted_analyses_each_image_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = home / "images"
    made = run("--home", home, "stats")  # makes the home and its store
    assert made.returncode == 0, made.stderr
    keys = {f"batch/{key.split('/', 1)[1]}" for key in make_sixty(tmp_path / "batch")}
    shutil.move(tmp_path / "batch", store / "batch")
    db = home / "catalog.db"

    def some_analysed() -> bool:
        return sum(status == "analyzed" for status, _, _ in snapshot(db).values()) >= 2

    kill_when([str(PIXLENS), "--home", str(home), "watch"], some_analysed, "some images were analysed")
    before = snapshot(db)
    done = {key for key, (status, _, _) in before.items() if status == "analyzed"}
    assert 0 < len(done) < 60, "the kill did not land mid-run"

    finish = run("--home", home, "reconcile")

    assert finish.returncode == 0, finish.stderr
    check_after_finish(db, keys, before)
    assert len(sample_files()) * 2 == len(keys)
