"""Thumbnails follow their image: no thumbnail outlives every record that points at it.

Real store, real SQLite, the real thumbnail analyser (alone, for speed), through the pipeline and the service.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import SAMPLES, make_lens
from pixlens.pipeline import Job, Outcome
from pixlens.record import Status
from pixlens.service import Pixlens

BEAR = "000000000285.jpg"
CAT = "chelsea.png"


@pytest.fixture
def lens(tmp_path: Path) -> Iterator[Pixlens]:
    instance = make_lens(tmp_path / "home", analyzers=["thumbnail"])
    instance.settings.store_path.mkdir(parents=True, exist_ok=True)
    yield instance
    instance.close()


def thumbnails(lens: Pixlens) -> set[str]:
    folder = lens.settings.home / "thumbnails"
    return {path.relative_to(lens.settings.home).as_posix() for path in folder.rglob("*.webp")}


def put(lens: Pixlens, name: str, source: str) -> Path:
    return Path(shutil.copyfile(SAMPLES / source, lens.settings.store_path / name))


def thumbnail_of(lens: Pixlens, key: str) -> str:
    record = lens.show(key)
    assert record is not None and record.Thumbnail is not None
    return record.Thumbnail


def test_a_failure_after_a_success_removes_the_old_thumbnail(lens: Pixlens) -> None:
    path = put(lens, "photo.jpg", BEAR)
    lens.ingest([path])
    assert thumbnails(lens) == {thumbnail_of(lens, "photo.jpg")}

    path.write_bytes(path.read_bytes()[:3000])  # cut: the new content fails
    (result,) = lens.ingest([path]).results

    assert result.outcome is Outcome.FAILED
    record = lens.show("photo.jpg")
    assert record is not None and record.Status is Status.FAILED and record.Thumbnail is None
    assert thumbnails(lens) == set()


def test_new_content_replaces_the_thumbnail(lens: Pixlens) -> None:
    path = put(lens, "photo.jpg", BEAR)
    lens.ingest([path])
    put(lens, "photo.jpg", "000000000436.jpg")
    lens.ingest([path])
    assert thumbnails(lens) == {thumbnail_of(lens, "photo.jpg")}


def test_a_vanished_file_leaves_no_thumbnail(lens: Pixlens) -> None:
    path = put(lens, "photo.jpg", BEAR)
    lens.ingest([path])
    path.unlink()

    (result,) = lens.run([Job("photo.jpg")])
    assert result.outcome is Outcome.VANISHED
    assert thumbnails(lens) == set()


def test_forget_removes_the_thumbnail_but_keeps_one_an_exact_copy_still_uses(lens: Pixlens) -> None:
    put(lens, "a.jpg", BEAR)
    put(lens, "copy of a.jpg", BEAR)
    put(lens, "cat.png", CAT)
    lens.ingest([lens.settings.store_path])
    shared = thumbnail_of(lens, "a.jpg")
    assert thumbnail_of(lens, "copy of a.jpg") == shared  # exact copies share one file
    assert len(thumbnails(lens)) == 2

    assert lens.pipeline.forget(["a.jpg", "cat.png", "never there.jpg"]) == 2

    assert thumbnails(lens) == {shared}  # the copy still points at it
    lens.pipeline.forget(["copy of a.jpg"])
    assert thumbnails(lens) == set()


def test_the_same_pixels_in_another_file_get_their_own_thumbnail(lens: Pixlens) -> None:
    """A copy with other bytes (here, a comment added) but the same pixels: deleting one keeps the other's."""
    put(lens, "a.jpg", BEAR)
    data = (SAMPLES / BEAR).read_bytes()
    (lens.settings.store_path / "tagged.jpg").write_bytes(data[:2] + b"\xff\xfe\x00\x07tagged" + data[2:])
    lens.ingest([lens.settings.store_path])
    assert thumbnail_of(lens, "a.jpg") != thumbnail_of(lens, "tagged.jpg")

    lens.pipeline.forget(["a.jpg"])
    assert thumbnails(lens) == {thumbnail_of(lens, "tagged.jpg")}


def test_a_thumbnail_released_between_prepare_and_analyze_is_written_again(lens: Pixlens) -> None:
    put(lens, "a.jpg", BEAR)
    put(lens, "b.jpg", BEAR)
    lens.ingest([lens.settings.store_path / "a.jpg"])
    prepared = lens.pipeline.prepare(Job("b.jpg"))
    lens.pipeline.forget(["a.jpg"])  # b's record is not in the catalog yet: the shared file goes
    assert thumbnails(lens) == set()
    lens.pipeline.analyze([prepared])
    assert thumbnails(lens) == {thumbnail_of(lens, "b.jpg")}


def test_reconcile_forgetting_a_deleted_image_removes_its_thumbnail(lens: Pixlens) -> None:
    lens.ingest([put(lens, "a.jpg", BEAR), put(lens, "b.png", CAT), put(lens, "c.jpg", "rocket.jpg")])
    kept = {thumbnail_of(lens, "b.png"), thumbnail_of(lens, "c.jpg")}
    (lens.settings.store_path / "a.jpg").unlink()

    assert lens.reconcile().summary()["deleted"] == 1

    assert thumbnails(lens) == kept


def test_watch_forgetting_a_deleted_image_removes_its_thumbnail(tmp_path: Path) -> None:
    from test_watch import start_watching, stop_watching, wait_for

    lens = make_lens(tmp_path / "home", analyzers=["thumbnail"], watch_settle_seconds=0.2, reconcile_interval=0)
    lens.settings.store_path.mkdir(parents=True, exist_ok=True)
    path = put(lens, "a.jpg", BEAR)
    watching = start_watching(lens)
    try:
        wait_for("a.jpg analysed", lambda: (record := lens.show("a.jpg")) is not None and record.Thumbnail)
        assert len(thumbnails(lens)) == 1
        path.unlink()
        wait_for("a.jpg forgotten", watching.gone("a.jpg"))
        wait_for("its thumbnail removed", lambda: thumbnails(lens) == set())
    finally:
        stop_watching(watching)
        lens.close()
