"""Search on the 30 sample photos as analysed by the real models (the ``analysed`` fixture, read-only).

The labels come from real models, so the expectations rest on the ground truth in ``samples/labels.csv`` and on
robust facts (this photo is among the hits; this set is a subset of that one), never on exact scores.
"""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pixlens.cli import app
from pixlens.errors import QueryError
from pixlens.search import SearchResult
from pixlens.service import Pixlens

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ALL = 1000  # a limit above the number of sample photos

CATS = {"000000358083.jpg", "chelsea.png"}
DOGS = {"000000000309.jpg", "000000377575.jpg"}  # a dog with a teddy bear; a poodle at a fire hydrant
BUS_AND_CARS = "000000423617.jpg"
ANIMALS = {"bear", "giraffe", "elephant", "horse", "sheep", "cat", "dog"}
FOODS = {"pizza", "donut", "banana", "sandwich", "cake", "broccoli", "carrot", "coffee"}


def ground_truth() -> dict[str, set[str]]:
    with (SAMPLES / "labels.csv").open(newline="") as handle:
        return {row["file"]: set(filter(None, row["labels"].split(";"))) for row in csv.DictReader(handle)}


def run(lens: Pixlens, query: str, limit: int = ALL, offset: int = 0) -> SearchResult:
    return lens.search(query, limit=limit, offset=offset)


def hits(lens: Pixlens, query: str) -> set[str]:
    return {hit.key for hit in run(lens, query).hits}


def analysed_keys(lens: Pixlens) -> set[str]:
    return {state.key for state in lens.catalog.states() if state.status.value == "analyzed"}


def names_of(lens: Pixlens, key: str) -> set[str]:
    """Every label of an image with its parents: what the index holds for it."""
    record = lens.show(key)
    assert record is not None
    return set(record.indexed_labels())


def labelled_as(lens: Pixlens, key: str, word: str) -> bool:
    """Whether the models gave the image a label that the word names."""
    return bool(names_of(lens, key) & set(lens.taxonomy.resolve(word)))


# --- the sample catalog -----------------------------------------------------------------------------------


def test_every_sample_is_analysed(analysed: Pixlens) -> None:
    assert analysed_keys(analysed) == set(ground_truth())


# --- words ------------------------------------------------------------------------------------------------


def test_plain_labels(analysed: Pixlens) -> None:
    assert hits(analysed, "cat") >= CATS
    assert hits(analysed, "dog") >= DOGS
    people = hits(analysed, "person")
    assert len(people) >= 5
    assert "astronaut.png" in people
    truth = ground_truth()
    # Most person hits are photos with a person in them (the models may err on one or two).
    assert sum("person" in truth[key] for key in people) >= 0.8 * len(people)
    for result in (run(analysed, "cat"), run(analysed, "dog"), run(analysed, "person")):
        assert result.total == len(result.hits)
        assert result.unknown == {}


def test_every_hit_has_the_label(analysed: Pixlens) -> None:
    for query, name in (("cat", "Cat"), ("dog", "Dog"), ("person", "Person")):
        result = run(analysed, query)
        assert result.hits
        for hit in result.hits:
            assert name in names_of(analysed, hit.key)
            assert set(hit.matched) == {name}
            assert hit.score == pytest.approx(hit.matched[name], abs=0.01)


@pytest.mark.parametrize(
    ("plural", "singular"), [("cats", "cat"), ("dogs", "dog"), ("buses", "bus"), ("people", "person")]
)
def test_plurals(analysed: Pixlens, plural: str, singular: str) -> None:
    found = hits(analysed, plural)
    assert found
    assert found == hits(analysed, singular)


def test_plural_finds_the_photos(analysed: Pixlens) -> None:
    assert hits(analysed, "cats") >= CATS
    assert hits(analysed, "dogs") >= DOGS
    assert BUS_AND_CARS in hits(analysed, "buses")
    assert all("Person" in hit.matched for hit in run(analysed, "people").hits)


def test_synonyms(analysed: Pixlens) -> None:
    cars = hits(analysed, "automobile")
    assert BUS_AND_CARS in cars
    assert cars == hits(analysed, "car")
    assert all("Car" in hit.matched for hit in run(analysed, "automobile").hits)
    assert hits(analysed, "kitty") == hits(analysed, "cat")
    assert hits(analysed, "kitty") >= CATS


def test_parent_vehicle(analysed: Pixlens) -> None:
    vehicles = hits(analysed, "vehicle")
    assert BUS_AND_CARS in vehicles
    assert hits(analysed, "car") | hits(analysed, "bus") <= vehicles


def test_parent_animal(analysed: Pixlens) -> None:
    animals = hits(analysed, "animal")
    assert animals >= CATS | DOGS
    expected = {
        key for key, truth in ground_truth().items() for word in truth & ANIMALS if labelled_as(analysed, key, word)
    }
    assert len(expected) >= 7  # the bear, giraffe, elephant, horse, sheep, cat and dog photos, as labelled
    assert expected <= animals
    assert hits(analysed, "cat") | hits(analysed, "dog") <= animals
    assert "astronaut.png" not in animals
    assert "rocket.jpg" not in animals


def test_parent_food(analysed: Pixlens) -> None:
    food = hits(analysed, "food")
    expected = {
        key for key, truth in ground_truth().items() for word in truth & FOODS if labelled_as(analysed, key, word)
    }
    assert expected  # the pizza photo at least, as labelled
    assert expected <= food
    if labelled_as(analysed, "000000121647.jpg", "pizza"):
        assert "000000121647.jpg" in food


@pytest.mark.parametrize("query", ["Cat", "CAT", "cAt", "  cat  ", "label:cat", "LABEL:Cat"])
def test_case_insensitive(analysed: Pixlens, query: str) -> None:
    assert hits(analysed, query) == hits(analysed, "cat")


def test_quoted_multi_word_labels(analysed: Pixlens) -> None:
    counts = dict(analysed.labels())
    multi = [name for name in counts if " " in name]
    assert "Teddy Bear" in multi
    assert "000000000309.jpg" in hits(analysed, '"teddy bear"')
    assert hits(analysed, '"  Teddy   BEAR "') == hits(analysed, '"teddy bear"')
    for name in multi:
        result = run(analysed, f'"{name.lower()}"')
        assert len(result.hits) == counts[name], name
        assert all(name in hit.matched for hit in result.hits), name


def test_category_search(analysed: Pixlens) -> None:
    animals = hits(analysed, "category:animal")
    assert animals >= CATS | DOGS
    assert hits(analysed, 'category:"Animals and Pets"') == animals


# --- boolean ----------------------------------------------------------------------------------------------


def test_dog_and_not_cat(analysed: Pixlens) -> None:
    found = hits(analysed, "dog AND NOT cat")
    assert found == hits(analysed, "dog") - hits(analysed, "cat")
    assert found >= DOGS
    assert hits(analysed, "dog -cat") == found


def test_cat_or_dog_and_not_person(analysed: Pixlens) -> None:
    found = hits(analysed, "(cat OR dog) AND NOT person")
    assert found == (hits(analysed, "cat") | hits(analysed, "dog")) - hits(analysed, "person")
    assert found >= CATS
    assert hits(analysed, "cat OR dog") == hits(analysed, "cat") | hits(analysed, "dog")
    assert hits(analysed, "cat dog") == hits(analysed, "cat") & hits(analysed, "dog")


def test_not_person_is_the_complement(analysed: Pixlens) -> None:
    result = run(analysed, "NOT person")
    found = {hit.key for hit in result.hits}
    people = hits(analysed, "person")
    assert found == analysed_keys(analysed) - people
    assert found.isdisjoint(people)
    assert len(found) + len(people) == len(ground_truth())
    assert result.total == len(found)
    assert "rocket.jpg" in found  # no label at all


# --- thresholds and ranking -------------------------------------------------------------------------------


def test_thresholds(analysed: Pixlens) -> None:
    dogs = hits(analysed, "dog")
    sure = run(analysed, "dog>=80")
    assert {hit.key for hit in sure.hits} <= dogs
    assert all(hit.matched["Dog"] >= 80 for hit in sure.hits)
    unsure = hits(analysed, "dog<80")
    assert unsure | {hit.key for hit in sure.hits} == dogs
    assert unsure.isdisjoint(hit.key for hit in sure.hits)
    assert hits(analysed, "person>=0") == hits(analysed, "person")
    assert hits(analysed, "person>100") == set()
    assert hits(analysed, "person > 50") == hits(analysed, "person>50")


@pytest.mark.parametrize("query", ["person", "animal", "cat OR dog OR person", "NOT person", "container -person"])
def test_ranking_best_first(analysed: Pixlens, query: str) -> None:
    scores = [hit.score for hit in run(analysed, query).hits]
    assert scores
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 100.0 for score in scores)


def test_ranking_follows_confidence(analysed: Pixlens) -> None:
    for hit in run(analysed, "person").hits:
        assert hit.score == pytest.approx(hit.matched["Person"], abs=0.01)


def test_limit_and_offset(analysed: Pixlens) -> None:
    full = run(analysed, "person")
    assert len(full.hits) >= 5
    first = run(analysed, "person", limit=2)
    assert [hit.key for hit in first.hits] == [hit.key for hit in full.hits[:2]]
    assert first.total == len(full.hits)
    paged = [hit.key for start in range(0, len(full.hits), 3) for hit in run(analysed, "person", 3, start).hits]
    assert paged == [hit.key for hit in full.hits]
    beyond = run(analysed, "person", limit=5, offset=len(full.hits))
    assert beyond.hits == []
    assert beyond.total == len(full.hits)


def test_hits_are_json_ready(analysed: Pixlens) -> None:
    result = run(analysed, "cat OR dog")
    payload = json.loads(
        json.dumps([{"key": hit.key, "score": hit.score, "matched": hit.matched} for hit in result.hits])
    )
    assert {item["key"] for item in payload} >= CATS | DOGS
    for item in payload:
        assert isinstance(item["score"], float)
        assert item["matched"]
        assert set(item["matched"]) <= {"Cat", "Dog"}
        assert all(0.0 < conf <= 100.0 for conf in item["matched"].values())
    by_key = {item["key"]: item["matched"] for item in payload}
    assert all("Cat" in by_key[key] for key in CATS)


# --- unknown words and errors -----------------------------------------------------------------------------


def test_unknown_word(analysed: Pixlens) -> None:
    result = run(analysed, "zorblaxian")
    assert result.hits == []
    assert result.total == 0
    assert result.unknown == {"zorblaxian": []}


def test_near_miss_gets_a_suggestion(analysed: Pixlens) -> None:
    result = run(analysed, "caat")
    assert result.hits == []
    assert "Cat" in result.unknown["caat"]
    assert "Pizza" in run(analysed, "pizzza OR cat").unknown["pizzza"]


def test_a_misspelling_the_sentence_model_knows_finds_its_label(analysed: Pixlens) -> None:
    result = run(analysed, "dogg OR caat")
    assert "dogg" not in result.unknown
    assert {hit.key for hit in result.hits} == hits(analysed, "dog")


@pytest.mark.parametrize(
    ("query", "position"),
    [
        ("dog AND", 4),
        ("(cat", 0),
        ("dog>=200", 5),
        ("has:nothing", 0),
        ("dog)", 3),
        ("shape:round", 0),
        ("is:pretty", 0),
        ('"teddy bear', 0),
    ],
)
def test_malformed_queries(analysed: Pixlens, query: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        analysed.search(query)
    assert caught.value.position == position
    assert caught.value.query == query
    if query:
        assert caught.value.pointer().splitlines()[-1] == "  " + " " * position + "^"


# --- the command line -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli(analysed: Pixlens) -> tuple[CliRunner, list[str]]:
    return CliRunner(), ["--home", str(analysed.settings.home)]


def test_cli_search_json(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "search", "cat", "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {line["ImageName"] for line in lines} >= CATS
    for line in lines:
        assert isinstance(line["Score"], float)
        assert line["Labels"]
        assert all(set(entry) == {"Name", "Confidence"} for entry in line["Labels"])
        assert line["Matched"] == []  # a label query matches labels only
        assert "Cat" in {entry["Name"] for entry in line["Labels"]}


def test_cli_search_limit(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "search", "person", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert len([line for line in result.stdout.splitlines() if line.strip()]) == 2


def test_cli_search_table(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "search", "cat"])
    assert result.exit_code == 0, result.output
    assert "chelsea.png" in result.stdout
    assert "images match" in result.stderr


def test_cli_search_unknown_word_hint(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "search", "caat", "--json"])
    assert result.exit_code == 1, result.output  # nothing matched, as grep says it
    assert result.stdout.strip() == ""
    assert "Cat" in result.stderr


def test_cli_search_malformed_query(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "search", "dog AND ("])
    assert result.exit_code == 2
    assert "invalid query" in result.stderr
    assert "^" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_cli_labels(cli: tuple[CliRunner, list[str]], analysed: Pixlens) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "labels", "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert rows == [{"Name": name, "Images": count} for name, count in analysed.labels()[:5]]
    assert [row["Images"] for row in rows] == sorted((row["Images"] for row in rows), reverse=True)
    counts = {name: count for name, count in analysed.labels()}
    assert counts["Cat"] == len(CATS)  # every cat photo, each once
    table = runner.invoke(app, [*home, "labels", "--limit", "3"])
    assert table.exit_code == 0 and rows[0]["Name"] in table.stdout


def test_cli_show(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "show", "chelsea.png"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["ImageName"] == "chelsea.png"
    assert record["Status"] == "analyzed"
    assert "Cat" in {entry["Name"] for entry in record["Labels"]}
    missing = runner.invoke(app, [*home, "show", "nope.jpg"])
    assert missing.exit_code == 1
    assert "nope.jpg" in missing.stderr


def test_cli_labels_json(cli: tuple[CliRunner, list[str]], analysed: Pixlens) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "labels", "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert [(row["Name"], row["Images"]) for row in rows] == analysed.labels()
    assert {"Cat", "Dog", "Person", "Animal"} <= {row["Name"] for row in rows}


def test_cli_stats_json(cli: tuple[CliRunner, list[str]]) -> None:
    runner, home = cli
    result = runner.invoke(app, [*home, "stats", "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["Images"] == len(ground_truth())
    assert stats["Analyzed"] == len(ground_truth())
    assert stats["Failed"] == 0
    assert stats["Pending"] == 0
    assert stats["Labels"] > 10


def test_an_empty_query_finds_every_image_newest_first(analysed: Pixlens) -> None:
    for blank in ("", "   "):
        result = analysed.search(blank, limit=100)
        assert result.total == analysed.catalog.status_counts()["analyzed"] and result.unknown == {}
        assert [hit.score for hit in result.hits] == [0.0] * len(result.hits)
        places = [hit.place for hit in result.hits]
        assert places == sorted(places, key=lambda place: -place[1])  # type: ignore[index]


@pytest.mark.parametrize("place", [[1.0, "5"], [1.0, True], [True, 5], [1.0, 5.5], [float("nan"), 5], [1.0, -1]])
def test_cursors_hold_a_score_and_an_image_number_only(place: list[object]) -> None:
    from pixlens.errors import CursorError
    from pixlens.search import _fingerprint, decode_cursor

    raw = json.dumps([*place, _fingerprint("dog")]).encode()
    with pytest.raises(CursorError):
        decode_cursor("dog", base64.urlsafe_b64encode(raw).decode())
