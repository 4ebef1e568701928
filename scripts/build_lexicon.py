#!/usr/bin/env python3
"""Build ``src/pixlens/analysis/data/lexicon.json.gz``: every English noun of WordNet 3.0 -> the labels it finds.

Run by hand, from the repository root, after ``scripts/build_taxonomy.py`` (the labels come from its output) and
whenever the rules below or ``lexicon_overrides.txt`` change; commit the result::

    scripts/install-wordnet.sh          # as root; Debian's wordnet-base: /usr/share/wordnet
    python3 scripts/build_lexicon.py    # --wordnet DIR / --out FILE to override

Only the standard library; deterministic (the same inputs give the same bytes).

What a word finds
    Each sense of a noun lemma (all of ``index.noun``, about 117,000 lemmas) finds every label whose synset is the
    sense itself or lies below it (all hypernyms followed, as for the taxonomy): ``flower`` -> Daisy and the other
    flowers, ``instrument`` -> the musical instruments. A sense with no label at or below it finds the labels just
    above it, less strongly (a sedan is a car), if it is the word's commonest sense or no sense of the word has a
    label at or below it (a dog is never "an unattractive woman" -> Person). A word none of whose senses has a
    label at or below it climbs from its commonest sense, seen in use, to the nearest labels however far up (a
    carpenter is a person, a seagull a bird), if such a label groups at most ``FAR_MAX_BELOW`` labels (a deer is
    no help as "every mammal"). Never to a top group of the taxonomy (a pet is not "every animal",
    a beach not "every landform", a tree not "every plant"). Labels found through a label that is itself found are
    left out: its index entry already holds them (``animal`` is one read, not 398).

    Groups of people: a word that climbs from its commonest sense, when that sense is a group of people seen
    together (below ``PEOPLE_GROUPS``: a gathering, a people, a family, a team, a crew, a band; not below
    ``NOT_PEOPLE_GROUPS``: a legislature, a town, a lineage, a social class), finds Person, as a word for a kind
    of person does: crowd, audience, family, couple, team, choir. Only if that sense was tagged at least twice in
    the concordance and no other sense more often (a hive is as often a beehive), and not for a word that is
    also an adjective (the rich, the dead: "rich" and "dead" are no words for people).

How strongly
    A sense weighs by how often it was tagged in WordNet's semantic concordance (``cntlist.rev``), the most
    frequent sense 1.0 and the rarest 0.5: ``bug`` is an insect (1.0) before it is a hidden microphone (0.63). A
    label found above a sense weighs ``BROADER`` times that. A label's own name or alias weighs 1.0. Search ranks
    an image by its confidence times this weight, so the most specific and most common meaning comes first.

Word forms
    The lemmas, their plurals (regular rules and the irregular plurals of ``noun.exc``), British and American
    spellings of each other (``SPELLINGS``: colour/color, tyre/tire, aeroplane/airplane...), and the label names
    and aliases of the taxonomy. Keys are normalised like ``pixlens.analysis.taxonomy.normalize``.

British words
    ``BRITISH`` pairs British words and phrases with the American WordNet lemma they mean (lorry/truck,
    hob/stove, nappy/diaper, petrol station/gas station, mum/mom, biscuit/cookie): the British form and its
    plurals find what the American lemma finds, at its weights. A British word that is a WordNet noun of its own
    keeps its own senses too (a jumper is a sweater first, and still someone who jumps; a plaster a bandage, and
    still the building material). A pair whose American word means more than the British one (jug/pitcher would
    bring the baseball pitcher) is left out.

Overrides
    ``word+``, ``word-`` and ``word=`` lines of ``lexicon_overrides.txt`` (one reviewed file, a reason on every
    line) add, remove or set the labels of a word and its plurals, at weight 1.0.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_taxonomy import (
    OUT_JSON,
    Node,
    WordNet,
    canon,
    hypernym_graph,
    is_binomial,
    load_overrides,
    load_wordnet,
    normalize,
    plurals,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src/pixlens/analysis/data/lexicon.json.gz"

BROADER = 0.7  # weight of a label found above a sense, relative to one found at or below it
MIN_SENSE_WEIGHT = 0.5
FAR_MAX_BELOW = 64  # a label more than one step above a word groups at most this many labels (Bird, not Mammal)

PERSON = "00007846"  # person.n.01
# WordNet's lexicographer files of nouns (03-28), the kind of thing a synset is.
LEXFILES = dict(
    enumerate(
        [
            "Tops",
            "act",
            "animal",
            "artifact",
            "attribute",
            "body",
            "cognition",
            "communication",
            "event",
            "feeling",
            "food",
            "group",
            "location",
            "motive",
            "object",
            "person",
            "phenomenon",
            "plant",
            "possession",
            "process",
            "quantity",
            "relation",
            "shape",
            "state",
            "substance",
            "time",
        ],
        start=3,
    )
)
DOINGS = {"act", "event", "process"}  # found through the things they are done with: skiing -> Skis

# Groups of people seen together (synset offset, a lemma to check it by): a word whose commonest sense lies below
# one of them finds Person, as a word for a kind of person does (a crowd, an audience, a family, a team, a band).
PEOPLE_GROUPS: list[tuple[str, str]] = [
    ("07975026", "gathering"),  # crowd, audience, couple, party, meeting, reunion
    ("07942152", "people"),  # folk, the public, the elderly
    ("07969695", "kin"),  # family, clan
    ("08078020", "household"),
    ("08208560", "team"),
    ("08242799", "crew"),  # a gang, a work party
    ("08273167", "crew"),
    ("08274718", "troop"),
    ("08246613", "musical_group"),  # band, choir, orchestra
    ("08187033", "troupe"),
    ("08240169", "circle"),  # clique, a party of friends
]
# ... except these, below them: bodies and places more than people in one place, and lines of descent.
NOT_PEOPLE_GROUPS: list[tuple[str, str]] = [
    ("08163792", "assembly"),  # a legislature: parliament, senate
    ("08225581", "municipality"),  # a town as a political unit
    ("08223802", "community"),
    ("08102402", "genealogy"),  # lineage, dynasty, pedigree
    ("08408557", "fair"),
    ("07974025", "social_class"),  # the working class, the gentry: no one to photograph
    ("08183541", "traffic_jam"),  # a crowd of cars
]

# (British, American) spelling pairs, applied to whole words and word endings.
SPELLINGS: list[tuple[str, str]] = [
    ("aeroplane", "airplane"),
    ("tyre", "tire"),
    ("grey", "gray"),
    ("pyjamas", "pajamas"),
    ("moustache", "mustache"),
    ("aluminium", "aluminum"),
    ("doughnut", "donut"),
    ("jewellery", "jewelry"),
    ("plough", "plow"),
    ("cheque", "check"),
    ("kerb", "curb"),
    ("mould", "mold"),
    ("storey", "story"),
    ("programme", "program"),
    ("axe", "ax"),
    ("cosy", "cozy"),
]
# British words and phrases -> the American WordNet lemma they mean (not spellings: see SPELLINGS). Written from
# general knowledge of British English, each checked to be a WordNet lemma or label name on the American side.
BRITISH: list[tuple[str, str]] = [
    # vehicles, roads and travel
    ("lorry", "truck"),
    ("articulated lorry", "trailer truck"),
    ("juggernaut", "trailer truck"),
    ("hgv", "trailer truck"),
    ("bin lorry", "garbage truck"),
    ("dustbin lorry", "garbage truck"),
    ("dustcart", "garbage truck"),
    ("tipper lorry", "dump truck"),
    ("removal lorry", "moving van"),
    ("removals van", "moving van"),
    ("breakdown lorry", "tow truck"),
    ("breakdown truck", "tow truck"),
    ("people carrier", "minivan"),
    ("estate car", "station wagon"),
    ("saloon car", "sedan"),
    ("motorbike", "motorcycle"),
    ("push bike", "bicycle"),
    ("pushbike", "bicycle"),
    ("caravan", "trailer"),
    ("campervan", "recreational vehicle"),
    ("camper van", "recreational vehicle"),
    ("motorhome", "recreational vehicle"),
    ("coach", "bus"),
    ("bendy bus", "bus"),
    ("hackney carriage", "taxicab"),
    ("black cab", "taxicab"),
    ("minicab", "taxicab"),
    ("taxi rank", "taxistand"),
    ("tram", "streetcar"),
    ("tube train", "subway train"),
    ("underground train", "subway train"),
    ("tube station", "subway station"),
    ("underground station", "subway station"),
    ("goods train", "freight train"),
    ("goods wagon", "freight car"),
    ("railway carriage", "passenger car"),
    ("railway station", "railroad station"),
    ("railway", "railroad"),
    ("level crossing", "grade crossing"),
    ("car park", "parking lot"),
    ("petrol station", "gas station"),
    ("petrol pump", "gas pump"),
    ("petrol", "gasoline"),
    ("motorway", "expressway"),
    ("dual carriageway", "divided highway"),
    ("roundabout", "traffic circle"),
    ("zebra crossing", "crosswalk"),
    ("pedestrian crossing", "crosswalk"),
    ("pavement", "sidewalk"),
    ("flyover", "overpass"),
    ("sleeping policeman", "speed bump"),
    ("windscreen", "windshield"),
    ("number plate", "license plate"),
    ("numberplate", "license plate"),
    ("registration plate", "license plate"),
    ("gear stick", "gearshift"),
    ("gearstick", "gearshift"),
    ("aerial", "antenna"),
    ("rowing boat", "rowboat"),
    ("sailing boat", "sailboat"),
    ("lilo", "air mattress"),
    ("pram", "baby carriage"),
    ("pushchair", "stroller"),
    ("buggy", "stroller"),
    ("trolley", "handcart"),
    ("shopping trolley", "shopping cart"),
    ("bobsleigh", "bobsled"),
    ("sledge", "sled"),
    # home, kitchen and office
    ("hob", "stove"),
    ("cooker", "stove"),
    ("worktop", "countertop"),
    ("tumble dryer", "clothes dryer"),
    ("tumble drier", "clothes dryer"),
    ("fridge freezer", "refrigerator"),
    ("dustbin", "trash can"),
    ("bin", "trash can"),
    ("rubbish bin", "trash can"),
    ("wheelie bin", "trash can"),
    ("litter bin", "trash can"),
    ("pedal bin", "trash can"),
    ("bin bag", "plastic bag"),
    ("bin liner", "plastic bag"),
    ("rubbish", "garbage"),
    ("waste paper basket", "wastebasket"),
    ("hoover", "vacuum cleaner"),
    ("tap", "faucet"),
    ("mixer tap", "faucet"),
    ("hosepipe", "garden hose"),
    ("washing up bowl", "dishpan"),
    ("kitchen roll", "paper towel"),
    ("loo roll", "toilet tissue"),
    ("toilet roll", "toilet tissue"),
    ("cling film", "plastic wrap"),
    ("clingfilm", "plastic wrap"),
    ("tin foil", "aluminum foil"),
    ("tin opener", "can opener"),
    ("measuring jug", "measuring cup"),
    ("cupboard", "cabinet"),
    ("settee", "sofa"),
    ("duvet", "comforter"),
    ("flannel", "washcloth"),
    ("face cloth", "washcloth"),
    ("tea towel", "dishtowel"),
    ("dressing gown", "bathrobe"),
    ("bath", "bathtub"),
    ("cot", "crib"),
    ("moses basket", "bassinet"),
    ("plug socket", "electrical outlet"),
    ("power point", "electrical outlet"),
    ("extension lead", "extension cord"),
    ("loo", "toilet"),
    ("wc", "toilet"),
    ("plughole", "drain"),
    ("washing line", "clothesline"),
    ("clothes peg", "clothespin"),
    ("sellotape", "scotch tape"),
    ("sticky tape", "adhesive tape"),
    ("biro", "ballpoint"),
    ("rubber", "eraser"),
    ("drawing pin", "thumbtack"),
    ("pencil case", "pencil box"),
    ("noticeboard", "bulletin board"),
    ("rucksack", "backpack"),
    ("holdall", "carryall"),
    ("carrier bag", "shopping bag"),
    ("spanner", "wrench"),
    ("adjustable spanner", "adjustable wrench"),
    ("secateurs", "pruning shears"),
    ("mobile", "cellular telephone"),
    ("mobile phone", "cellular telephone"),
    ("telly", "television receiver"),
    ("hairdryer", "hand blower"),
    ("plaster", "adhesive bandage"),
    ("sticking plaster", "adhesive bandage"),
    ("elastoplast", "adhesive bandage"),
    ("cotton bud", "swab"),
    ("cotton wool", "absorbent cotton"),
    ("nappy", "diaper"),
    ("dummy", "pacifier"),
    ("phone box", "telephone booth"),
    ("telephone box", "telephone booth"),
    ("cashpoint", "automatic teller machine"),
    ("cash machine", "automatic teller machine"),
    ("post box", "mailbox"),
    ("postbox", "mailbox"),
    ("pillar box", "mailbox"),
    ("letterbox", "mailbox"),
    ("brolly", "umbrella"),
    # play and sport
    ("climbing frame", "jungle gym"),
    ("paddling pool", "wading pool"),
    ("swimming baths", "swimming pool"),
    ("skipping rope", "jump rope"),
    ("noughts and crosses", "ticktacktoe"),
    ("draughts", "checkers"),
    ("snooker table", "pool table"),
    ("football", "soccer ball"),
    ("footie", "soccer ball"),
    ("football boots", "cleats"),
    ("football pitch", "football field"),
    # clothes
    ("jumper", "sweater"),
    ("trainers", "running shoe"),
    ("plimsolls", "gym shoe"),
    ("knickers", "panty"),
    ("vest", "undershirt"),
    ("waistcoat", "vest"),
    ("braces", "suspender"),
    ("swimming costume", "swimsuit"),
    ("bathing costume", "swimsuit"),
    ("cossie", "swimsuit"),
    ("wellies", "wellington"),
    ("wellington boots", "wellington"),
    ("dinner jacket", "tuxedo"),
    ("polo neck", "turtleneck"),
    ("mac", "raincoat"),
    ("anorak", "parka"),
    ("tracksuit", "sweat suit"),
    ("dungarees", "overall"),
    ("pinny", "apron"),
    ("bobble hat", "stocking cap"),
    ("woolly hat", "stocking cap"),
    ("fancy dress", "costume"),
    ("jim jams", "pajama"),
    ("specs", "spectacles"),
    ("sunnies", "sunglasses"),
    # food and drink
    ("biscuit", "cookie"),
    ("crisps", "potato chip"),
    ("chips", "french fries"),
    ("aubergine", "eggplant"),
    ("courgette", "zucchini"),
    ("coriander", "cilantro"),
    ("rocket", "arugula"),
    ("spring onion", "scallion"),
    ("mangetout", "snow pea"),
    ("swede", "rutabaga"),
    ("beetroot", "beet"),
    ("sweetcorn", "corn"),
    ("maize", "corn"),
    ("candyfloss", "cotton candy"),
    ("candy floss", "cotton candy"),
    ("porridge", "oatmeal"),
    ("treacle", "molasses"),
    ("icing sugar", "powdered sugar"),
    ("mince", "ground beef"),
    ("minced beef", "ground beef"),
    ("fish fingers", "fish stick"),
    ("sweets", "candy"),
    ("sweet shop", "candy store"),
    ("pudding", "dessert"),
    ("starter", "appetizer"),
    ("takeaway", "takeout"),
    ("fizzy drink", "soft drink"),
    ("jacket potato", "baked potato"),
    ("mash", "mashed potato"),
    ("fairy cake", "cupcake"),
    ("butty", "sandwich"),
    ("sarnie", "sandwich"),
    ("gammon", "ham"),
    # places and buildings
    ("high street", "main street"),
    ("chemist", "drugstore"),
    ("chemists", "drugstore"),
    ("off licence", "liquor store"),
    ("newsagent", "newsstand"),
    ("newsagents", "newsstand"),
    ("flat", "apartment"),
    ("block of flats", "apartment building"),
    ("tower block", "high-rise"),
    ("terraced house", "row house"),
    ("cinema", "movie theater"),
    ("lift", "elevator"),
    ("lay by", "rest area"),
    ("allotment", "garden"),
    # people and animals
    ("mum", "mom"),
    ("mummy", "mommy"),
    ("nan", "grandma"),
    ("gran", "grandma"),
    ("grandad", "grandpa"),
    ("lad", "boy"),
    ("lass", "girl"),
    ("bloke", "man"),
    ("chap", "man"),
    ("postman", "mailman"),
    ("dustman", "garbage man"),
    ("footballer", "soccer player"),
    ("stag do", "stag party"),
    ("hen do", "hen party"),
    ("ladybird", "ladybug"),
    ("moggy", "house cat"),
]

ENDINGS: list[tuple[str, str]] = [
    ("our", "or"),  # colour, harbour, neighbour
    ("tre", "ter"),  # theatre, centre, metre
    ("logue", "log"),  # catalogue, dialogue
    ("ence", "ense"),  # licence, defence
]


def spelling_variants(word: str) -> set[str]:
    """The other spellings of a normalised word, British <-> American (only where a rule applies)."""
    found: set[str] = set()
    tokens = word.split(" ")
    for i, token in enumerate(tokens):
        for british, american in SPELLINGS:
            for a, b in ((british, american), (american, british)):
                if token == a:
                    found.add(" ".join([*tokens[:i], b, *tokens[i + 1 :]]))
        for british, american in ENDINGS:
            for a, b in ((british, american), (american, british)):
                if token.endswith(a) and len(token) > len(a) + 2:
                    found.add(" ".join([*tokens[:i], token[: -len(a)] + b, *tokens[i + 1 :]]))
    return found


def sense_counts(wn_dir: Path) -> dict[str, dict[int, int]]:
    """lemma -> sense number (1-based, as in index.noun) -> times tagged in the semantic concordance."""
    counts: dict[str, dict[int, int]] = defaultdict(dict)
    for line in (wn_dir / "cntlist.rev").read_text(encoding="utf-8").splitlines():
        key, number, tagged = line.split()
        lemma, _, rest = key.partition("%")
        if rest.startswith("1:"):  # nouns
            counts[lemma.lower()][int(number)] = int(tagged)
    return counts


def sense_weights(n: int, counts: dict[int, int]) -> list[float]:
    """Weight of each of ``n`` senses: tag counts, ties (mostly never tagged) broken by WordNet's sense order."""
    frequency = [counts.get(i + 1, 0) + 1 / (i + 1) for i in range(n)]
    top = max(frequency)
    return [MIN_SENSE_WEIGHT + (1 - MIN_SENSE_WEIGHT) * f / top for f in frequency]


def top_groups(parents: dict[str, list[str]], models: set[str]) -> set[str]:
    """The taxonomy's top groups: labels with nothing above and something below that no model outputs itself
    (Animal, Plant, Structure; not Person, a class of the detector)."""
    below = {parent for own in parents.values() for parent in own}
    return {name for name, own in parents.items() if not own and name in below and name not in models}


class Graph:
    def __init__(
        self, nodes: dict[str, Node], label_of: dict[str, str], parents: dict[str, list[str]], models: set[str]
    ) -> None:
        self.nodes = nodes
        self.label_of = label_of  # synset offset -> label name
        self.parents = parents  # label -> its parent labels (taxonomy)
        self.below: dict[str, set[str]] = defaultdict(set)  # synset -> labels at or below it
        for offset, label in label_of.items():
            self.below[offset].add(label)
            for ancestor in self.ancestors(offset):
                self.below[ancestor].add(label)
        # The top groups of the taxonomy (Animal, Structure, Geological Formation...): too broad to be what a word
        # just below them means (a pet is no "every animal", a beach no "every landform").
        self.groups = top_groups(parents, models)
        offsets = self.offsets
        for label in label_of.values():  # parent+ and parent- overrides: the taxonomy decides
            for parent in parents[label]:
                if parent in offsets:
                    self.below[offsets[parent]].add(label)
        for parent, offset in offsets.items():
            for label in [label for label in self.below[offset] if label != parent]:
                if parent not in parents[label]:
                    self.below[offset].discard(label)

    @property
    def offsets(self) -> dict[str, str]:
        return {label: offset for offset, label in self.label_of.items()}

    def ancestors(self, offset: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.nodes[offset].hypernyms)
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(self.nodes[current].hypernyms)
        return seen

    def within(self, offset: str, tops: set[str], unless: set[str]) -> bool:
        """Whether a sense is or lies below one of ``tops`` and not below any of ``unless``."""
        lineage = {offset} | self.ancestors(offset)
        return bool(lineage & tops) and not lineage & unless

    def covering(self, labels: set[str]) -> set[str]:
        """The labels of a set whose parents are not in it: their index entries hold all the others."""
        return {label for label in labels if not any(parent in labels for parent in self.parents[label])}

    def down(self, offset: str) -> set[str]:
        """Labels at or below a sense."""
        return self.covering(self.below.get(offset, set()))

    def up(self, offset: str, any_depth: bool) -> set[str]:
        """Labels just above a sense (a sedan is a car), or with ``any_depth`` the nearest ones however far up (a
        carpenter is a person, a seagull a bird); never a top group of the taxonomy, nor for proper names (Crane
        the writer is no person to search for)."""
        if all(lemma[:1].isupper() for lemma in self.nodes[offset].lemmas):
            return set()
        frontier, seen, steps = list(self.nodes[offset].hypernyms), set(), 1
        while frontier:
            found = {self.label_of[h] for h in frontier if h in self.label_of} - self.groups
            if steps > 1:  # a deer is a mammal, but "deer" finding every mammal helps no one
                found = {label for label in found if len(self.below[self.offsets[label]]) <= FAR_MAX_BELOW}
            if found:
                return found
            if not any_depth:
                return set()
            steps += 1
            seen.update(frontier)
            frontier = [h for current in frontier for h in self.nodes[current].hypernyms if h not in seen]
        return set()


def adjective_lemmas(wn_dir: Path) -> set[str]:
    """The adjectives of WordNet (``index.adj``), normalised."""
    lines = (wn_dir / "index.adj").read_text(encoding="utf-8").splitlines()
    return {normalize(line.split(" ", 1)[0]) for line in lines if not line.startswith(" ")}


def build(
    wn: WordNet, counts: dict[str, dict[int, int]], taxonomy: dict[str, object], adjectives: set[str]
) -> dict[str, object]:
    labels: dict[str, dict[str, object]] = taxonomy["labels"]  # type: ignore[assignment]
    nodes = hypernym_graph(wn)
    label_of = {str(info["wnid"])[1:]: name for name, info in labels.items() if info["wnid"]}
    parents = {name: list(info["parents"]) for name, info in labels.items()}  # type: ignore[call-overload]
    models = {*taxonomy["imagenet"], *taxonomy["coco"]}  # type: ignore[misc]
    graph = Graph(nodes, label_of, parents, models)
    people_groups = {canon(wn.synset(offset, lemma).offset) for offset, lemma in PEOPLE_GROUPS}
    not_people_groups = {canon(wn.synset(offset, lemma).offset) for offset, lemma in NOT_PEOPLE_GROUPS}
    person = label_of[canon(wn.synset(PERSON, "person").offset)]

    words: dict[str, dict[str, float]] = defaultdict(dict)

    def add(word: str, found: dict[str, float]) -> None:
        mine = words[word]
        for label, weight in found.items():
            mine[label] = max(mine.get(label, 0.0), round(weight, 2))

    lemma_keys: set[str] = set()
    for lemma, offsets in wn.senses.items():
        if is_binomial(lemma, wn) or not any(ch.isalpha() for ch in lemma):
            continue
        key = normalize(lemma)
        lemma_keys.add(key)
        weights = sense_weights(len(offsets), counts.get(lemma, {}))
        senses = [(canon(offset), weight) for offset, weight in zip(offsets, weights, strict=True)]
        # Where some sense has labels at or below it, the word means those, and the rarer senses that would only
        # climb to a label above are left out (dog, "an unattractive woman" -> Person); the commonest sense still
        # climbs (mouse, the animal -> Rodent, beside the computer mouse).
        down = [(graph.down(offset), weight) for offset, weight in senses]
        below_some = any(labels_below for labels_below, _ in down)
        # Climbing any distance only for a word none of whose senses has labels below, and only its commonest
        # meaning, seen in use: tagged in the concordance or the word's only sense (a bunny's untagged first sense
        # is a nightclub waitress; a whale, a large person in its tagged sense, is the animal first).
        seen = bool(counts.get(lemma)) or len(senses) == 1
        tagged_first = counts.get(lemma, {}).get(1, 0) > 0 and weights[0] == 1.0
        # ... and for a group of people, seen more than once and no other sense more often (a hive is a teeming
        # crowd once in the concordance, and a beehive once: not a word for people)
        tally = [counts.get(lemma, {}).get(i + 1, 0) for i in range(len(senses))]
        clearly = [len(senses) == 1 or n >= max(2, *tally[:i], *tally[i + 1 :]) for i, n in enumerate(tally)]
        for index, ((offset, weight), (labels_below, _)) in enumerate(zip(senses, down, strict=True)):
            if labels_below:
                add(key, dict.fromkeys(labels_below, weight))
            elif not below_some or (index == 0 and tagged_first):  # the first sense, seen in use: a mouse
                far = weight == 1.0 and seen and not below_some
                above = graph.up(offset, far)
                if (
                    far
                    and not above
                    and clearly[index]
                    and key not in adjectives  # the blind, the rich: "rich" and "dead" are no words for people
                    and graph.within(offset, people_groups, not_people_groups)
                ):
                    above = {person}  # a crowd, a family: the people in it
                add(key, dict.fromkeys(above, weight * BROADER))
    for name, info in labels.items():
        # A label's name finds it fully; an alias that is a lemma of its synset weighs as that sense of the lemma
        # (done above: "amphibian" is the animal before the amphibious vehicle); other aliases (TV, smartphone) fully.
        synonyms = {normalize(lemma) for lemma in nodes[str(info["wnid"])[1:]].lemmas} if info["wnid"] else set()
        for word in (name, *info["aliases"]):  # type: ignore[misc]
            key = normalize(word)
            lemma_keys.add(key)
            if word == name or key not in synonyms:
                add(key, {name: 1.0})

    # Plurals and other spellings find what their word finds, unless they are words of their own: then both.
    for key in sorted(lemma_keys):
        own = dict(words.get(key, {}))
        if not own:
            continue
        for form in sorted(plurals(key, wn)):
            add(form, own)
        for form in sorted(spelling_variants(key)):
            add(form, own)
            for plural in plurals(form, wn) if form not in lemma_keys else ():  # not "dogses"
                add(plural, own)

    # British words find what the American words they mean find: added to a British word's own senses where it is
    # a word of its own (a jumper is a sweater, and still someone who jumps; a plaster a bandage, and still plaster).
    for british, american in BRITISH:
        meaning = normalize(american)
        if meaning not in lemma_keys:
            raise SystemExit(f"BRITISH: {american!r} is no WordNet noun nor label name")
        key = normalize(british)
        forms = {key} if key.endswith("s") else {key, *plurals(key, wn)}  # crisps, trainers: plural already
        for form in sorted(forms):
            add(form, words.get(meaning, {}))

    overrides = load_overrides()
    for override in overrides:
        if not override.kind.startswith("word"):
            continue
        for name in override.objects:
            if name not in labels:
                raise SystemExit(f"lexicon_overrides.txt:{override.line}: no label {name!r}")
        key = normalize(override.subject)
        for form in sorted({key, *plurals(key, wn)}):
            if override.kind == "word=":
                words[form] = dict.fromkeys(override.objects, 1.0)
            elif override.kind == "word+":
                add(form, dict.fromkeys(override.objects, 1.0))
            else:
                for name in override.objects:
                    words[form].pop(name, None)

    names = sorted(labels)
    number = {name: i for i, name in enumerate(names)}
    table: dict[str, list[list[float]]] = {}
    for word in sorted(words):
        if words[word]:
            ranked = sorted(words[word].items(), key=lambda item: (-item[1], item[0]))
            table[word] = [[number[label], weight] for label, weight in ranked]
    return {"source": "WordNet 3.0", "labels": names, "words": table, "domains": domains(wn, labels, names, table)}


def domains(
    wn: WordNet, labels: dict[str, dict[str, object]], names: list[str], table: dict[str, list[list[float]]]
) -> dict[str, object]:
    """The kinds of thing (WordNet's lexicographer files: animal, artifact, food...) each label is, and each noun
    that reaches no label can be: the sentence model's answer for such a word must be of a kind the word can be
    (a yak is no Yawl, a pint no Pinwheel). A word that can be an act or event is left out: it is found through
    the things it is done with (skiing -> Skis)."""
    synsets = {name: str(labels[name]["wnid"])[1:] for name in names}  # "" for a label of no synset
    label_kinds = [LEXFILES[wn.synsets[offset].lexfile] if offset else "" for offset in synsets.values()]
    by_kinds: dict[str, set[str]] = defaultdict(set)
    for lemma, offsets in wn.senses.items():
        key = normalize(lemma)
        own = {LEXFILES[wn.synsets[offset].lexfile] for offset in offsets}
        if key in table or own & DOINGS or is_binomial(lemma, wn):
            continue
        by_kinds[" ".join(sorted(own))].add(key)
    return {"labels": label_kinds, "words": {kinds: "|".join(sorted(keys)) for kinds, keys in sorted(by_kinds.items())}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not (args.wordnet / "data.noun").is_file():
        print(f"no WordNet at {args.wordnet}: run scripts/install-wordnet.sh", file=sys.stderr)
        return 1
    taxonomy = json.loads(OUT_JSON.read_text(encoding="utf-8"))
    data = build(load_wordnet(args.wordnet), sense_counts(args.wordnet), taxonomy, adjective_lemmas(args.wordnet))
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    args.out.write_bytes(gzip.compress(text, compresslevel=9, mtime=0))
    words: dict[str, object] = data["words"]  # type: ignore[assignment]
    print(f"wrote {args.out} ({len(words)} words, sha256 {hashlib.sha256(text).hexdigest()[:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
