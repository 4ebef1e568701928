"""Analysis lanes: batches analysed at once give the records that one lane gives (every analyser, real models)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import SAMPLES, make_lens
from pixlens.record import Status
from pixlens.service import Pixlens

pytestmark = pytest.mark.slow

PHOTOS = ("chelsea.png", "astronaut.png", "000000423617.jpg", "000000000785.jpg", "coffee.png", "000000012062.jpg")


@pytest.fixture(scope="module")
def by_lanes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Pixlens]]:
    lenses = {}
    for lanes in (1, 2):
        home = tmp_path_factory.mktemp(f"lanes-{lanes}")
        store = home / "images"
        store.mkdir()
        for name in PHOTOS:
            shutil.copy(SAMPLES / name, store / name)
        # batches of 2: three batches, two of them in the lanes at once
        lenses[lanes] = make_lens(home, analysis_lanes=lanes, model_threads=1, batch_size=2)
        report = lenses[lanes].ingest([store])
        assert {result.outcome.value for result in report.results} == {"analyzed"}
    yield lenses
    for lens in lenses.values():
        lens.close()


def comparable(lens: Pixlens, name: str) -> dict[str, Any]:
    record = lens.show(name)
    assert record is not None and record.Status is Status.ANALYZED
    dumped = record.model_dump(exclude={"AnalyzedAt", "ETag"})
    for face in dumped["FaceDetails"]:
        face.pop("PersonId", None)  # numbered in the order the batches are written
    return dumped


@pytest.mark.parametrize("name", PHOTOS)
def test_two_lanes_give_the_records_of_one(by_lanes: dict[int, Pixlens], name: str) -> None:
    assert comparable(by_lanes[1], name) == comparable(by_lanes[2], name)
    assert by_lanes[1].similar(name) == by_lanes[2].similar(name)


def test_two_lanes_keep_the_people_apart(by_lanes: dict[int, Pixlens]) -> None:
    assert [(row.faces, row.images) for row in by_lanes[1].people()] == [
        (row.faces, row.images) for row in by_lanes[2].people()
    ]
