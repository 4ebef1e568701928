"""Analysers side by side: those that read no other's results run at once, the others after those they read.

The probes below are plug-in analysers (registered like any other) that prove the overlap and the order on a real
sample photo; the real models then show that the records do not depend on the schedule.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import SAMPLES, make_lens
from pixlens.analysis.base import register_analyzer
from pixlens.errors import PixlensError
from pixlens.imageio import DecodedImage
from pixlens.record import ImageRecord, Status
from pixlens.service import Pixlens

CAT, ASTRONAUT, STREET = "chelsea.png", "astronaut.png", "000000231460.jpg"
WAIT = 20.0  # s a probe waits for its partner; reached only when the two do not run at once


class Probe:
    """Marks that it started, then waits (at most ``patience`` s) for ``partner`` to start too."""

    version = "1"
    fields: tuple[str, ...] = ()
    started: ClassVar[dict[str, threading.Event]] = {}

    def __init__(self, name: str, partner: str, patience: float) -> None:
        self.name, self.partner, self.patience = name, partner, patience

    def prepare(self, image: DecodedImage) -> None:
        return None

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        self.started[self.name].set()
        met = self.started[self.partner].wait(self.patience)
        note = {f"{self.name}.partner": "started" if met else "not started"}
        return [{"Skipped": note} for _ in prepared]


class Reader:
    """Reads a probe's result from the record (as the face analyser reads the labels)."""

    name, version = "probe-reader", "1"
    fields: tuple[str, ...] = ()
    after = ("probe-left",)

    def prepare(self, image: DecodedImage) -> None:
        return None

    def skip_reason(self, record: ImageRecord) -> str | None:
        seen = "probe-left.partner" in record.Skipped
        return "saw probe-left's result" if seen else "ran before probe-left"

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        raise AssertionError("the reader always skips")


class Broken:
    name, version = "probe-broken", "1"
    fields: tuple[str, ...] = ()

    def prepare(self, image: DecodedImage) -> None:
        return None

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        raise PixlensError("the model file is damaged")


def register_probes(patience: float) -> None:
    Probe.started = {"probe-left": threading.Event(), "probe-right": threading.Event()}
    register_analyzer("probe-left", lambda _settings: Probe("probe-left", "probe-right", patience))
    register_analyzer("probe-right", lambda _settings: Probe("probe-right", "probe-left", patience))
    register_analyzer("probe-reader", lambda _settings: Reader())
    register_analyzer("probe-broken", lambda _settings: Broken())


def ingest_one(home: Path, name: str, **settings: Any) -> ImageRecord:
    store = home / "images"
    store.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / name, store / name)
    lens = make_lens(home, **settings)
    try:
        lens.ingest([store])
        found = lens.show(name)
    finally:
        lens.close()
    assert found is not None
    return found


def test_independent_analysers_run_at_once_and_a_reader_after_what_it_reads(tmp_path: Path) -> None:
    register_probes(patience=WAIT)
    # The reader is listed first: it still runs after the probe it reads.
    rec = ingest_one(tmp_path, CAT, analyzers=["probe-reader", "probe-left", "probe-right"], parallel_analyzers=2)
    assert rec.Status is Status.ANALYZED, rec.Error
    assert rec.Skipped == {
        "probe-left.partner": "started",
        "probe-right.partner": "started",
        "probe-reader.all": "saw probe-left's result",
    }


def test_one_at_a_time_when_asked(tmp_path: Path) -> None:
    register_probes(patience=0.2)
    rec = ingest_one(tmp_path, CAT, analyzers=["probe-reader", "probe-left", "probe-right"], parallel_analyzers=1)
    assert rec.Skipped == {
        "probe-left.partner": "not started",  # it ran first, alone
        "probe-right.partner": "started",  # probe-left had run before it
        "probe-reader.all": "saw probe-left's result",
    }


def test_a_failing_analyser_fails_the_image_and_the_others_still_run(tmp_path: Path) -> None:
    register_probes(patience=WAIT)
    rec = ingest_one(tmp_path, CAT, analyzers=["probe-left", "probe-broken", "probe-right"], parallel_analyzers=2)
    assert rec.Status is Status.FAILED
    assert rec.Error == "probe-broken analyser failed: the model file is damaged"
    assert rec.Skipped["probe-left.partner"] == rec.Skipped["probe-right.partner"] == "started"


# -- the real models ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schedules(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Pixlens]]:
    """The same photos analysed one analyser at a time and two at once (one thread per model in both, so that
    only the schedule differs)."""
    lenses = {}
    for parallel in (1, 2):
        home = tmp_path_factory.mktemp(f"parallel-{parallel}")
        store = home / "images"
        store.mkdir()
        for name in (CAT, ASTRONAUT, STREET):
            shutil.copy(SAMPLES / name, store / name)
        lenses[parallel] = make_lens(home, parallel_analyzers=parallel, model_threads=1)
        lenses[parallel].ingest([store])
    yield lenses
    for lens in lenses.values():
        lens.close()


@pytest.mark.parametrize("name", [CAT, ASTRONAUT, STREET])
def test_the_records_do_not_depend_on_the_schedule(schedules: dict[int, Pixlens], name: str) -> None:
    one, two = (schedules[parallel].show(name) for parallel in (1, 2))
    assert one is not None and two is not None
    assert one.Status is two.Status is Status.ANALYZED
    ignored = {"AnalyzedAt", "ETag"}
    assert one.model_dump(exclude=ignored) == two.model_dump(exclude=ignored)
    # The embeddings (kept in the vector index, not in the dump) rank the others the same, with the same scores.
    assert schedules[1].similar(name) == schedules[2].similar(name)


def test_the_person_gate_and_focus_still_apply(schedules: dict[int, Pixlens]) -> None:
    """The face analyser runs after the labels it reads, with two at once too: no face search in the cat photo,
    the astronaut's face found."""
    cat, astronaut = schedules[2].show(CAT), schedules[2].show(ASTRONAUT)
    assert cat is not None and astronaut is not None
    assert cat.Skipped["faces.all"] == "no person among the labels"
    assert len(astronaut.FaceDetails) == 1
    assert "faces.all" not in astronaut.Skipped
