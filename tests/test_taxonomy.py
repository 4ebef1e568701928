"""Tests for the bundled label taxonomy (pixlens.analysis.taxonomy)."""

from __future__ import annotations

import re

import pytest

from pixlens.analysis.taxonomy import LabelInfo, Taxonomy, normalize

COCO_ANIMALS = ["Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Elephant", "Bear", "Zebra", "Giraffe"]
COCO_FOOD = [
    "Banana",
    "Apple",
    "Sandwich",
    "Orange",
    "Broccoli",
    "Carrot",
    "Hot Dog",
    "Pizza",
    "Donut",
    "Cake",
]
COCO_VEHICLES = ["Car", "Bus", "Truck", "Bicycle", "Motorcycle", "Airplane", "Train", "Boat"]
SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
MIXED_CASE_WORDS = {"iPod"}  # brand spellings kept as they are


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return Taxonomy.load()


def test_load_is_cached_and_versioned(tax: Taxonomy) -> None:
    assert Taxonomy.load() is tax
    assert re.fullmatch(r"wordnet3\.0-[0-9a-f]{10}", tax.version)


def test_every_model_class_maps_to_a_label(tax: Taxonomy) -> None:
    imagenet = [tax.imagenet_label(i) for i in range(1000)]
    coco = [tax.coco_label(i) for i in range(80)]
    assert all(name in tax for name in imagenet + coco)
    assert len(set(imagenet)) == 1000
    assert len(set(coco)) == 80
    with pytest.raises(IndexError):
        tax.imagenet_label(1000)
    with pytest.raises(IndexError):
        tax.coco_label(-1)


def test_coco_names_are_natural(tax: Taxonomy) -> None:
    coco = [tax.coco_label(i) for i in range(80)]
    assert coco[:12] == [
        "Person",
        "Bicycle",
        "Car",
        "Motorcycle",
        "Airplane",
        "Bus",
        "Train",
        "Truck",
        "Boat",
        "Traffic Light",
        "Fire Hydrant",
        "Stop Sign",
    ]
    for name in ["Dining Table", "Cell Phone", "Potted Plant", "Teddy Bear", "Hair Drier", "Sports Ball"]:
        assert name in coco
    assert tax.coco_label(62) == "Television"


def test_shared_synsets_are_one_label(tax: Taxonomy) -> None:
    assert tax.imagenet_label(487) == tax.coco_label(67) == "Cell Phone"
    assert tax.imagenet_label(508) == tax.coco_label(66) == "Keyboard"
    assert tax.imagenet_label(954) == tax.coco_label(46) == "Banana"


def test_names_unique_and_title_case(tax: Taxonomy) -> None:
    names = tax.names()
    assert len({n.lower() for n in names}) == len(names)
    for name in names:
        base = name.split(" (")[0]
        for i, word in enumerate(re.split(r"[ \-]", base)):
            if word in MIXED_CASE_WORDS or (i > 0 and word in SMALL_WORDS):
                continue
            assert word[:1].isupper() or not word[:1].isalpha(), name


def test_homonyms_are_disambiguated(tax: Taxonomy) -> None:
    assert tax.imagenet_label(134) != tax.imagenet_label(517)  # crane (bird), crane (machine)
    assert tax.imagenet_label(638) != tax.imagenet_label(639)  # the two maillots
    assert tax.imagenet_label(281) == "Tabby Cat"


def test_parents_are_labels_without_cycles(tax: Taxonomy) -> None:
    for name in tax.names():
        info = tax.info(name)
        assert isinstance(info, LabelInfo)
        assert info.name == name
        assert name not in info.parents
        assert len(set(info.parents)) == len(info.parents)
        for parent in info.parents:
            assert parent in tax, (name, parent)
            # Transitively closed, so no cycles: a parent's parents are ours too,
            # and we are not among them.
            assert set(tax.info(parent).parents) <= set(info.parents), (name, parent)
            assert name not in tax.info(parent).parents


def test_parents_nearest_first(tax: Taxonomy) -> None:
    parents = tax.info(tax.imagenet_label(281)).parents
    assert "Cat" in parents
    assert "Animal" in parents
    assert parents.index("Cat") < parents.index("Animal")
    dog = tax.info("Dog").parents
    assert dog[0] == "Canine"
    assert dog.index("Mammal") < dog.index("Animal")
    assert 1 <= len(dog) <= 6


def test_info_unknown_raises(tax: Taxonomy) -> None:
    with pytest.raises(KeyError):
        tax.info("No Such Label")
    assert "No Such Label" not in tax
    assert 42 not in tax


def test_every_label_has_a_category(tax: Taxonomy) -> None:
    for name in tax.names():
        assert tax.info(name).categories, name
    assert "Animals and Pets" in tax.info("Dog").categories
    assert "Vehicles and Automotive" in tax.info("Car").categories
    assert "Food and Beverage" in tax.info("Pizza").categories
    assert "Person Description" in tax.info("Person").categories


def test_aliases(tax: Taxonomy) -> None:
    car = tax.info("Car").aliases
    assert {"Automobile", "Auto", "Motorcar"} <= set(car)
    assert "Human" in tax.info("Person").aliases
    assert "Mobile Phone" in tax.info("Cell Phone").aliases
    names = {n.lower() for n in tax.names()}
    for name in tax.names():
        aliases = tax.info(name).aliases
        assert len({a.lower() for a in aliases}) == len(aliases), name
        assert not names & {a.lower() for a in aliases}, name


@pytest.mark.parametrize(
    ("word", "label"),
    [
        ("cars", "Car"),
        ("automobile", "Car"),
        ("Automobiles", "Car"),
        ("CAR", "Car"),
        ("people", "Person"),
        ("men", "Person"),
        ("children", "Person"),
        ("buses", "Bus"),
        ("knives", "Knife"),
        ("mice", "Mouse"),
        ("puppy", "Dog"),
        ("kitty", "Cat"),
        ("teddy bears", "Teddy Bear"),
        ("hot dog", "Hot Dog"),
        ("hotdogs", "Hot Dog"),
        ("  Hot   Dogs ", "Hot Dog"),
        ("tv", "Television"),
        ("cellphone", "Cell Phone"),
        ("sofa", "Couch"),
        ("geese", "Goose"),
        ("tabby", "Tabby Cat"),
    ],
)
def test_resolve(tax: Taxonomy, word: str, label: str) -> None:
    assert label in tax.resolve(word)


def test_resolve_unknown_and_ambiguous(tax: Taxonomy) -> None:
    assert tax.resolve("flibbertigibbet") == frozenset()
    assert tax.resolve("") == frozenset()
    assert tax.resolve("crane") == {"Crane (Bird)", "Crane (Machine)"}


def test_every_name_and_alias_resolves_to_its_label(tax: Taxonomy) -> None:
    for name in tax.names():
        assert name in tax.resolve(name)
        for alias in tax.info(name).aliases:
            assert name in tax.resolve(alias), (name, alias)


def test_descendants(tax: Taxonomy) -> None:
    assert "Car" in tax.descendants("Vehicle")
    assert "Vehicle" not in tax.descendants("Vehicle")
    assert tax.descendants("Tabby Cat") == frozenset()
    assert tax.descendants("No Such Label") == frozenset()
    for name in ["Animal", "Food", "Vehicle"]:
        for child in tax.descendants(name):
            assert name in tax.info(child).parents


def test_expand_vehicle(tax: Taxonomy) -> None:
    found = tax.expand("vehicle")
    assert set(COCO_VEHICLES) <= found
    assert "Vehicle" in found
    assert "Dog" not in found
    assert tax.expand("vehicles") == found


def test_expand_animal(tax: Taxonomy) -> None:
    found = tax.expand("animals")
    assert set(COCO_ANIMALS) <= found
    assert tax.imagenet_label(281) in found
    assert "Person" not in found
    assert "Teddy Bear" not in found


def test_expand_food(tax: Taxonomy) -> None:
    found = tax.expand("food")
    assert set(COCO_FOOD) <= found
    assert "Knife" not in found


def test_expand_dog_covers_breeds(tax: Taxonomy) -> None:
    found = tax.expand("dogs")
    assert "Dog" in found
    assert tax.imagenet_label(207) in found  # golden retriever
    assert "Cat" not in found


def test_normalize() -> None:
    assert normalize("  Teddy_Bear ") == "teddy bear"
    assert normalize("T-Shirt") == "t shirt"
    assert normalize("Potter's Wheel") == "potters wheel"
