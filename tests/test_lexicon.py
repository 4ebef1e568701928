"""The lexicon: every English noun of WordNet reaches the labels at or below its senses, weighted by how common each
sense is; the reviewed override file corrects the tree. The words here are the examples issue 12 names and the
lexicon's own rules, not the held-out benchmark list."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import pytest

from pixlens.analysis.taxonomy import Taxonomy, normalize
from pixlens.lexicon import MEANING, WORDNET, Kinds, Lexicon, Match


@pytest.fixture(scope="module")
def lexicon() -> Lexicon:
    return Lexicon.load()


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


def reached(lexicon: Lexicon, taxonomy: Taxonomy, word: str) -> set[str]:
    """Every label an image may hold for the word to find it: the labels found and all below them."""
    found = {match.label for match in lexicon.lookup(word)}
    return found.union(*(taxonomy.descendants(label) for label in found))


@pytest.mark.parametrize(
    ("word", "labels"),
    [
        ("flower", {"Daisy", "Yellow Lady's Slipper"}),
        ("mountain", {"Alp", "Volcano"}),
        ("boat", {"Schooner", "Container Ship", "Canoe", "Fireboat"}),
        ("instrument", {"Acoustic Guitar", "Violin", "Grand Piano"}),
        ("building", {"Castle", "Church Building", "Palace"}),
        ("guitar", {"Acoustic Guitar", "Electric Guitar"}),
        ("mug", {"Coffee Mug"}),
        ("golden retriever", {"Golden Retriever"}),
        ("Golden-Retrievers", {"Golden Retriever"}),
        ("coffee mug", {"Coffee Mug"}),
        ("poodle", {"Toy Poodle", "Miniature Poodle", "Standard Poodle"}),
        ("knives", {"Knife"}),
        ("mice", {"Mouse"}),
        ("geese", {"Goose"}),
        ("aeroplane", {"Airplane"}),
        ("theatre curtain", {"Theater Curtain"}),
        ("gray whale", {"Grey Whale"}),
        ("sedan", {"Car"}),
        ("carpenter", {"Person"}),
        ("seagull", {"Bird"}),  # nothing below it: the nearest label above, however far
        ("animal", {"Tabby Cat", "Golden Retriever", "Goldfish"}),
    ],
)
def test_a_word_reaches_the_labels_below_its_senses(
    lexicon: Lexicon, taxonomy: Taxonomy, word: str, labels: set[str]
) -> None:
    assert labels <= reached(lexicon, taxonomy, word)


def test_the_most_specific_labels_only(lexicon: Lexicon, taxonomy: Taxonomy) -> None:
    # poodle used to find every dog (its nearest label above); now the three poodles and nothing else
    assert reached(lexicon, taxonomy, "poodle") == {"Toy Poodle", "Miniature Poodle", "Standard Poodle"}
    assert "Tiger Cat" in reached(lexicon, taxonomy, "tabby")  # the override: people and models mix them up
    assert "Dog" not in reached(lexicon, taxonomy, "tabby")


def test_the_commonest_sense_weighs_most(lexicon: Lexicon) -> None:
    bug = {match.label: match.weight for match in lexicon.lookup("bug")}
    assert bug["Insect"] > bug["Microphone"] > 0  # an insect before a hidden microphone, both found
    mouse = {match.label for match in lexicon.lookup("mouse")}
    assert {"Mouse", "Rodent"} <= mouse  # the computer mouse and the animal
    matches = lexicon.lookup("bug")
    assert matches == sorted(matches, key=lambda match: -match.weight)  # best first


def test_a_rare_sense_does_not_climb_to_a_label_above(lexicon: Lexicon) -> None:
    # dog's fourth sense is an unattractive woman, a bunny's untagged first sense a nightclub waitress
    assert {match.label for match in lexicon.lookup("dog")} == {"Dog"}
    assert "Person" not in {match.label for match in lexicon.lookup("bunny")}
    # a whale is the animal first, although its tagged sense is a large person
    assert {match.label for match in lexicon.lookup("whale")} == {"Grey Whale", "Killer Whale"}
    # a top group of the taxonomy is never what a word just below it means
    assert "Geological Formation" not in {match.label for match in lexicon.lookup("beach") if match.via == WORDNET}


def test_overrides_fix_the_tree(taxonomy: Taxonomy, lexicon: Lexicon) -> None:
    assert "Truck" not in taxonomy.info("Minivan").parents
    assert "Minivan" not in taxonomy.descendants("Truck")
    assert "Car" in taxonomy.info("Minivan").parents
    assert "Building" in taxonomy.info("Castle").parents
    # a label gained as a parent brings its own parents along, nearest first
    parents = taxonomy.info("Castle").parents
    assert parents.index("Building") < parents.index("Structure")
    assert {match.label for match in lexicon.lookup("instrument")} == {"Musical Instrument"}


def test_every_override_line_has_a_reason_and_names_real_labels(taxonomy: Taxonomy) -> None:
    text = resources.files("pixlens.analysis.data").joinpath("lexicon_overrides.txt").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert lines
    for line in lines:
        kind, subject, objects, reason = (part.strip() for part in line.split("|"))
        assert kind in {"parent+", "parent-", "word+", "word-", "word="}
        assert len(reason.split()) >= 4, line
        for name in objects.split(";"):
            assert name.strip() in taxonomy, line
        if kind.startswith("parent"):
            assert subject in taxonomy, line


def test_the_lexicon_covers_all_of_wordnet_and_only_real_labels(taxonomy: Taxonomy) -> None:
    raw = resources.files("pixlens.analysis.data").joinpath("lexicon.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    assert set(data["labels"]) == set(taxonomy.names())
    assert len(data["words"]) > 40_000  # nouns that reach a label, their plurals and spellings
    for name in taxonomy.names():  # every label is found by its own name
        assert any(data["labels"][index] == name for index, _ in data["words"][normalize(name)])


def test_unknown_words_find_nothing_without_a_sentence_model() -> None:
    lexicon = Lexicon.load(nearest=None)
    assert lexicon.lookup("zzqxv") == []
    assert lexicon.lookup("") == []
    assert lexicon.lookup("   ") == []


def test_the_sentence_model_is_asked_only_for_words_wordnet_does_not_connect() -> None:
    asked: list[str] = []

    def nearest(word: str) -> list[tuple[str, float]]:
        asked.append(word)
        return [("Tabby Cat", 0.71), ("Tiger Cat", 0.7), ("Persian Cat", 0.69), ("Siamese Cat", 0.68), ("Lynx", 0.6)]

    lexicon = Lexicon.load(nearest=nearest)
    assert lexicon.lookup("dog")[0] == Match("Dog", 1.0, WORDNET)
    found = lexicon.lookup("Kitten")
    assert [match.label for match in found] == ["Tabby Cat", "Tiger Cat", "Persian Cat"]  # at most three
    assert all(match.via == MEANING for match in found)
    assert lexicon.lookup("kitten") == found  # cached: asked once
    assert asked == ["kitten"]


@pytest.fixture(scope="module")
def meanings() -> Lexicon:
    return Lexicon.with_meanings()


@pytest.mark.parametrize(
    ("word", "labels"),
    [("kitten", {"Cat"}), ("beach", {"Seashore"}), ("pet", {"Dog", "Cat"}), ("lake", {"Lakeside"})],
)
def test_the_sentence_model_maps_what_the_tree_does_not_connect(meanings: Lexicon, word: str, labels: set[str]) -> None:
    found = meanings.lookup(word)
    assert {match.label for match in found} == labels
    assert all(match.via == MEANING and 0.6 <= match.weight <= 1.0 for match in found)


def test_the_sentence_model_leaves_out_modified_names_groups_and_abstract_words(meanings: Lexicon) -> None:
    assert "Beach Wagon" not in {match.label for match in meanings.lookup("beach")}  # beach only qualifies it
    assert "Animal" not in {match.label for match in meanings.lookup("pet")}  # a top group of the taxonomy
    assert "Canine" not in {match.label for match in meanings.lookup("pet")}  # above Dog, which was chosen
    for word in ("happiness", "democracy", "tuesday", "xqzvk"):
        assert meanings.lookup(word) == [], word


def test_a_far_label_above_is_never_a_broad_one(lexicon: Lexicon) -> None:
    assert lexicon.lookup("deer") == []  # a deer is a mammal, but every mammal is no answer
    assert "Jersey" not in {match.label for match in lexicon.lookup("turtle")}  # untagged first sense: a sweater


def test_a_compound_typed_in_two_words_is_found(lexicon: Lexicon) -> None:
    assert {match.label for match in lexicon.lookup("gas mask")} == {"Gasmask"}  # WordNet writes "gasmask"
    assert lexicon.knows("tea pot")


def test_an_alias_weighs_as_the_sense_it_is(lexicon: Lexicon) -> None:
    crane = {match.label: match.weight for match in lexicon.lookup("crane")}
    assert set(crane) == {"Crane (Bird)", "Crane (Machine)"}
    assert all(weight < 1.0 for weight in crane.values())  # neither is the name; each a sense of "crane"
    assert {match.weight for match in lexicon.lookup("smartphone")} == {1.0}  # an alias WordNet does not give


@pytest.mark.parametrize(
    ("word", "labels"),
    [
        ("lorry", {"Truck"}),
        ("hob", {"Stove"}),
        ("cotton bud", {"Swab"}),
        ("nappies", {"Diaper"}),  # the plural of a British word
        ("people carrier", {"Minivan"}),
        ("petrol pump", {"Gas Pump"}),
        ("wheelie bin", {"Ashcan"}),
        ("sweetcorn", {"Corn"}),
        ("mum", {"Person"}),
        ("trainers", {"Running Shoe"}),
    ],
)
def test_a_british_word_finds_what_the_american_word_finds(
    lexicon: Lexicon, taxonomy: Taxonomy, word: str, labels: set[str]
) -> None:
    assert labels <= reached(lexicon, taxonomy, word)


def test_a_british_word_of_its_own_keeps_its_senses_and_gains_the_american_meaning(lexicon: Lexicon) -> None:
    jumper = {match.label: match.weight for match in lexicon.lookup("jumper")}
    assert jumper["Sweatshirt"] == 1.0  # a sweater, as strongly as "sweater" finds it (a rarer sense before)
    plaster = {match.label for match in lexicon.lookup("plaster")}
    assert "Band Aid" in plaster  # a sticking plaster
    chemist = {match.label for match in lexicon.lookup("chemist")}
    assert {"Person", "Shop"} <= chemist  # the scientist, and the chemist's shop
    coach = lexicon.lookup("coach")
    assert coach[0].label == "Bus"  # a coach is a bus before it is a railway carriage
    # a pair whose American word means more is left out: a jug is no baseball pitcher
    assert "Ballplayer" not in {match.label for match in lexicon.lookup("jug")}


def test_a_group_of_people_finds_person(lexicon: Lexicon) -> None:
    for word in ("crowd", "crowds", "audience", "family", "couple", "team", "choir", "gathering"):
        assert "Person" in {match.label for match in lexicon.lookup(word)}, word
    # not a place or body that happens to be a group, a line of descent, a social class, a word that is also an
    # adjective (the rich), nor a word whose commonest sense is no clear group of people (a hive, a swarm)
    for word in ("city", "parliament", "dynasty", "aristocracy", "rich", "dead", "hive", "swarm", "gridlock"):
        assert "Person" not in {match.label for match in lexicon.lookup(word)}, word


def test_photo_words_about_people_find_person(lexicon: Lexicon) -> None:
    for word in ("selfie", "selfies", "portrait", "wedding"):
        assert "Person" in {match.label for match in lexicon.lookup(word)}, word


def test_the_sentence_model_gives_a_wordnet_noun_only_labels_of_its_kind() -> None:
    def nearest(word: str) -> list[tuple[str, float]]:
        return {
            "yak": [("Yawl", 0.74), ("Ox", 0.62)],
            "pints": [("Pinwheel", 0.62)],
            "skiing": [("Skis", 0.8)],
            "doggo": [("Dog", 0.8)],
        }.get(word, [])

    lexicon = Lexicon.load(nearest=nearest)
    assert [match.label for match in lexicon.lookup("yak")] == ["Ox"]  # an animal: the boat is left out
    assert lexicon.lookup("pints") == []  # a measure (its singular, pint): no pinwheel
    assert [match.label for match in lexicon.lookup("skiing")] == ["Skis"]  # an act: found through its things
    assert [match.label for match in lexicon.lookup("doggo")] == ["Dog"]  # not in WordNet: the model decides


def test_the_kinds_of_a_word() -> None:
    kinds = Kinds({"Yawl": "artifact", "Ox": "animal", "Thing": ""}, {"animal communication": "donkey|yak"})
    assert kinds.of("yaks") == {"animal", "communication"}  # the plural as its singular
    assert kinds.of("ponies") is None  # not known
    assert not kinds.allows("yak", "Yawl")
    assert kinds.allows("yak", "Ox")
    assert kinds.allows("yak", "Thing")  # a label of no synset: no kind to hold against it
    assert kinds.allows("doggo", "Yawl")  # a word of no known kind
