"""Weighted index entries: a word's rarer meaning ranks below its commonest one, while which images match and
thresholds on confidence stay as the records say. On a real SQLite catalog, through every path of the evaluation
(scoring all hits, walking a rank order)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pixlens.catalog import sets
from pixlens.catalog.base import Resolved
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.query import Term, parse
from pixlens.record import ImageRecord, Label, NameRef, Status

# "bug": an insect first (weight 1.0), a hidden microphone second (0.4)
WEIGHTS = {"Insect": 1.0, "Microphone": 0.4}


def record(key: str, labels: dict[str, float], parents: dict[str, list[str]] | None = None) -> ImageRecord:
    parents = parents or {}
    return ImageRecord(
        ImageName=key,
        Status=Status.ANALYZED,
        Labels=[
            Label(Name=name, Confidence=conf, Parents=[NameRef(Name=p) for p in parents.get(name, [])])
            for name, conf in labels.items()
        ],
    )


def resolve(term: Term) -> Resolved:
    if term.value == "bug":
        return WEIGHTS
    return [term.value.title()]


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[SqliteCatalog]:
    found = SqliteCatalog(tmp_path / "catalog.db")
    found.put(
        [
            record("microphone-sure.jpg", {"Microphone": 95.0}),
            record("beetle-unsure.jpg", {"Insect": 50.0}),
            record("beetle-sure.jpg", {"Insect": 90.0}),
            record("both.jpg", {"Insect": 30.0, "Microphone": 99.0}),
            record("cat.jpg", {"Cat": 80.0}),
        ]
    )
    yield found
    found.close()


@pytest.mark.parametrize("walk", [False, True])
def test_a_rarer_meaning_ranks_lower(catalog: SqliteCatalog, walk: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if walk:
        monkeypatch.setattr(sets, "WALK_FROM", 0)
        monkeypatch.setattr(sets, "WALK_SHARE", 0)
    hits, total = catalog.page(parse("bug"), resolve, limit=10)
    assert total == 4
    assert [(hit.key, hit.score) for hit in hits] == [
        ("beetle-sure.jpg", 90.0),
        ("beetle-unsure.jpg", 50.0),
        ("both.jpg", 39.6),  # its microphone, 99 x 0.4, beats its insect, 30
        ("microphone-sure.jpg", 38.0),  # 95 x 0.4
    ]
    # the hit still shows the confidences the record holds
    assert hits[2].matched == {"Insect": 30.0, "Microphone": 99.0}


def test_a_threshold_is_on_the_confidence_not_the_weighted_score(catalog: SqliteCatalog) -> None:
    hits, total = catalog.page(parse("bug>=90"), resolve, limit=10)
    assert {hit.key for hit in hits} == {"beetle-sure.jpg", "microphone-sure.jpg", "both.jpg"}
    assert total == 3
    scored = {hit.key: hit.score for hit in hits}
    assert scored["microphone-sure.jpg"] == 38.0


def test_weights_combine_with_the_rest_of_the_query(catalog: SqliteCatalog) -> None:
    assert catalog.count(parse("bug OR cat"), resolve) == 5
    assert catalog.count(parse("bug AND NOT microphone"), resolve) == 2
    hits, _ = catalog.page(parse("bug AND NOT microphone"), resolve, limit=10)
    assert [hit.key for hit in hits] == ["beetle-sure.jpg", "beetle-unsure.jpg"]


def test_a_parent_keeps_the_records_own_confidence(tmp_path: Path) -> None:
    pickup = record(
        "pickup.jpg",
        {"Pickup Truck": 90.0, "Truck": 30.0},
        {"Pickup Truck": ["Truck", "Vehicle"], "Truck": ["Vehicle"]},
    )
    assert pickup.indexed_labels() == {"Pickup Truck": 90.0, "Truck": 30.0, "Vehicle": 90.0}
