"""Free text: a query as a person says it is read as words and ranked by how many match and how well; the query
language keeps working exactly as before. On the 30 sample photos as the real models analysed them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pixlens import freetext
from pixlens.cli import app
from pixlens.errors import QueryError
from pixlens.query import And, Or, Some, Term, parse
from pixlens.service import Pixlens

ALL = 1000
TWO_PEOPLE = Or((Term("faces", op=">=", threshold=2.0), Term("people", "has", op=">=", threshold=2.0)))
DOG_AND_TEDDY = "000000000309.jpg"


def scores(lens: Pixlens, query: str) -> dict[str, float]:
    return {hit.key: hit.score for hit in lens.search(query, limit=ALL).hits}


def known(words: set[str]) -> freetext.Knows:
    return lambda text: text.lower() in words


WORDS = {"dog", "beach", "car", "table", "golden retriever", "teddy bear", "person", "cat", "orange"}


def read(text: str) -> freetext.FreeText | None:
    try:
        parse(text, frozenset({"label", "text", "color"}))
        structured = True
    except QueryError:
        structured = False
    return freetext.read(text, known({"golden retriever", "teddy bear"}), known(WORDS), structured)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("a dog on a beach", Some((Term("dog"), Term("beach")))),
        ("red car", Some((Term("red", "color"), Term("car")))),
        ("Photo of a grey cat", Some((Term("gray", "color"), Term("cat")))),
        ("golden retriever", Term("golden retriever")),
        ("a golden retriever with a teddy bear", Some((Term("golden retriever"), Term("teddy bear")))),
        ("two people at a table", Some((TWO_PEOPLE, Term("table")))),
        ('sign with text "open daily"', Term("open daily", "text")),
        ("dog, cat and a car!", Some((Term("dog"), Term("cat"), Term("car")))),
        ("what is on the table?", Term("table")),
    ],
)
def test_free_text_is_read_as_words(text: str, node: object) -> None:
    found = read(text)
    assert found is not None
    assert found.node == node


@pytest.mark.parametrize(
    "text",
    [
        "dog cat",
        "dog and cat",
        "dog or cat",
        "dog AND NOT cat",
        "(dog OR cat) person",
        "dog>=80 car",
        "-cat dog",
        'label:"teddy bear" dog',
        "dog",
    ],
)
def test_the_query_language_is_left_alone(text: str) -> None:
    assert read(text) is None


def test_unknown_words_are_left_out_and_reported() -> None:
    found = read("a dog on a zzqxv")
    assert found is not None
    assert found.node == Term("dog")
    assert found.unknown == ["zzqxv"]


def test_a_hit_scores_the_mean_over_all_the_words(analysed: Pixlens) -> None:
    dog, teddy = scores(analysed, "dog"), scores(analysed, '"teddy bear"')
    both = scores(analysed, "a dog with a teddy bear")
    assert set(both) == set(dog) | set(teddy)  # any word matching is enough to be found
    for key, score in both.items():
        assert score == pytest.approx((dog.get(key, 0.0) + teddy.get(key, 0.0)) / 2, abs=0.02)
    assert max(both, key=lambda key: both[key]) == DOG_AND_TEDDY  # the photo with both words first
    ranked = list(both.values())
    assert ranked == sorted(ranked, reverse=True)


def test_the_structured_and_is_unchanged(analysed: Pixlens) -> None:
    assert analysed.searcher().parse("dog person") == And((Term("dog", position=0), Term("person", position=4)))
    assert set(scores(analysed, "dog person")) == set(scores(analysed, "dog AND person"))


def test_names_of_several_words_need_no_quotes(analysed: Pixlens) -> None:
    assert scores(analysed, "teddy bear") == scores(analysed, '"teddy bear"')
    assert DOG_AND_TEDDY in scores(analysed, "teddy bear")


def test_colour_words_become_colour_terms(analysed: Pixlens) -> None:
    node = analysed.searcher().parse("a red car")
    assert isinstance(node, Some)
    assert Term("red", "color") in node.operands
    red, car = scores(analysed, "color:red"), scores(analysed, "car")
    assert set(scores(analysed, "a red car")) == set(red) | set(car)


def test_a_count_of_people_asks_for_that_many_faces_or_people(analysed: Pixlens) -> None:
    two = set(scores(analysed, "two people"))
    assert two == set(scores(analysed, "faces>=2 OR has:people>=2"))
    assert set(scores(analysed, "faces>=2")) < two  # more people are boxed than faces seen
    for key in set(scores(analysed, "has:people>=2")):
        record = analysed.show(key)
        assert record is not None
        assert max(len(label.Instances) for label in record.Labels if label.Name == "Person") >= 2


def test_a_search_that_finds_nothing_reports_its_words_and_exits_1(analysed: Pixlens) -> None:
    result = analysed.search("a photo of a zzqxv", limit=5)
    assert result.total == 0
    assert "zzqxv" in result.unknown
    runner = CliRunner()
    home = str(analysed.settings.home)
    missing = runner.invoke(app, ["--home", home, "search", "zzqxv"])
    assert missing.exit_code == 1, missing.output
    assert "zzqxv" in missing.output
    found = runner.invoke(app, ["--home", home, "search", "a dog on the zzqxv"])
    assert found.exit_code == 0, found.output
    assert "zzqxv" in found.output  # reported, although the dogs were found


def test_malformed_queries_are_still_errors(analysed: Pixlens) -> None:
    for text in ("dog AND", "(dog", 'dog "cat', "dog>=200"):
        with pytest.raises(QueryError):
            analysed.search(text)
