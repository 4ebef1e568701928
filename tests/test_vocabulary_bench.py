"""The vocabulary benchmark's word list (benchmarks/data/search_words.csv) and its judging, without the latency
part: the list parses, every mapped label is a label (a taxonomy rename fails here, loudly), and reach and wrong
mappings are measured on a slice."""

from __future__ import annotations

import copy
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from pixlens.analysis.taxonomy import Taxonomy, normalize
from pixlens.query import parse
from pixlens.search import SEARCH_FIELDS

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import vocabulary  # noqa: E402

DEV_WORDS = ROOT / "benchmarks" / "data" / "dev_words.csv"


def test_the_word_list_parses_and_holds_at_least_300_mappable_words() -> None:
    words = vocabulary.load_words()

    mappable = [entry for entry in words if entry.labels]
    assert len(mappable) >= 300
    assert len(words) - len(mappable) > 0  # words that no label holds are part of the list, reported apart
    assert all(entry.word == entry.word.strip() and entry.word for entry in words)


def test_every_mapped_label_is_a_label_of_the_taxonomy() -> None:
    taxonomy = Taxonomy.load()

    unknown = [(entry.word, name) for entry in vocabulary.load_words() for name in entry.labels if name not in taxonomy]

    assert unknown == [], "labels renamed or removed: map these words again"


def test_no_word_is_listed_twice() -> None:
    keys = [normalize(entry.word) for entry in vocabulary.load_words()]

    assert sorted({key for key in keys if keys.count(key) > 1}) == []


def test_the_development_list_parses_maps_to_labels_and_shares_no_word_with_the_held_out_list() -> None:
    taxonomy = Taxonomy.load()
    words = vocabulary.load_words(DEV_WORDS)
    keys = [normalize(entry.word) for entry in words]

    assert len([entry for entry in words if entry.labels]) >= 250
    assert [(entry.word, name) for entry in words for name in entry.labels if name not in taxonomy] == []
    assert sorted({key for key in keys if keys.count(key) > 1}) == []
    held = {normalize(entry.word) for entry in vocabulary.load_words()}
    # Also a plural or singular of a held-out word: tuning on "foxes" would tune "fox".
    forms = {
        form for key in keys for form in (key, key + "s", key + "es", key.removesuffix("s"), key.removesuffix("es"))
    }
    assert sorted(forms & held) == []


def test_a_mapped_label_stands_for_itself_and_every_label_below_it_and_its_parents_are_broader() -> None:
    taxonomy = Taxonomy.load()
    dog = vocabulary.Word("dog", ("Dog",), "")

    assert {"Dog", "Golden Retriever", "Pug"} <= vocabulary.right_labels(dog, taxonomy)
    assert "Cat" not in vocabulary.right_labels(dog, taxonomy)
    assert {"Canine", "Animal"} <= vocabulary.broader_labels(dog, taxonomy)


def test_reach_and_wrong_mappings_are_measured_on_a_slice() -> None:
    words = vocabulary.load_words()[:10]

    figures = vocabulary.measure(words=words, latency=False)

    assert figures["words"] == 10 and figures["mappable"] == sum(bool(entry.labels) for entry in words)
    assert figures["reached"] == round(figures["reach"] * figures["mappable"])
    assert 0 <= figures["wrong_pairs"] <= figures["pairs"]
    assert "dog" not in {u["word"] for u in figures["unreached"]}  # the first word: "dog" -> Dog
    assert "search" not in figures and "lookup_us" not in figures


def test_the_free_text_queries_are_five_words_that_the_query_language_accepts() -> None:
    words = vocabulary.load_words()

    queries = vocabulary.free_text_queries(words, 40)

    assert queries == vocabulary.free_text_queries(words, 40)  # the same every run
    assert len(set(queries)) == 40
    assert all(len(query.split()) == 5 for query in queries)
    for query in queries:
        parse(query, SEARCH_FIELDS)


def gen_figures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_figures", ROOT / "scripts" / "gen_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_vocabulary_figures_make_rows_of_the_speed_table() -> None:
    module = gen_figures()
    figures = module.load()
    with_words = copy.deepcopy(figures)
    measured = copy.deepcopy(next(iter(figures.values()))["measured"])
    with_words["vocabulary"] = vocabulary.measure(words=vocabulary.load_words()[:10], latency=False) | {
        "measured": measured,
        "search": {
            "records": 100_000,
            "queries": 200,
            "examples": ["a dog on the beach"],
            "p95": 12.3,
            "p95_rounds": [12.0, 12.3, 14.0],
            "target_ms": 30.0,
            "verdict": "PASS",
        },
    }

    speed = module.render(with_words)["readme-speed"]

    assert "held-out photo-search words" in speed
    assert "12.3 (12.0-14.0, 3 rounds) ms (`a dog on the beach`) | < 30 ms: PASS" in speed
    without = {name: section for name, section in with_words.items() if name != "vocabulary"}
    assert "held-out photo-search words" not in module.render(without)["readme-speed"]
