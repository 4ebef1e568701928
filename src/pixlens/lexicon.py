"""What a word a person types means in labels: every English noun of WordNet, then a sentence model for the rest.

The WordNet part is ``pixlens/analysis/data/lexicon.json.gz``, built by ``scripts/build_lexicon.py`` (its docstring
says which labels a word finds and how strongly; ``lexicon_overrides.txt`` holds the reviewed corrections). A word
that WordNet does not connect to any label (``kitten``, ``beach``, a brand, a misspelling) is given to the sentence
model, which finds the labels nearest in meaning above a similarity threshold. Each match says how it was found.

A word WordNet knows as a noun, but does not connect to a label (``yak``, ``pint``, ``snowman``), takes from the
sentence model only labels of a kind of thing the word can be (WordNet's lexicographer files: animal, artifact,
food...): names that sound alike are no meaning (yak -> Yawl, pint -> Pinwheel). A word that can be an act or
event is left to the model (skiing -> Skis), as is a word WordNet does not know.
"""

from __future__ import annotations

import functools
import gzip
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from pixlens.analysis.taxonomy import Taxonomy, normalize

__all__ = ["Kinds", "Lexicon", "Match", "Nearest"]

WORDNET = "wordnet"  # the word's senses reach the label in WordNet (or an override says so)
MEANING = "meaning"  # the sentence model found the label nearest in meaning

# The sentence model: a word -> (label, cosine similarity) nearest in meaning, above its threshold, best first.
Nearest = Callable[[str], list[tuple[str, float]]]
MEANING_LIMIT = 3  # labels taken from the sentence model for one word
MEANING_SPREAD = 0.08  # ... each within this similarity of the nearest (kitten: Cat .79, not Tiger Cat .66)


@dataclass(frozen=True)
class Match:
    """A label that a word finds: ``weight`` 0-1 scales the image's confidence when ranking (1: the word's
    commonest meaning, at or above the label); ``via`` says how it was found."""

    label: str
    weight: float
    via: str


class Kinds:
    """The kinds of thing (WordNet's lexicographer files) each label is and each noun that reaches no label can
    be; the words are split from their groups on first use (only words the sentence model is asked about need
    them). Safe to share between threads."""

    def __init__(self, labels: dict[str, str], groups: dict[str, str]) -> None:
        self._labels = labels  # label -> its kind ("" for a label of no synset)
        self._groups = groups  # "animal communication" -> "donkey|yak|..."
        self._words: dict[str, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def of(self, word: str) -> frozenset[str] | None:
        """The kinds a (normalised) word can be, or None if WordNet does not know it as a noun (or it can be an
        act or event). A plural is looked up as its singular."""
        with self._lock:
            if self._words is None:
                self._words = {
                    word: frozenset(kinds.split(" "))
                    for kinds, words in self._groups.items()
                    for word in words.split("|")
                }
        for form in (word, *_singulars(word)):
            if form in self._words:
                return self._words[form]
        return None

    def allows(self, word: str, label: str) -> bool:
        """Whether a label is of a kind the word can be (always, for a word of no known kind or a label of none)."""
        kinds = self.of(word)
        kind = self._labels.get(label, "")
        return kinds is None or not kind or kind in kinds


class Lexicon:
    """Word -> labels. Get the bundled one with :meth:`load`; safe to share between threads."""

    def __init__(
        self,
        words: dict[str, list[tuple[str, float]]],
        nearest: Nearest | None = None,
        taxonomy: Taxonomy | None = None,
        kinds: Kinds | None = None,
    ) -> None:
        self._words = words
        self._nearest = nearest
        self._kinds = kinds
        self._taxonomy = taxonomy or Taxonomy.load()
        # The taxonomy's top groups (Animal, Furniture...): too broad for what one word means (pet -> Animal).
        self._groups = {
            name
            for name in self._taxonomy.names()
            if not self._taxonomy.info(name).parents and self._below(name) and not self._taxonomy.is_model_label(name)
        }
        self._lock = threading.Lock()
        self._meanings: dict[str, list[Match]] = {}

    @classmethod
    def load(cls, nearest: Nearest | None = None) -> Lexicon:
        """The bundled WordNet lexicon, with ``nearest`` (the sentence model) for the words it does not know."""
        return cls(_bundled_words(), nearest, kinds=_bundled_kinds())

    @classmethod
    def with_meanings(cls) -> Lexicon:
        """The bundled lexicon with the bundled sentence model (loaded on the first word WordNet does not know)."""
        from pixlens.analysis.meaning import LabelMeanings

        return cls(_bundled_words(), LabelMeanings.shared().nearest, kinds=_bundled_kinds())

    def _below(self, name: str) -> frozenset[str]:
        return self._taxonomy.descendants(name)

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and normalize(word) in self._words

    def knows(self, word: str) -> bool:
        """Whether WordNet connects the word (or phrase, or the phrase written as one word) to a label."""
        key = normalize(word)
        return key in self._words or (" " in key and key.replace(" ", "") in self._words)

    def lookup(self, word: str) -> list[Match]:
        """The labels a word or phrase finds, best first; empty if nothing does."""
        key = normalize(word)
        if not key:
            return []
        found = self._words.get(key)
        if found is None and " " in key:  # a compound typed in two words: "gas mask" is WordNet's "gasmask"
            found = self._words.get(key.replace(" ", ""))
        if found is not None:
            return [Match(label, weight, WORDNET) for label, weight in found]
        return self._meaning(key)

    def _meaning(self, key: str) -> list[Match]:
        if self._nearest is None:
            return []
        with self._lock:
            kept = self._meanings.get(key)
        if kept is None:
            kept = [Match(label, round(similarity, 2), MEANING) for label, similarity in self._chosen(key)]
            with self._lock:
                if len(self._meanings) > 10_000:
                    self._meanings.clear()
                self._meanings[key] = kept
        return list(kept)

    def _chosen(self, word: str) -> list[tuple[str, float]]:
        """The sentence model's nearest labels that a person means by the word: the nearest and those about as
        near, leaving out a label of a kind of thing the word cannot be (yak -> Yawl), a label the word only
        qualifies (beach -> Beach Wagon, mountain -> Mountain Bike), a top group of the taxonomy, and a label
        above another one chosen (pet -> Dog and Cat, not Canine)."""
        assert self._nearest is not None
        hits = self._nearest(word)
        if self._kinds is not None:
            kinds = self._kinds
            hits = [(label, similarity) for label, similarity in hits if kinds.allows(word, label)]
        if not hits:
            return []
        close = [(label, similarity) for label, similarity in hits if hits[0][1] - similarity <= MEANING_SPREAD]
        close = [(label, similarity) for label, similarity in close if not _qualifies(word, label)]
        names = {label for label, _ in close}
        chosen = [
            (label, similarity)
            for label, similarity in close
            if label not in self._groups and not self._below(label) & names
        ]
        return chosen[:MEANING_LIMIT]


def _qualifies(word: str, label: str) -> bool:
    """Whether the word is a modifier in the label's name, not what it names (beach in Beach Wagon). A compound
    written as one word is left alone: snow -> Snowplow is as wrong as lake -> Lakeside is right."""
    *modifiers, _ = normalize(label).split(" ")
    stem = word.rstrip("s")
    return any(modifier.rstrip("s") == stem for modifier in modifiers)


def _singulars(word: str) -> list[str]:
    """The singulars a regular plural may have (yaks -> yak, boxes -> box, ponies -> pony)."""
    forms = []
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


@functools.cache
def _bundled() -> tuple[dict[str, list[tuple[str, float]]], Kinds]:
    raw = resources.files("pixlens.analysis.data").joinpath("lexicon.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    names: list[str] = data["labels"]
    words = {word: [(names[int(i)], float(w)) for i, w in found] for word, found in data["words"].items()}
    domains = data["domains"]
    return words, Kinds(dict(zip(names, domains["labels"], strict=True)), domains["words"])


def _bundled_words() -> dict[str, list[tuple[str, float]]]:
    return _bundled()[0]


def _bundled_kinds() -> Kinds:
    return _bundled()[1]
