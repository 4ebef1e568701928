"""Free text attacked as a hostile tester did: quoted labels beside words, negations, text phrases holding operators,
punctuation, the length limit, facets refining free text, rare meanings, saved searches. On the 30 sample photos as
the real models analysed them."""

from __future__ import annotations

import pytest

from pixlens.errors import QueryError
from pixlens.lexicon import Lexicon
from pixlens.query import Term, terms
from pixlens.service import Pixlens
from pixlens.webhooks import Webhooks

ALL = 1000
DOG_AND_TEDDY = "000000000309.jpg"


def keys(lens: Pixlens, query: str) -> list[str]:
    return [hit.key for hit in lens.search(query, limit=ALL).hits]


def test_a_quoted_label_beside_a_word_is_still_and(analysed: Pixlens) -> None:
    """F1: `dog "teddy bear"` is `dog AND "teddy bear"`, as before free text."""
    assert keys(analysed, 'dog "teddy bear"') == keys(analysed, 'dog AND "teddy bear"') == [DOG_AND_TEDDY]
    assert keys(analysed, '"dog" "cat"') == []


def test_dog_without_cat_does_not_rank_cats_first(analysed: Pixlens) -> None:
    """F2: what `without` excludes must not come before what was asked for."""
    dogs = set(keys(analysed, "dog"))
    found = keys(analysed, "dog without cat")
    assert found, "a dog photo without a cat exists"
    assert found[0] in dogs


def test_not_a_dog_does_not_return_the_dogs(analysed: Pixlens) -> None:
    """F3: lowercase `not` makes `(NOT a) AND dog`, i.e. exactly the dogs."""
    assert DOG_AND_TEDDY not in keys(analysed, "not a dog")


@pytest.mark.parametrize("phrase", ["DO NOT ENTER", "open (24h)", "10:30", "open - closed", "FISH OR CHIPS"])
def test_a_text_phrase_with_operators_or_punctuation_is_still_text(analysed: Pixlens, phrase: str) -> None:
    """F4: `sign saying "..."` reads the phrase as text whatever characters it holds."""
    node = analysed.searcher().parse(f'sign saying "{phrase}"')
    assert Term(phrase, "text") in terms(node)


def test_a_question_mark_does_not_turn_and_into_any_of(analysed: Pixlens) -> None:
    """F5: `dog cat?` is the same search as `dog cat`."""
    assert keys(analysed, "dog cat?") == keys(analysed, "dog cat")


@pytest.mark.parametrize("query", ["a dog " * 200, "dog cat " * 200])
def test_the_1000_character_limit_holds_for_free_text(analysed: Pixlens, query: str) -> None:
    """F6: SEARCH.md: a query is at most 1000 characters."""
    with pytest.raises(QueryError):
        analysed.search(query)


@pytest.mark.parametrize("query", ["a dog on a beach", "grey cat", "red car with people"])
def test_adding_a_facet_to_free_text_narrows_to_its_count(analysed: Pixlens, query: str) -> None:
    """F7: SEARCH.md "Over HTTP": adding `AND "Label"` narrows the result to exactly the facet's count."""
    label, count = analysed.facets(query).labels[0]
    assert analysed.search(f'{query} AND "{label}"', limit=1).total == count


def test_whale_means_the_animal_before_a_big_person() -> None:
    """F8: the commonest meaning weighs most."""
    found = Lexicon.with_meanings().lookup("whale")
    assert found and found[0].label != "Person"


def test_a_saved_free_text_search_reports_words_that_find_nothing(lens: Pixlens) -> None:
    """F11: as `pixlens search` does for the same query."""
    _, unknown = Webhooks(lens).add("words", "a xyzzy on a plugh", "http://127.0.0.1:9/hook")
    assert {"xyzzy", "plugh"} <= set(unknown)
