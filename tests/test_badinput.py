"""End to end with bad input: every case of ``badfiles.CASES`` among good photos, in one run.

A failure is data, not a crash: the run finishes, the good photos are analysed, and every bad file is either a
failed record with a clear ``Error`` or a skip with a clear reason. Nothing goes missing silently.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import badfiles
from conftest import SAMPLES
from pixlens.pipeline import Job, Outcome, Result
from pixlens.record import ImageRecord, Status
from pixlens.service import Pixlens

GOOD = ("chelsea.png", "000000000285.jpg")
PIXLENS = Path(sys.executable).with_name("pixlens")
CASE_BY_NAME = {case.name: case for case in badfiles.CASES}


def make_mixed(folder: Path) -> dict[str, Path]:
    """The 2 good photos and every bad case in ``folder``; case name (or good file name) -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {name: Path(shutil.copyfile(SAMPLES / name, folder / name)) for name in GOOD}
    made.update({case.name: case.make(folder) for case in badfiles.CASES})
    return made


def entries(folder: Path) -> Iterator[Path]:
    """Every file-system entry below ``folder`` (files, symlinks, special files; folders too), not followed."""
    for directory, subdirs, files in os.walk(folder, followlinks=False):
        for name in [*subdirs, *files]:
            yield Path(directory) / name


def fresh(lens: Pixlens, key: str) -> ImageRecord:
    found = lens.show(key)
    assert found is not None, f"{key} is not in the catalog"
    return found


def check_case(case: badfiles.BadFile, rec: ImageRecord | None, skip: str | None) -> None:
    """What must become of one bad case: a failed record with its message, or (unreadable) a clear skip."""
    where = f"{case.name}: record={rec and (rec.Status, rec.Error)} skip={skip!r}"
    if case.stage == "decode":
        assert rec is not None, where
        assert rec.Status is Status.FAILED, where
        assert rec.Error is not None and rec.Error.startswith(case.message), where
        assert rec.AnalyzedAt is not None and rec.Labels == [], where
    elif case.stage == "ok":
        assert rec is not None, where
        assert rec.Status is Status.ANALYZED, where
        assert rec.ContentType == case.message, where
    elif case.name == "symlink_loop":
        if rec is not None:
            assert rec.Status is Status.FAILED, where
            assert rec.Error is not None and "symlink loop" in rec.Error, where
        else:
            assert skip is not None and "symlink loop" in skip, where
    else:
        raise AssertionError(f"no expectation for {case.name}")


@pytest.mark.parametrize("how", ["copied_in", "in_place", "reconcile"])
def test_every_bad_input_among_good_photos_in_one_run(lens: Pixlens, tmp_path: Path, how: str) -> None:
    store = lens.settings.store_path
    folder = (tmp_path / "outside" if how == "copied_in" else store) / "mixed"
    made = make_mixed(folder)

    if how == "reconcile":
        plan = lens.reconcile()
        results, skipped = plan.results, {}
        assert plan.jobs() == plan.new
    else:
        report = lens.ingest([folder])
        results, skipped = report.results, dict(report.collected.skipped + report.collected.failed)
        assert report.skipped_unchanged == 0
        assert {info.key for info in report.collected.objects} == {result.key for result in results}

    by_key = {result.key: result for result in results}
    catalogued = {state.key for state in lens.catalog.states()}
    assert catalogued == set(by_key)
    assert not any(state.status is Status.PENDING for state in lens.catalog.states())

    # the good photos
    for name in GOOD:
        assert by_key[f"mixed/{name}"].outcome is Outcome.ANALYZED
        rec = fresh(lens, f"mixed/{name}")
        assert rec.Status is Status.ANALYZED and rec.Labels
    assert fresh(lens, "mixed/chelsea.png").Labels[0].Name == "Cat"

    # every case as it should be, with the same reason in the run's results as in the record
    for case in badfiles.CASES:
        path = made[case.name]
        key = f"mixed/{path.name}"
        if case.name == "unreadable_directory":
            # A folder named like a photo is a folder: it is walked (it holds nothing), never read as a file.
            assert path.is_dir() and key not in catalogued
            continue
        found = lens.show(key)
        check_case(case, found, skipped.get(str(path)))
        if found is not None:
            assert by_key[key].error == found.Error
            assert by_key[key].outcome.value == found.Status.value

    # nothing silently missing: every file below the folder is a record or a skip
    for entry in entries(folder):
        if entry.is_dir() and not entry.is_symlink():
            continue
        key = f"mixed/{entry.relative_to(folder).as_posix()}"
        assert key in catalogued or str(entry) in skipped, f"{entry} is neither catalogued nor skipped"
    for skipped_path, reason in skipped.items():
        assert reason.strip(), skipped_path


def test_a_job_for_a_folder_key_fails_clearly(lens: Pixlens) -> None:
    """The unreadable case as a job (an event for a key that turns out to be a folder): failed, with why."""
    lens.settings.store_path.mkdir(parents=True, exist_ok=True)
    path = badfiles.make_unreadable_directory(lens.settings.store_path)
    results = lens.run([Job(path.name)])
    assert [(result.key, result.outcome) for result in results] == [("unreadable.jpg", Outcome.FAILED)]
    rec = fresh(lens, "unreadable.jpg")
    assert rec.Status is Status.FAILED
    assert rec.Error is not None and rec.Error.startswith("not a regular file (a directory)")


# -- things that must not hang ------------------------------------------------------------------------------
def run_with_timeout(work: Callable[[], object], fifos: list[Path], seconds: float = 30) -> object:
    """Run ``work`` in a thread; fail (after unblocking any reader of ``fifos``) if it does not finish in time."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    hung = thread.is_alive()
    while thread.is_alive():  # unblock a reader stuck opening a pipe, so the test run can go on
        for fifo in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.2)
    assert not hung, f"the run hung for {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


@pytest.mark.timeout(90)
def test_a_preparation_that_breaks_off_still_ends_each_job_and_never_hangs(
    lens: Pixlens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that breaks in a way prepare does not handle (here: every read raises something unforeseen) gives
    each job a failed record that says why; more such jobs than the pool holds in flight must not wedge it."""
    store = lens.settings.store_path
    store.mkdir(parents=True, exist_ok=True)
    keys = [f"copy{n:02d}.png" for n in range(60)]  # more than the pool's window of jobs in flight
    for key in keys:
        shutil.copyfile(SAMPLES / "chelsea.png", store / key)
    prepare = lens.pipeline.prepare

    def breaking(job: Job) -> object:
        if job.key.endswith("7.png"):
            raise RuntimeError("the store's driver broke")
        return prepare(job)

    monkeypatch.setattr(lens.pipeline, "prepare", breaking)
    results = run_with_timeout(lambda: lens.run([Job(key) for key in keys]), [])
    assert isinstance(results, list) and sorted(result.key for result in results) == keys
    broken = sorted(result.key for result in results if result.outcome is Outcome.FAILED)
    assert broken == [key for key in keys if key.endswith("7.png")]
    rec = fresh(lens, "copy07.png")
    assert rec.Status is Status.FAILED and rec.Error == "unexpected error: RuntimeError: the store's driver broke"


@pytest.mark.timeout(90)
def test_a_fifo_named_like_a_photo_inside_the_store_does_not_hang_the_run(lens: Pixlens) -> None:
    store = lens.settings.store_path
    folder = store / "pipes"
    folder.mkdir(parents=True)
    shutil.copyfile(SAMPLES / GOOD[0], folder / GOOD[0])
    fifo = badfiles.make_fifo(folder)

    report = run_with_timeout(lambda: lens.ingest([folder]), [fifo])

    assert {result.key: result.outcome for result in report.results} == {  # type: ignore[attr-defined]
        "pipes/pipe.jpg": Outcome.FAILED,
        f"pipes/{GOOD[0]}": Outcome.ANALYZED,
    }
    rec = fresh(lens, "pipes/pipe.jpg")
    assert rec.Status is Status.FAILED
    assert rec.Error is not None and rec.Error.startswith("not a regular file (a named pipe)")

    # reconcile lists the store (and sniffs files without an image name): the pipe must not block it either
    fifo.unlink()
    again = badfiles.make_fifo(folder)
    plan = run_with_timeout(lens.reconcile, [again])
    assert [job.key for job in plan.jobs()] == ["pipes/pipe.jpg"]  # type: ignore[attr-defined]
    assert fresh(lens, "pipes/pipe.jpg").Status is Status.FAILED


@pytest.mark.timeout(90)
def test_a_fifo_outside_the_store_fails_with_a_reason(lens: Pixlens, tmp_path: Path) -> None:
    folder = tmp_path / "pipes"
    folder.mkdir()
    shutil.copyfile(SAMPLES / GOOD[0], folder / GOOD[0])
    fifo = badfiles.make_fifo(folder)

    report = run_with_timeout(lambda: lens.ingest([folder]), [fifo])

    failed = dict(report.collected.failed)  # type: ignore[attr-defined]
    assert "named pipe" in failed[str(fifo)]
    assert [result.key for result in report.results] == [f"pipes/{GOOD[0]}"]  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_fifo_without_an_image_name_inside_the_store_does_not_hang_reconcile(lens: Pixlens) -> None:
    store = lens.settings.store_path
    store.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SAMPLES / GOOD[0], store / GOOD[0])
    fifo = store / "pipe"
    os.mkfifo(fifo)

    plan = run_with_timeout(lens.reconcile, [fifo], seconds=3)

    assert [job.key for job in plan.jobs()] == [GOOD[0]]  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
def test_a_failed_special_file_stays_failed_through_reconcile_while_it_exists(lens: Pixlens) -> None:
    """The listing leaves out a pipe without an image name, but a record of it (from an ingest that named it)
    must not be "deleted" while the pipe is there: it stays failed, with its reason."""
    store = lens.settings.store_path
    store.mkdir(parents=True, exist_ok=True)
    fifo = store / "pipe"
    os.mkfifo(fifo)
    report = run_with_timeout(lambda: lens.ingest([fifo]), [fifo])
    assert [result.outcome for result in report.results] == [Outcome.FAILED]  # type: ignore[attr-defined]

    plan = run_with_timeout(lens.reconcile, [fifo])

    assert plan.deleted == []  # type: ignore[attr-defined]
    rec = fresh(lens, "pipe")
    assert rec.Status is Status.FAILED
    assert rec.Error is not None and rec.Error.startswith("not a regular file (a named pipe)")
    fifo.unlink()
    assert lens.reconcile().deleted == ["pipe"]
    assert lens.show("pipe") is None


# -- a file that vanishes mid-run --------------------------------------------------------------------------
def test_a_file_deleted_between_collect_and_analysis_vanishes_from_the_catalog(
    lens: Pixlens, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = lens.settings.store_path
    folder = store / "going"
    folder.mkdir(parents=True)
    for name in (*GOOD, "000000423617.jpg"):
        shutil.copyfile(SAMPLES / name, folder / name)
    victim = "going/000000000285.jpg"
    real_read = lens.store.read

    def read_after_delete(key: str, max_bytes: int) -> bytes:
        if key == victim:
            (store / key).unlink(missing_ok=True)
        return real_read(key, max_bytes)

    monkeypatch.setattr(lens.store, "read", read_after_delete)

    report = lens.ingest([folder])

    assert victim in {info.key for info in report.collected.objects}  # it was there when collected
    outcome = {result.key: result for result in report.results}
    assert outcome[victim].outcome is Outcome.VANISHED
    assert outcome["going/chelsea.png"].outcome is Outcome.ANALYZED
    assert outcome["going/000000423617.jpg"].outcome is Outcome.ANALYZED
    assert lens.show(victim) is None
    assert victim not in {state.key for state in lens.catalog.states()}
    assert lens.plan_reconcile().jobs() == []

    # a job for a key that never existed (a late event) vanishes the same way
    assert lens.run([Job("going/never.jpg", "etag")]) == [Result("going/never.jpg", Outcome.VANISHED, None)]
    assert lens.show("going/never.jpg") is None


# -- the command line --------------------------------------------------------------------------------------
def pixlens(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    env["COLUMNS"] = "500"  # one line per message
    return subprocess.run(
        [str(PIXLENS), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_ingest_exits_1_and_names_every_failure_with_its_reason(tmp_path: Path) -> None:
    made = make_mixed(tmp_path / "mixed")

    done = pixlens("--home", tmp_path / "home", "ingest", tmp_path / "mixed", cwd=tmp_path)

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    failures = [case for case in badfiles.CASES if case.stage == "decode"]
    for case in failures:
        expected = f"failed mixed/{made[case.name].name}: {case.message}"
        assert any(line.startswith(expected) for line in lines), f"{expected!r} not in:\n{done.stderr}"
    assert sum(line.startswith("failed mixed/") for line in lines) == len(failures)
    for loop in ("loop_a.jpg", "loop_b.jpg"):
        assert any(line.startswith("failed ") and loop in line and "symlink loop" in line for line in lines)
    assert f"{len(failures)} failed" in done.stderr
    assert f"{len(GOOD) + 1} analysed" in done.stderr  # the 2 photos and the PNG named .jpg


def test_cli_ingest_exits_0_when_all_images_are_good(tmp_path: Path) -> None:
    folder = tmp_path / "good"
    folder.mkdir()
    for name in GOOD:
        shutil.copyfile(SAMPLES / name, folder / name)

    done = pixlens("--home", tmp_path / "home", "ingest", folder, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "2 analysed" in done.stderr and "0 failed" in done.stderr


@pytest.mark.parametrize("query", ["dog AND (", "cat OR", ")"])
def test_cli_malformed_query_exits_2_with_a_message(tmp_path: Path, query: str) -> None:
    done = pixlens("--home", tmp_path / "home", "search", query, cwd=tmp_path)

    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "invalid query" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
