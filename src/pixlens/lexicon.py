"""What a word a person types means in labels: every English noun of WordNet, then a sentence model for the rest.

The WordNet part is ``pixlens/analysis/data/lexicon.json.gz``, built by ``scripts/build_lexicon.py`` (its docstring
says which labels a word finds and how strongly; ``lexicon_overrides.txt`` holds the reviewed corrections). A word
that WordNet does not connect to any label (``kitten``, ``beach``, a brand, a misspelling) is given to the sentence
model, which finds the labels nearest in meaning above a similarity threshold. Each match says how it was found.
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

__all__ = ["Lexicon", "Match", "Nearest"]

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


class Lexicon:
    """Word -> labels. Get the bundled one with :meth:`load`; safe to share between threads."""

    def __init__(
        self,
        words: dict[str, list[tuple[str, float]]],
        nearest: Nearest | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self._words = words
        self._nearest = nearest
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
        return cls(_bundled_words(), nearest)

    @classmethod
    def with_meanings(cls) -> Lexicon:
        """The bundled lexicon with the bundled sentence model (loaded on the first word WordNet does not know)."""
        from pixlens.analysis.meaning import LabelMeanings

        return cls(_bundled_words(), LabelMeanings.shared().nearest)

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
        near, leaving out a label the word only qualifies (beach -> Beach Wagon, mountain -> Mountain Bike), a
        top group of the taxonomy, and a label above another one chosen (pet -> Dog and Cat, not Canine)."""
        assert self._nearest is not None
        hits = self._nearest(word)
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


@functools.cache
def _bundled_words() -> dict[str, list[tuple[str, float]]]:
    raw = resources.files("pixlens.analysis.data").joinpath("lexicon.json.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    names: list[str] = data["labels"]
    return {word: [(names[int(i)], float(w)) for i, w in found] for word, found in data["words"].items()}
