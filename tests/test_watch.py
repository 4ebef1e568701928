"""The folder watcher end to end: files copied into, overwritten in and deleted from the store are analysed or
forgotten within seconds, with real file-system events (watchdog), real models and real SQLite."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import SAMPLES, make_lens
from pixlens.events.watcher import FolderWatcher
from pixlens.pipeline import Outcome, Result
from pixlens.record import ImageRecord, Status
from pixlens.service import Pixlens

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CAT, BEAR, BUS, GIRAFFE = "chelsea.png", "000000000285.jpg", "000000423617.jpg", "000000000072.jpg"
PIXLENS = Path(sys.executable).with_name("pixlens")
PATIENCE = 60.0  # seconds an image may take from arriving to being in the catalog (generous: a busy CI machine)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(what: str, condition: Callable[[], object], seconds: float = PATIENCE) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


@dataclass
class Watching:
    lens: Pixlens
    store: Path
    stop: threading.Event
    thread: threading.Thread
    results: list[Result] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def analysed(self, key: str, source: Path) -> Callable[[], bool]:
        """A condition: ``key`` is analysed in the catalog with the content of ``source``."""
        expected = sha256(source)

        def check() -> bool:
            rec = self.lens.show(key)
            return rec is not None and rec.Status is Status.ANALYZED and rec.ContentSha256 == expected

        return check

    def gone(self, key: str) -> Callable[[], bool]:
        return lambda: self.lens.show(key) is None

    def record(self, key: str) -> ImageRecord:
        rec = self.lens.show(key)
        assert rec is not None, key
        return rec


def start_watching(lens: Pixlens) -> Watching:
    stop = threading.Event()
    watching = Watching(lens, lens.settings.store_path, stop, threading.Thread())

    def target() -> None:
        try:
            lens.watch(stop, on_result=watching.results.append, on_event=lambda *e: watching.events.append(e))
        except BaseException as exc:
            watching.errors.append(exc)

    watching.thread = threading.Thread(target=target, name="test-watch", daemon=True)
    watching.thread.start()
    return watching


def stop_watching(watching: Watching) -> None:
    watching.stop.set()
    watching.thread.join(30)
    assert not watching.thread.is_alive(), "watch did not stop within 30 s of stop being set"
    assert watching.errors == []


@pytest.fixture
def lens(tmp_path: Path) -> Iterator[Pixlens]:
    instance = make_lens(tmp_path / "home", watch_settle_seconds=0.3, reconcile_interval=0)
    instance.settings.store_path.mkdir(parents=True, exist_ok=True)
    yield instance
    instance.close()


def test_watch_analyses_arrivals_reanalyses_overwrites_and_forgets_deletions(lens: Pixlens) -> None:
    store = lens.settings.store_path
    shutil.copyfile(SAMPLES / GIRAFFE, store / "before.jpg")  # there before the watch starts
    watching = start_watching(lens)
    try:
        wait_for("the start-up reconcile analyses before.jpg", watching.analysed("before.jpg", store / "before.jpg"))
        assert "Giraffe" in {label.Name for label in watching.record("before.jpg").Labels}

        shutil.copyfile(SAMPLES / BEAR, store / "arrived.jpg")
        wait_for("arrived.jpg is analysed", watching.analysed("arrived.jpg", SAMPLES / BEAR))
        first = watching.record("arrived.jpg")
        assert "Bear" in {label.Name for label in first.Labels}
        assert first.ETag == lens.store.stat("arrived.jpg").etag  # type: ignore[union-attr]
        assert ("queued", "arrived.jpg") in watching.events

        shutil.copyfile(SAMPLES / BUS, store / "arrived.jpg")  # overwritten in place with another photo
        wait_for("arrived.jpg is analysed again", watching.analysed("arrived.jpg", SAMPLES / BUS))
        second = watching.record("arrived.jpg")
        assert second.ContentSha256 != first.ContentSha256
        assert {label.Name for label in second.Labels} & {"Bus", "Car"}
        assert "Bear" not in {label.Name for label in second.Labels}
        assert "arrived.jpg" not in {hit.key for hit in lens.search("bear").hits}

        (store / "arrived.jpg").unlink()
        wait_for("arrived.jpg leaves the catalog", watching.gone("arrived.jpg"))
        # reported just after the catalog forgot it, from the watcher's thread
        wait_for("the deletion is reported", lambda: ("deleted", "arrived.jpg") in watching.events)
        assert "arrived.jpg" not in {hit.key for hit in lens.search("bus").hits}

        (store / ".hidden.jpg").write_bytes((SAMPLES / CAT).read_bytes())  # hidden files are not images
        shutil.copyfile(SAMPLES / CAT, store / "last.png")
        wait_for("last.png is analysed", watching.analysed("last.png", SAMPLES / CAT))
        assert lens.show(".hidden.jpg") is None
    finally:
        stop_watching(watching)

    assert {result.key for result in watching.results if result.outcome is Outcome.ANALYZED} >= {
        "before.jpg",
        "arrived.jpg",
        "last.png",
    }
    assert {state.key for state in lens.catalog.states()} == {"before.jpg", "last.png"}
    assert all(state.status is Status.ANALYZED for state in lens.catalog.states())


def test_watch_picks_up_a_copied_folder_and_forgets_a_removed_one(lens: Pixlens, tmp_path: Path) -> None:
    trip = tmp_path / "trip"
    (trip / "day2").mkdir(parents=True)
    for name in (CAT, BEAR):
        shutil.copyfile(SAMPLES / name, trip / name)
    shutil.copyfile(SAMPLES / BUS, trip / "day2" / BUS)
    keys = {f"trip/{CAT}": trip / CAT, f"trip/{BEAR}": trip / BEAR, f"trip/day2/{BUS}": trip / "day2" / BUS}
    lens.settings.reconcile_max_delete = 1.0  # the folder is the whole catalog: forgetting all of it is allowed
    watching = start_watching(lens)
    try:
        time.sleep(0.5)  # let the (empty) start-up reconcile pass: the folder arrives while watching
        shutil.copytree(trip, lens.settings.store_path / "trip")
        for key, source in keys.items():
            wait_for(f"{key} is analysed", watching.analysed(key, source))
        assert {state.key for state in lens.catalog.states()} == set(keys)

        shutil.rmtree(lens.settings.store_path / "trip")
        for key in keys:
            wait_for(f"{key} leaves the catalog", watching.gone(key))
    finally:
        stop_watching(watching)
    assert list(lens.catalog.states()) == []


def test_a_file_arriving_during_the_start_up_reconcile_is_not_missed(
    lens: Pixlens, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = lens.settings.store_path
    shutil.copyfile(SAMPLES / GIRAFFE, store / "before.jpg")
    real_plan = lens.plan_reconcile
    arrived = threading.Event()

    def plan_then_a_file_arrives(retry_failed: bool = False):  # type: ignore[no-untyped-def]
        plan = real_plan(retry_failed)
        if not arrived.is_set():  # the store was listed; a photo lands before the watching goes on
            shutil.copyfile(SAMPLES / BEAR, store / "meanwhile.jpg")
            arrived.set()
        return plan

    monkeypatch.setattr(lens, "plan_reconcile", plan_then_a_file_arrives)
    watching = start_watching(lens)
    try:
        wait_for("before.jpg is analysed", watching.analysed("before.jpg", store / "before.jpg"))
        assert arrived.is_set()
        wait_for("meanwhile.jpg is analysed", watching.analysed("meanwhile.jpg", SAMPLES / BEAR))
    finally:
        stop_watching(watching)


def test_periodic_reconcile_while_watching_catches_a_lost_event(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_touched = FolderWatcher.touched

    def lose_events_for_lost_jpg(self: FolderWatcher, path: str) -> None:
        if not path.endswith("lost.jpg"):
            real_touched(self, path)

    monkeypatch.setattr(FolderWatcher, "touched", lose_events_for_lost_jpg)
    lens = make_lens(tmp_path / "home", watch_settle_seconds=0.3, reconcile_interval=1.0)
    try:
        lens.settings.store_path.mkdir(parents=True, exist_ok=True)
        watching = start_watching(lens)
        try:
            time.sleep(0.5)
            shutil.copyfile(SAMPLES / BEAR, lens.settings.store_path / "lost.jpg")
            shutil.copyfile(SAMPLES / CAT, lens.settings.store_path / "seen.png")
            wait_for("seen.png is analysed (its events arrive)", watching.analysed("seen.png", SAMPLES / CAT))
            wait_for("lost.jpg is analysed by the next reconcile", watching.analysed("lost.jpg", SAMPLES / BEAR))
        finally:
            stop_watching(watching)
    finally:
        lens.close()


# -- the command line ------------------------------------------------------------------------------------------
def analysed_in(db: Path, key: str) -> bool:
    if not db.exists():
        return False
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT status FROM images WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return row is not None and row[0] == "analyzed"


def test_cli_watch_analyses_a_new_file_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log = tmp_path / "watch.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    env.update(COLUMNS="500", PIXLENS_WATCH_SETTLE_SECONDS="0.3")
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [str(PIXLENS), "--home", str(home), "watch"], env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        wait_for("pixlens watch says it is watching", lambda: "watching" in log.read_text())
        assert process.poll() is None, log.read_text()
        shutil.copyfile(SAMPLES / CAT, home / "images" / "cat.png")
        wait_for("cat.png is analysed", lambda: analysed_in(home / "catalog.db", "cat.png"))

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "analyzed cat.png" in text
    assert "stopped" in text
    assert "Traceback" not in text


def test_watch_does_not_forget_a_store_being_emptied(lens: Pixlens) -> None:
    store = lens.settings.store_path
    for name in (CAT, BEAR, BUS):
        shutil.copyfile(SAMPLES / name, store / name)
    watching = start_watching(lens)
    try:
        for name in (CAT, BEAR, BUS):
            wait_for(f"{name} is analysed", watching.analysed(name, store / name))
        for name in (CAT, BEAR, BUS):
            (store / name).unlink()  # emptied by mistake (or a sync gone wrong), file by file
        wait_for("a first deletion is forgotten", lambda: any(lens.show(name) is None for name in (CAT, BEAR, BUS)))
        time.sleep(2.0)  # time for the other deletions to settle
    finally:
        stop_watching(watching)
    kept = [name for name in (CAT, BEAR, BUS) if lens.show(name) is not None]
    assert len(kept) == 2  # one is forgotten (1 of 3); more would be over half the catalog


def test_watch_stops_with_a_clear_error_when_the_store_folder_goes_away(lens: Pixlens) -> None:
    store = lens.settings.store_path
    shutil.copyfile(SAMPLES / CAT, store / CAT)
    watching = start_watching(lens)
    try:
        wait_for("the cat is analysed", watching.analysed(CAT, store / CAT))
        store.rename(store.with_name("moved-away"))
        store.mkdir()
        wait_for("watch stops by itself", lambda: not watching.thread.is_alive(), seconds=30)
    finally:
        watching.stop.set()
        watching.thread.join(30)
    (error,) = watching.errors
    assert "was moved, deleted or unmounted while it was watched" in str(error)
    assert lens.show(CAT) is not None  # nothing forgotten
