"""Free text: a query as a person says it is read as words and ranked by how many match and how well; the query
language keeps working exactly as before. On the 30 sample photos as the real models analysed them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pixlens import freetext
from pixlens.cli import app
from pixlens.errors import QueryError
from pixlens.query import And, Not, Or, Some, Term, parse
from pixlens.search import SEARCH_FIELDS
from pixlens.service import Pixlens

ALL = 1000
TWO_PEOPLE = Or((Term("faces", op=">=", threshold=2.0), Term("people", "has", op=">=", threshold=2.0)))
DOG_AND_TEDDY = "000000000309.jpg"


def scores(lens: Pixlens, query: str) -> dict[str, float]:
    return {hit.key: hit.score for hit in lens.search(query, limit=ALL).hits}


WORDS = {"dog", "beach", "car", "table", "golden retriever", "teddy bear", "person", "people", "cat", "sign"}


class Words:
    """A vocabulary of a few words, names and one place."""

    def names(self, words: str) -> bool:
        return words.lower() in {"golden retriever", "teddy bear"}

    def finds(self, word: str) -> bool:
        return word.lower() in WORDS

    def place(self, word: str) -> bool:
        return word.lower() == "paris"


def read(text: str) -> freetext.FreeText:
    spaced = freetext.spaced(text)
    return freetext.loosen(parse(spaced, SEARCH_FIELDS), spaced, Words())


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("a dog on a beach", Some((Term("dog"), Term("beach")))),
        ("red car", Some((Term("red", "color"), Term("car")))),
        ("Photo of a grey cat", Some((Term("gray", "color"), Term("cat")))),
        ("golden retriever", Term("golden retriever")),
        ("a golden retriever with a teddy bear", Some((Term("golden retriever"), Term("teddy bear")))),
        ("two people at a table", Some((TWO_PEOPLE, Term("table")))),
        ('sign with text "open daily"', Some((Term("sign"), Term("open daily", "text")))),
        ('sign saying "DO NOT ENTER (24h)"', Some((Term("sign"), Term("DO NOT ENTER (24h)", "text")))),
        ("a dog, a cat and a car!", Some((Term("dog"), Term("cat"), Term("car")))),
        ("what is on the table?", Term("table")),
        ("dog without cat", And((Term("dog"), Not(Term("cat"))))),
        ("a dog with no people", And((Term("dog"), Not(Term("people"))))),
        ("not a dog", Not(Term("dog"))),
        ("a dog or a cat", Or((Term("dog"), Term("cat")))),
        ('a dog on a beach AND "dog"', And((Some((Term("dog"), Term("beach"))), Term("dog")))),
        ("a dog on a beach color:gray", And((Some((Term("dog"), Term("beach"))), Term("gray", "color")))),
        ("a dog in paris", Some((Term("dog"), Term("paris", "place")))),
        ("(a dog on a beach) OR cat", Or((Some((Term("dog"), Term("beach"))), Term("cat")))),
    ],
)
def test_free_text_is_read_as_words(text: str, node: object) -> None:
    assert read(text).node == node


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
        'dog "teddy bear"',
        '"dog" "cat"',
        "dog not cat",
        "dog",
    ],
)
def test_the_query_language_is_left_alone(text: str) -> None:
    assert read(text).node == parse(text, SEARCH_FIELDS)
    assert read(text).unknown == []


@pytest.mark.parametrize(
    ("text", "same"),
    [
        ("dog cat?", "dog cat"),
        ("dog, cat", "dog cat"),
        ("cat!", "cat"),
        ("near:48.85,2.35,5km, dog.", "near:48.85,2.35,5km dog"),  # a field's value keeps its commas
        ("taken:2020.. dog", "taken:2020.. dog"),
        ('"a, b." dog', '"a, b." dog'),  # and a quoted phrase its punctuation
    ],
)
def test_punctuation_is_a_space(text: str, same: str) -> None:
    assert read(text).node == parse(same, SEARCH_FIELDS)


def test_only_common_words_or_too_many_words_are_errors() -> None:
    with pytest.raises(QueryError, match="only common words"):
        read("the a of")
    with pytest.raises(QueryError, match="at most 32"):
        read(" ".join(f"zz{i}" for i in range(40)))
    assert read(" ".join(["a dog"] * 100)).node == Term("dog")  # a word is looked up once however often typed


def test_unknown_words_are_left_out_and_reported() -> None:
    found = read("a dog on a zzqxv")
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
