"""``pixlens.work``: the one decision "does this image need work, and why", and how few catalog calls an ingest
makes with it (counted through the port on a real home, with real images)."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, make_lens, sample_files
from pixlens.catalog.base import ImageState
from pixlens.record import ImageRecord, Status
from pixlens.work import Reason, analyzers_to_run, needs_work

VERSIONS = {"labels": "2", "text": "1"}


def state(
    status: Status = Status.ANALYZED, etag: str | None = "e1", versions: dict[str, str] | None = None
) -> ImageState:
    return ImageState("a.jpg", status, etag, "sha-a", dict(VERSIONS) if versions is None else versions)


@pytest.mark.parametrize(
    ("known", "etag", "options", "reason", "analyzers"),
    [
        (None, "e1", {}, Reason.NEW, None),
        (state(), "e2", {}, Reason.CHANGED, None),
        (state(), None, {}, Reason.CHANGED, None),  # no etag: nothing tells it is the same
        (state(Status.PENDING), "e1", {}, Reason.PENDING, None),  # a crash, a stop, a queued job
        (state(Status.PENDING), "e2", {}, Reason.CHANGED, None),
        (state(Status.FAILED), "e1", {"retry_failed": True}, Reason.RETRY, None),
        (state(versions={"labels": "1", "text": "1"}), "e1", {}, Reason.STALE, ("labels",)),
        (state(versions={"labels": "2"}), "e1", {}, Reason.STALE, ("text",)),  # an analyser added
        (state(), "e1", {"force": True}, Reason.FORCED, None),
        (state(Status.FAILED), "e1", {"force": True}, Reason.FORCED, None),
    ],
)
def test_why_an_image_needs_work(
    known: ImageState | None, etag: str | None, options: dict[str, bool], reason: Reason, analyzers: Any
) -> None:
    need = needs_work(known, etag, VERSIONS, **options)
    assert need is not None
    assert (need.reason, need.analyzers) == (reason, analyzers)
    assert need.marks_pending is (reason in (Reason.NEW, Reason.CHANGED, Reason.FORCED))
    assert need.queued is (known is not None and known.status is Status.PENDING)


@pytest.mark.parametrize(
    ("known", "options"),
    [
        (state(), {}),  # analysed, same etag, same versions
        (state(Status.FAILED), {}),  # it would fail the same way again: only on request
        (state(versions={"labels": "1"}), {"versions": None}),  # versions not judged (an upload, the watcher)
    ],
)
def test_up_to_date(known: ImageState, options: dict[str, Any]) -> None:
    assert needs_work(known, "e1", options.get("versions", VERSIONS)) is None


def analysed(sha: str = "s1", versions: dict[str, str] | None = None, status: Status = Status.ANALYZED) -> ImageRecord:
    return ImageRecord(
        ImageName="a.jpg",
        Status=status,
        ContentSha256=sha,
        AnalyzedAt="2026-01-01T00:00:00Z",
        AnalyzerVersions=dict(VERSIONS) if versions is None else versions,
    )


def test_which_analysers_the_bytes_need() -> None:
    assert analyzers_to_run(None, "s1", VERSIONS) == ["labels", "text"]  # new
    assert analyzers_to_run(analysed(), "s2", VERSIONS) == ["labels", "text"]  # other content
    assert analyzers_to_run(analysed(), "s1", VERSIONS) == []  # touched: nothing to do
    assert analyzers_to_run(analysed(), "s1", VERSIONS, force=True) == ["labels", "text"]
    stale = analysed(versions={"labels": "1", "text": "1"})
    assert analyzers_to_run(stale, "s1", VERSIONS) == ["labels"]
    assert analyzers_to_run(stale, "s1", VERSIONS, asked=("text",)) == []
    failed = analysed(status=Status.FAILED)  # a failure analysed nothing: everything runs again
    assert analyzers_to_run(failed, "s1", VERSIONS) == ["labels", "text"]


class Counting:
    """The catalog, with every call through its port counted."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.real, name)
        if not callable(attribute) or name.startswith("_"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


def test_catalog_calls_per_ingest(tmp_path: Path) -> None:
    """New images: one read of their states, one write marking them pending, one get each (in prepare), one put
    per batch; unchanged ones: the read alone; touched ones (new etag, same bytes): no second get each."""
    lens = make_lens(tmp_path / "home", batch_size=2)
    counting = Counting(lens.catalog)
    lens.__dict__["catalog"] = counting
    folder = lens.settings.store_path / "album"
    folder.mkdir(parents=True)
    names = sample_files()[:4]
    for name in names:
        shutil.copy(SAMPLES / name, folder / name)

    def ingest(change: Callable[[Path], None] | None = None) -> Counter[str]:
        for name in names:
            if change is not None:
                change(folder / name)
        counting.calls.clear()
        lens.ingest([folder])
        return Counter(counting.calls)

    def touch(path: Path) -> None:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))

    try:
        new = ingest()  # puts: one per batch, however the queue made them
        assert set(new) == {"states", "mark_pending", "get", "put"}
        assert (new["states"], new["mark_pending"], new["get"]) == (1, 1, 4)
        assert ingest() == {"states": 1}  # before: also a mark_pending write
        touched = ingest(touch)  # before: a second get of each image
        assert set(touched) == set(new)
        assert (touched["states"], touched["mark_pending"], touched["get"]) == (1, 1, 4)
        assert all(state.status is Status.ANALYZED for state in lens.catalog.states())
    finally:
        lens.close()
