#!/usr/bin/env python3
"""Build ``src/pixlens/analysis/data/taxonomy.json`` from WordNet 3.0.

Run by hand, from the repository root, whenever the model class lists or the
rules below change, and commit the regenerated JSON::

    scripts/install-wordnet.sh           # as root; Debian's wordnet-base: /usr/share/wordnet
    python3 scripts/build_taxonomy.py    # --wordnet DIR / --out FILE to override

Only the standard library is used, and the WordNet data files are parsed
directly (``data.noun``, ``index.noun``, ``noun.exc``). The output is
deterministic: the same inputs give the same bytes.

Inputs
    * ``src/pixlens/models/imagenet1k_classes.csv`` (index,wnid,name): a wnid
      ``n02123045`` is the WordNet 3.0 noun synset at offset ``02123045``.
    * ``src/pixlens/models/coco80_classes.txt``: mapped by hand (``COCO`` below)
      to WordNet synsets; every mapping names a lemma the synset must contain, so
      a wrong offset fails the build. A COCO class equal to an ImageNet synset
      is one label. "stop sign" has no synset: it becomes a new label below
      "Street Sign".

Parents
    Every hypernym is followed (``@`` and ``@i``, not only the first), so the
    ancestors of a synset form a small DAG (Dog is both a Canine and a Domestic
    Animal; Banana is Fruit and so Food). A few synsets that WordNet splits but
    a person would not are merged first (``MERGE``: "solid food" is "food").
    Which ancestors become labels is decided once for the whole taxonomy, not
    per chain, so the parent lists are transitively closed: if Cat is a parent
    of Tabby Cat then every parent of Cat is a parent of Tabby Cat too. An
    ancestor is kept when it is a model label itself, or is in ``ALLOW``
    (curated: Animal, Vehicle, Food, Furniture...), or groups at least
    ``MIN_LEAVES`` model labels and is neither in ``STOP`` (abstract or
    technical nodes: entity, whole, artifact, placental, chordate...) nor too
    close to WordNet's root (``MIN_DEPTH``). Parents are ordered nearest first
    (shortest hypernym distance, ties by synset offset).

Names
    ``NAME_OVERRIDES`` (COCO names and a few fixes) win. Otherwise the first
    lemma, underscores to spaces, in Title Case (words that already have a
    capital, like "CD" or "iPod", are kept as they are), except that a
    polysemous first lemma gives way to a monosemous lemma of the same synset
    that contains it ("tabby" -> "Tabby Cat"). Where two synsets still get the
    same name, each one that has a monosemous alternative lemma takes it; the
    rest are suffixed with the name of their nearest kept ancestor that differs
    from the name ("Crane (Wading Bird)", "Crane (Lifting Device)").

Aliases and search words
    Aliases are the other lemmas of the synset (Latin binomials such as "Canis
    familiaris" and plural forms of the name dropped), plus ``EXTRA_ALIASES``,
    never equal to another label's name. The search index also has the lemmas
    of the direct hyponyms of every model label that are not labels themselves
    ("puppy" -> Dog, "sedan" -> Car), and the plural of every word: regular
    English rules plus the irregular plurals of ``noun.exc`` ("knives", "mice").
    Keys are normalised like ``pixlens.analysis.taxonomy.normalize``.

Categories
    A small fixed set, assigned by ``CATEGORY_RULES``: a label gets every
    category whose synset is the label itself or one of its ancestors (all of
    them, kept or not). Rules in ``FALLBACK_RULES`` apply only when nothing else
    matched, and "Everyday Objects" is the last resort.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGENET_CSV = ROOT / "src/pixlens/models/imagenet1k_classes.csv"
COCO_TXT = ROOT / "src/pixlens/models/coco80_classes.txt"
OUT_JSON = ROOT / "src/pixlens/analysis/data/taxonomy.json"
OVERRIDES = ROOT / "src/pixlens/analysis/data/lexicon_overrides.txt"
OVERRIDE_KINDS = ("parent+", "parent-", "word+", "word-", "word=")

MIN_LEAVES = 6  # an unlisted ancestor must group at least this many model labels
MIN_DEPTH = 6  # ... and lie at least this deep below "entity" (depth 0)

# COCO class -> (WordNet 3.0 noun offset, a lemma that synset must have).
# An offset prefixed with "+" means: no synset; a new label under that synset.
COCO: dict[str, tuple[str, str]] = {
    "person": ("00007846", "person"),
    "bicycle": ("02834778", "bicycle"),
    "car": ("02958343", "car"),
    "motorcycle": ("03790512", "motorcycle"),
    "airplane": ("02691156", "airplane"),
    "bus": ("02924116", "bus"),
    "train": ("04468005", "train"),
    "truck": ("04490091", "truck"),
    "boat": ("02858304", "boat"),
    "traffic light": ("06874185", "traffic_light"),
    "fire hydrant": ("03346898", "fire_hydrant"),
    "stop sign": ("+06794110", "street_sign"),
    "parking meter": ("03891332", "parking_meter"),
    "bench": ("02828884", "bench"),
    "bird": ("01503061", "bird"),
    "cat": ("02121808", "domestic_cat"),  # the pets; ImageNet's tabby etc. are below it
    "dog": ("02084071", "dog"),
    "horse": ("02374451", "horse"),
    "sheep": ("02411705", "sheep"),
    "cow": ("02402425", "cattle"),  # cattle in general; ImageNet's "ox" is below it
    "elephant": ("02503517", "elephant"),
    "bear": ("02131653", "bear"),
    "zebra": ("02391049", "zebra"),
    "giraffe": ("02439033", "giraffe"),
    "backpack": ("02769748", "backpack"),
    "umbrella": ("04507155", "umbrella"),
    "handbag": ("02774152", "handbag"),
    "tie": ("03815615", "necktie"),
    "suitcase": ("02773838", "suitcase"),
    "frisbee": ("03397947", "Frisbee"),
    "skis": ("04228054", "ski"),
    "snowboard": ("04251791", "snowboard"),
    "sports ball": ("02778669", "ball"),  # "round object that is hit or thrown or kicked in games"
    "kite": ("03621473", "kite"),
    "baseball bat": ("02799175", "baseball_bat"),
    "baseball glove": ("02800213", "baseball_glove"),
    "skateboard": ("04225987", "skateboard"),
    "surfboard": ("04363559", "surfboard"),
    "tennis racket": ("04409806", "tennis_racket"),
    "bottle": ("02876657", "bottle"),
    "wine glass": ("04592099", "wineglass"),
    "cup": ("03147509", "cup"),  # the container (ImageNet's "cup" is the drink)
    "fork": ("03383948", "fork"),
    "knife": ("03623556", "knife"),
    "spoon": ("04284002", "spoon"),
    "bowl": ("02881193", "bowl"),
    "banana": ("07753592", "banana"),
    "apple": ("07739125", "apple"),
    "sandwich": ("07695965", "sandwich"),
    "orange": ("07747607", "orange"),
    "broccoli": ("07714990", "broccoli"),
    "carrot": ("07730207", "carrot"),
    "hot dog": ("07697537", "hot_dog"),
    "pizza": ("07873807", "pizza"),
    "donut": ("07639069", "donut"),
    "cake": ("07628870", "cake"),
    "chair": ("03001627", "chair"),
    "couch": ("04256520", "couch"),
    "potted plant": ("11536230", "pot_plant"),
    "bed": ("02818832", "bed"),
    "dining table": ("03201208", "dining_table"),
    "toilet": ("04446521", "toilet"),  # the fixture, not the room
    "tv": ("04405907", "television_receiver"),
    "laptop": ("03642806", "laptop"),
    "mouse": ("03793489", "computer_mouse"),
    "remote": ("04074963", "remote_control"),
    "keyboard": ("03085013", "computer_keyboard"),
    "cell phone": ("02992529", "cellular_telephone"),
    "microwave": ("03761084", "microwave_oven"),
    "oven": ("03862676", "oven"),
    "toaster": ("04442312", "toaster"),
    "sink": ("04223580", "sink"),
    "refrigerator": ("04070727", "refrigerator"),
    "book": ("02870092", "book"),  # the physical object
    "clock": ("03046257", "clock"),
    "vase": ("04522168", "vase"),
    "scissors": ("04148054", "scissors"),
    "teddy bear": ("04399382", "teddy_bear"),
    "hair drier": ("03483316", "hair_drier"),
    "toothbrush": ("04453156", "toothbrush"),
}

# Synsets treated as one (from -> into) before anything else.
MERGE: dict[str, tuple[str, str]] = {
    "07555863": ("00021265", "food"),  # "food, solid food" -> "food, nutrient"
}

# Label names that win over the automatic ones (offset -> name). COCO names
# are added from COCO (Title Case) unless listed here.
NAME_OVERRIDES: dict[str, str] = {
    "04405907": "Television",
    "04074963": "Remote Control",
    "00021265": "Food",
    "07705931": "Fruit",  # edible fruit
    "07707451": "Vegetable",
    "00015388": "Animal",
    "03405725": "Furniture",
    "04530566": "Watercraft",  # vessel, watercraft
    "04565375": "Weapon",  # weapon, arm, weapon system
    "03082979": "Computer",
    "03964744": "Toy",  # plaything, toy
    "00017222": "Plant",  # plant, flora, plant life
    "01627424": "Amphibian",
    "02087551": "Hound",
    "03126707": "Crane (Machine)",
    "02012849": "Crane (Bird)",
    "04243546": "Slot Machine",  # slot, one-armed bandit
    "03710637": "Maillot (Tights)",
    "07930864": "Cup (Drink)",
    "04401088": "Telephone",  # not "Telephone Set"
}

# Ancestors always kept as labels (offset -> a lemma it must have).
ALLOW: dict[str, str] = {
    "00015388": "animal",
    "01861778": "mammal",
    "01503061": "bird",
    "02512053": "fish",
    "01661091": "reptile",
    "01627424": "amphibian",
    "02159955": "insect",
    "01767661": "arthropod",
    "01317541": "domestic_animal",
    "02120997": "feline",
    "02083346": "canine",
    "02484322": "monkey",
    "01726692": "snake",
    "01674464": "lizard",
    "01662784": "turtle",
    "01482330": "shark",
    "01974773": "crustacean",
    "01772222": "spider",
    "02164464": "beetle",
    "02274259": "butterfly",
    "01940736": "mollusk",
    "00007846": "person",
    "04524313": "vehicle",
    "03791235": "motor_vehicle",
    "02686568": "aircraft",
    "04530566": "vessel",
    "00021265": "food",
    "07881800": "beverage",
    "07705931": "edible_fruit",
    "07707451": "vegetable",
    "07557434": "dish",
    "07622061": "baked_goods",
    "00017222": "plant",
    "12992868": "fungus",
    "03405725": "furniture",
    "04161981": "seat",
    "03528263": "home_appliance",
    "03620052": "kitchen_appliance",
    "03277771": "electronic_device",
    "03082979": "computer",
    "03800933": "musical_instrument",
    "03051540": "clothing",
    "04451818": "tool",
    "03699975": "machine",
    "02913152": "building",
    "04341686": "structure",
    "09287968": "geological_formation",
    "03094503": "container",
    "03964744": "toy",
    "04285146": "sports_equipment",
    "04565375": "weapon",
    "03183080": "device",
    "03153375": "cutlery",
    "04381994": "tableware",
    "04401088": "telephone",
}

# Ancestors never kept unless they are model labels or in ALLOW: abstract,
# technical or odd groupings (offset -> the name it would get, for reading).
STOP: dict[str, str] = {
    "01466257": "Chordate",
    "01471682": "Vertebrate",
    "01886756": "Placental",
    "02075296": "Carnivore",
    "03100490": "Conveyance",
    "03093574": "Consumer Goods",
    "01905661": "Invertebrate",
    "03294048": "Equipment",
    "03563967": "Implement",
    "04576211": "Wheeled Vehicle",
    "04170037": "Self-Propelled Vehicle",
    "01661818": "Diapsid",
    "03405265": "Furnishing",
    "03574816": "Instrument",
    "03419014": "Garment",
    "04014297": "Protective Covering",
    "04531098": "Vessel (Container)",
    "01844917": "Aquatic Bird",
    "03125870": "Craft",
    "02370806": "Ungulate",
    "02394477": "Even-Toed Ungulate",
    "02399000": "Ruminant",
    "02401031": "Bovid",
    "13134947": "Fruit (Reproductive Structure)",
    "13087625": "Plant Organ",
    "11675842": "Reproductive Structure",
    "03257877": "Durables",
    "03414162": "Game Equipment",
    "03738472": "Mechanism",
    "01525720": "Oscine",
    "01524359": "Passerine",
    "04081844": "Restraint",
    "01674216": "Saurian",
    "02514825": "Bony Fish",
    "02528163": "Teleost Fish",
    "03297735": "Establishment",
    "03748162": "Mercantile Establishment",
    "03953020": "Place Of Business",
    "03839993": "Obstruction",
    "01727646": "Colubrid Snake",
    "03736970": "Mechanical Device",
    "01976146": "Decapod Crustacean",
    "03323703": "Fastener",
    "02121620": "True Cat",
    "01789386": "Gallinaceous Bird",
    "02152991": "Game",
    "02153203": "Game Bird",
    "02441326": "Musteline Mammal",
    "02484473": "Old World Monkey",
    "02489589": "New World Monkey",
    "04516672": "Utensil",
    "04550840": "Ware",
    "03154073": "Cutter",
    "03154446": "Cutting Implement",
    "03265032": "Edge Tool",
    "02274024": "Lepidopterous Insect",
    "04317420": "Stick",
    "02098550": "Sporting Dog",
    "01473806": "Aquatic Vertebrate",
}

# Hypernym links ignored (synset -> hypernym): a wheeled vehicle is no container.
CUT: set[tuple[str, str]] = {
    ("04576211", "03094503"),
}
# Hypernym links added (synset -> hypernym): buses and trains are vehicles.
ADD: set[tuple[str, str]] = {
    ("04019101", "04524313"),  # public transport -> vehicle
}

CATEGORIES = (
    "Animals and Pets",
    "Apparel and Accessories",
    "Buildings and Architecture",
    "Everyday Objects",
    "Food and Beverage",
    "Hobbies and Interests",
    "Home and Indoors",
    "Nature and Outdoors",
    "Person Description",
    "Plants and Flowers",
    "Sports",
    "Technology and Computing",
    "Tools and Machinery",
    "Transport and Logistics",
    "Vehicles and Automotive",
    "Weapons and Military",
)

# (offset, lemma it must have, category): applies to the synset and everything below it.
CATEGORY_RULES: list[tuple[str, str, str]] = [
    ("00015388", "animal", "Animals and Pets"),
    ("00007846", "person", "Person Description"),
    ("04524313", "vehicle", "Vehicles and Automotive"),
    ("00021265", "food", "Food and Beverage"),
    ("07881800", "beverage", "Food and Beverage"),
    ("00017222", "plant", "Plants and Flowers"),
    ("12992868", "fungus", "Plants and Flowers"),
    ("03405725", "furniture", "Home and Indoors"),
    ("03528263", "home_appliance", "Home and Indoors"),
    ("04381994", "tableware", "Home and Indoors"),
    ("03621049", "kitchen_utensil", "Home and Indoors"),
    ("03277771", "electronic_device", "Technology and Computing"),
    ("03082979", "computer", "Technology and Computing"),
    ("04285146", "sports_equipment", "Sports"),
    ("03051540", "clothing", "Apparel and Accessories"),
    ("03597469", "jewelry", "Apparel and Accessories"),
    ("04451818", "tool", "Tools and Machinery"),
    ("03699975", "machine", "Tools and Machinery"),
    ("02913152", "building", "Buildings and Architecture"),
    ("04341686", "structure", "Buildings and Architecture"),
    ("09287968", "geological_formation", "Nature and Outdoors"),
    ("03278248", "electronic_equipment", "Technology and Computing"),
    ("04074963", "remote_control", "Technology and Computing"),
    ("04285622", "sports_implement", "Sports"),
    ("03414162", "game_equipment", "Sports"),
    ("04251791", "snowboard", "Sports"),
    ("04363559", "surfboard", "Sports"),
    ("04225987", "skateboard", "Sports"),
    ("04228054", "ski", "Sports"),
    ("03397947", "Frisbee", "Sports"),
    ("03964744", "toy", "Hobbies and Interests"),
    ("03800933", "musical_instrument", "Hobbies and Interests"),
    ("04565375", "weapon", "Weapons and Military"),
    ("06874185", "traffic_light", "Transport and Logistics"),
    ("06794110", "street_sign", "Transport and Logistics"),
    ("03891332", "parking_meter", "Transport and Logistics"),
    ("03969259", "plumbing_fixture", "Home and Indoors"),
    ("03623556", "knife", "Home and Indoors"),
    ("02773037", "bag", "Apparel and Accessories"),
]
FALLBACK_RULES: list[tuple[str, str, str]] = [
    ("03183080", "device", "Tools and Machinery"),
]

# Extra aliases (label name -> aliases), for words WordNet puts elsewhere.
EXTRA_ALIASES: dict[str, tuple[str, ...]] = {
    "Person": ("Human", "Human Being", "People", "Man", "Woman", "Child", "Kid", "Boy", "Girl", "Adult"),
    "Cell Phone": ("Mobile", "Smartphone"),
    "Television": ("TV", "Television Set"),
}


# --------------------------------------------------------------------------- WordNet


@dataclass
class Synset:
    offset: str
    lexfile: int
    lemmas: list[str]
    hypernyms: list[str]
    hyponyms: list[str] = field(default_factory=list)


@dataclass
class WordNet:
    synsets: dict[str, Synset]
    senses: dict[str, list[str]]  # lemma (lower case) -> offsets, most frequent sense first
    exceptions: dict[str, list[str]]  # singular -> irregular plurals (from noun.exc)

    def synset(self, offset: str, lemma: str) -> Synset:
        ss = self.synsets.get(offset)
        if ss is None or lemma.lower() not in [x.lower() for x in ss.lemmas]:
            raise SystemExit(f"WordNet check failed: {offset} has no lemma {lemma!r}")
        return ss


def load_wordnet(wn_dir: Path) -> WordNet:
    synsets: dict[str, Synset] = {}
    for line in (wn_dir / "data.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue  # licence header
        fields = line.split(" | ", 1)[0].split()
        n_words = int(fields[3], 16)
        lemmas = [re.sub(r"\([a-z]+\)$", "", w) for w in fields[4 : 4 + 2 * n_words : 2]]
        n_ptrs = int(fields[4 + 2 * n_words])
        ptrs = fields[5 + 2 * n_words : 5 + 2 * n_words + 4 * n_ptrs]
        hyper = [ptrs[i + 1] for i in range(0, len(ptrs), 4) if ptrs[i] in ("@", "@i") and ptrs[i + 2] == "n"]
        hypo = [ptrs[i + 1] for i in range(0, len(ptrs), 4) if ptrs[i] in ("~", "~i") and ptrs[i + 2] == "n"]
        synsets[fields[0]] = Synset(fields[0], int(fields[1]), lemmas, hyper, hypo)
    senses: dict[str, list[str]] = {}
    for line in (wn_dir / "index.noun").read_text(encoding="utf-8").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        senses[fields[0]] = fields[-int(fields[2]) :]
    exceptions: dict[str, list[str]] = defaultdict(list)
    for line in (wn_dir / "noun.exc").read_text(encoding="utf-8").splitlines():
        plural, *singulars = line.split()
        for singular in singulars:
            exceptions[singular].append(plural)
    return WordNet(synsets, senses, dict(exceptions))


# --------------------------------------------------------------------------- text helpers


def normalize(text: str) -> str:
    """Search-key form; must match ``pixlens.analysis.taxonomy.normalize``."""
    text = text.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"[.'’]", "", text)
    return " ".join(text.split())


ACRONYMS = {"tv", "crt", "cd", "dvd", "lcd", "pc", "atm", "uk", "us"}
SMALL_WORDS = {"a", "an", "and", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}


def title_case(lemma: str) -> str:
    """'pair_of_scissors' -> 'Pair of Scissors'; 'tv' -> 'TV'; 'iPod' stays."""
    parts = re.split(r"([ \-])", lemma.replace("_", " "))
    out = []
    for i, w in enumerate(parts):
        if w != w.lower():
            out.append(w)
        elif w in ACRONYMS:
            out.append(w.upper())
        elif w in SMALL_WORDS and i > 0:
            out.append(w)
        else:
            out.append(w[:1].upper() + w[1:])
    return "".join(out)


_ES = re.compile(r"(s|x|z|ch|sh)$")


def regular_plural(word: str) -> str:
    if _ES.search(word):
        return word + "es"
    if re.search(r"[^aeiou]y$", word):
        return word[:-1] + "ies"
    return word + "s"


# Irregular plurals that WordNet 3.0's noun.exc lacks.
COMMON_IRREGULAR = {"woman": ["women"], "man": ["men"], "child": ["children"], "tooth": ["teeth"], "foot": ["feet"]}


def plurals(phrase: str, wn: WordNet) -> set[str]:
    """Plural forms of a (normalised) phrase: its last word inflected."""
    *head, last = phrase.split(" ")
    # The regular form is added even where noun.exc knows an irregular one:
    # "knifes" or "mouses" harm no search.
    forms = {regular_plural(last), *wn.exceptions.get(last, []), *COMMON_IRREGULAR.get(last, [])}
    return {" ".join([*head, form]) for form in forms}


def is_binomial(lemma: str, wn: WordNet) -> bool:
    """Latin species names like Canis_familiaris (the genus has a 'genus_X' synset)."""
    first = lemma.split("_")[0]
    return first[:1].isupper() and "_" in lemma and f"genus_{first.lower()}" in wn.senses


def n_senses(lemma: str, wn: WordNet) -> int:
    return len(wn.senses.get(lemma.lower(), []))


# --------------------------------------------------------------------------- build


@dataclass
class Node:
    key: str  # synset offset, or "+name" for a label without a synset
    lemmas: list[str]
    hypernyms: list[str]


def canon(off: str) -> str:
    return MERGE[off][0] if off in MERGE else off


def hypernym_graph(wn: WordNet) -> dict[str, Node]:
    """Every noun synset with its hypernyms, after ``CUT``, ``ADD`` and ``MERGE``."""
    nodes: dict[str, Node] = {
        off: Node(off, ss.lemmas, [canon(h) for h in ss.hypernyms if (off, h) not in CUT])
        for off, ss in wn.synsets.items()
    }
    for off, hyper in sorted(ADD):
        nodes[off].hypernyms.append(hyper)
    for off, (into, _) in MERGE.items():
        extra = [h for h in nodes[off].hypernyms if h not in nodes[into].hypernyms and h != into]
        nodes[into].hypernyms.extend(extra)
        nodes[into].lemmas.extend(lem for lem in nodes[off].lemmas if lem not in nodes[into].lemmas)
    return nodes


def build(wn: WordNet, overrides: list[Override] | None = None) -> dict[str, object]:
    for into, lemma in MERGE.values():
        wn.synset(into, lemma)
    for off, lemma in ALLOW.items():
        wn.synset(off, lemma)
    for off in [*STOP, *NAME_OVERRIDES, *(x for edge in CUT | ADD for x in edge)]:
        assert off in wn.synsets, f"unknown synset {off}"
    nodes = hypernym_graph(wn)

    # Model labels.
    imagenet: list[str] = []
    with IMAGENET_CSV.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            assert int(row["index"]) == len(imagenet), row
            imagenet.append(canon(row["wnid"][1:]))
    coco: list[str] = []
    names_override = dict(NAME_OVERRIDES)
    coco_names = [line.strip() for line in COCO_TXT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(coco_names) == 80 and set(coco_names) == set(COCO), "COCO mapping out of date"
    for coco_name in coco_names:
        off, lemma = COCO[coco_name]
        if off.startswith("+"):
            parent = wn.synset(off[1:], lemma).offset
            key = "+" + coco_name
            nodes[key] = Node(key, [coco_name.replace(" ", "_")], [parent])
        else:
            key = canon(wn.synset(off, lemma).offset)
        coco.append(key)
        names_override.setdefault(key, title_case(coco_name))
    leaves = set(imagenet) | set(coco)

    # Ancestors with their hypernym distance (all hypernyms followed).
    def ancestors(key: str) -> dict[str, int]:
        dist: dict[str, int] = {}
        frontier, d = [key], 0
        while frontier:
            d += 1
            nxt = []
            for k in frontier:
                for h in nodes[k].hypernyms:
                    if h not in dist:
                        dist[h] = d
                        nxt.append(h)
            frontier = nxt
        return dist

    depth: dict[str, int] = {}

    def min_depth(key: str) -> int:
        if key not in depth:
            hs = nodes[key].hypernyms
            depth[key] = 0 if not hs else 1 + min(min_depth(h) for h in hs)
        return depth[key]

    anc = {leaf: ancestors(leaf) for leaf in sorted(leaves)}
    groups: dict[str, int] = defaultdict(int)
    for dist in anc.values():
        for a in dist:
            groups[a] += 1
    kept = set(leaves) | set(ALLOW)
    for a, count in groups.items():
        if count >= MIN_LEAVES and a not in STOP and min_depth(a) >= MIN_DEPTH:
            kept.add(a)
    # Every kept node also needs its own ancestors computed.
    for k in sorted(kept - set(anc)):
        anc[k] = ancestors(k)
    # Nearest first: a parent with more kept ancestors of its own is more
    # specific (Canine before Mammal before Animal); ties by distance, offset.
    kept_anc = {k: [a for a in anc[k] if a in kept] for k in kept}
    parents = {k: sorted(kept_anc[k], key=lambda a: (-len(kept_anc[a]), anc[k][a], a)) for k in sorted(kept)}

    # Names.
    def auto_name(key: str) -> str:
        if key in names_override:
            return names_override[key]
        lemmas = [lem for lem in nodes[key].lemmas if not is_binomial(lem, wn)] or nodes[key].lemmas
        first = lemmas[0]
        if n_senses(first, wn) > 1:
            for lem in lemmas[1:]:
                if n_senses(lem, wn) == 1 and first.lower() in lem.lower().split("_"):
                    return title_case(lem)
        return title_case(first)

    name = {k: auto_name(k) for k in sorted(kept)}
    for _ in range(3):
        by_name: dict[str, list[str]] = defaultdict(list)
        for k, n in name.items():
            by_name[n.lower()].append(k)
        clashes = [ks for ks in by_name.values() if len(ks) > 1]
        if not clashes:
            break
        for ks in clashes:
            for k in ks:
                if k in names_override:
                    continue
                taken = {n.lower() for n in name.values()}
                alt = [
                    lem
                    for lem in nodes[k].lemmas
                    if n_senses(lem, wn) == 1 and not is_binomial(lem, wn) and title_case(lem).lower() not in taken
                ]
                if alt:
                    name[k] = title_case(alt[0])
                    continue
                base = name[k]
                for p in parents[k]:
                    if name[p].lower() != base.lower():
                        name[k] = f"{base} ({name[p]})"
                        break
    assert len({n.lower() for n in name.values()}) == len(name), "label names are not unique"

    # Categories.
    def categories(key: str) -> list[str]:
        scope = {key, *anc[key]}
        cats = {cat for off, _, cat in CATEGORY_RULES if off in scope}
        if not cats:
            cats = {cat for off, _, cat in FALLBACK_RULES if off in scope}
        return sorted(cats) or ["Everyday Objects"]

    for off, lemma, cat in CATEGORY_RULES + FALLBACK_RULES:
        wn.synset(off, lemma)
        assert cat in CATEGORIES, cat

    # Aliases and the search index.
    all_names = {n.lower() for n in name.values()}
    index: dict[str, set[str]] = defaultdict(set)

    def add_key(word: str, label: str) -> None:
        key = normalize(word)
        index[key].add(label)
        for form in plurals(key, wn):
            index[form].add(label)

    labels: dict[str, dict[str, object]] = {}
    for k in sorted(kept):
        n = name[k]
        own = {normalize(n), *plurals(normalize(n), wn)}
        aliases: list[str] = []
        # A synonym is an alias only where this synset is one of its two
        # commonest senses ("automobile" yes; "wheel" for Bicycle, "can" for
        # Toilet no), or where it is the name without its "(...)" suffix.
        base = n.split(" (")[0].lower()
        candidates = [
            title_case(lem)
            for lem in nodes[k].lemmas
            if not is_binomial(lem, wn)
            and (k in wn.senses.get(lem.lower(), [k])[:2] or title_case(lem).lower() == base)
        ]
        candidates += EXTRA_ALIASES.get(n, ())
        for alias in candidates:
            low = alias.lower()
            if normalize(alias) in own or (low in all_names and low != n.lower()):
                continue
            if low not in {a.lower() for a in aliases} and low != n.lower():
                aliases.append(alias)
        add_key(n, n)
        for alias in aliases:
            add_key(alias, n)
        labels[n] = {
            "wnid": "" if k.startswith("+") else "n" + k,
            "parents": [name[p] for p in parents[k]],
            "aliases": aliases,
            "categories": categories(k),
        }
    # Narrower words: lemmas of non-label direct hyponyms of model labels.
    taken_keys = set(index)
    for k in sorted(leaves):
        if k.startswith("+") or name[k] == "Person":
            continue
        for h in wn.synsets[k].hyponyms:
            if h in kept:
                continue
            for lem in wn.synsets[h].lemmas:
                if not is_binomial(lem, wn) and normalize(lem) not in taken_keys:
                    add_key(lem, name[k])

    apply_parent_overrides(labels, overrides or [])
    return {
        "source": "WordNet 3.0",
        "categories": list(CATEGORIES),
        "imagenet": [name[k] for k in imagenet],
        "coco": [name[k] for k in coco],
        "labels": labels,
        "index": {w: sorted(ls) for w, ls in sorted(index.items())},
    }


@dataclass(frozen=True)
class Override:
    """One line of ``lexicon_overrides.txt``."""

    kind: str  # parent+, parent-, word+, word-
    subject: str
    objects: tuple[str, ...]
    reason: str
    line: int


def load_overrides(path: Path = OVERRIDES) -> list[Override]:
    found: list[Override] = []
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip() or text.startswith("#"):
            continue
        parts = [part.strip() for part in text.split("|")]
        if len(parts) != 4 or parts[0] not in OVERRIDE_KINDS or not all(parts):
            raise SystemExit(f"{path}:{number}: expected KIND | SUBJECT | OBJECTS | REASON, got {text!r}")
        objects = tuple(name.strip() for name in parts[2].split(";") if name.strip())
        found.append(Override(parts[0], parts[1], objects, parts[3], number))
    return found


def apply_parent_overrides(labels: dict[str, dict[str, object]], overrides: list[Override]) -> None:
    """``parent+``: the label and every label below it gain the parents and their ancestors (the lists stay
    transitively closed); ``parent-``: a label with nothing below it loses one parent."""
    for override in overrides:
        if not override.kind.startswith("parent"):
            continue
        for name in (override.subject, *override.objects):
            if name not in labels:
                raise SystemExit(f"{OVERRIDES.name}:{override.line}: no label {name!r}")
        below = [n for n, info in labels.items() if override.subject in info["parents"]]  # type: ignore[operator]
        if override.kind == "parent-":
            if below:
                raise SystemExit(f"{OVERRIDES.name}:{override.line}: parent- applies to labels with nothing below")
            own: list[str] = labels[override.subject]["parents"]  # type: ignore[assignment]
            labels[override.subject]["parents"] = [p for p in own if p not in override.objects]
            continue
        for name in (override.subject, *below):
            parents: list[str] = labels[name]["parents"]  # type: ignore[assignment]
            for added in override.objects:
                for parent in (added, *labels[added]["parents"]):  # type: ignore[misc]
                    if parent not in parents and parent != name:
                        parents.append(parent)
            parents.sort(key=lambda parent: -len(labels[parent]["parents"]))  # type: ignore[arg-type]  # nearest first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=OUT_JSON)
    args = parser.parse_args(argv)
    if not (args.wordnet / "data.noun").is_file():
        print(f"no WordNet at {args.wordnet}: run scripts/install-wordnet.sh", file=sys.stderr)
        return 1
    data = build(load_wordnet(args.wordnet), load_overrides())
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    print(f"wrote {args.out} ({len(data['labels'])} labels, sha256 {digest})")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
