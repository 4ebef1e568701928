"""Free text: words as a person says them (``a dog on a beach``, ``red car``, ``two people at a table``), read for
what they mean inside a parsed query.

The query language parses a query first (punctuation such as ``,`` and ``?`` is only a space to it). Then each
conjunction of the tree (an ``AND``, or words side by side) is looked at: its plain words (not quoted, no field, no
threshold) are free text when the query language would not do what the person means: a word is a stop word, a
filler such as ``photo of``, a colour, a count, a negation (``without``, ``no``, ``not a``), a word for text
(``saying "open"``), or finds nothing, or two words make one name (``golden retriever``). Then:

- stop words and fillers are dropped; names of several words are joined;
- colour words become ``color:``; a count before a word for people ``faces>=N OR has:people>=N``;
- ``text "..."`` (``saying``, ``reads``, ``caption``...) makes the quoted phrase a full-text search;
- ``without cat``, ``no people``, ``not a cat`` leave those images out;
- a word that finds no label but names a place of the catalog (``paris``) becomes ``place:``;
- the rest are labels.

The remaining words are combined with :class:`~pixlens.query.Some` (an image matching more of them, more
confidently, ranks first; one matching only some is still found), and the rest of the conjunction (quoted labels,
fields, thresholds, ``NOT`` terms) still has to match: ``a dog on a beach AND color:gray`` refines the free text.
Words that find nothing are left out and reported. ``dog cat`` stays ``dog AND cat``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Protocol

from pixlens.analysis.colors import SIMPLIFIED_COLORS
from pixlens.errors import QueryError
from pixlens.query import DEFAULT_FIELD, And, Node, Not, Or, Some, Term

__all__ = ["MAX_WORDS", "FreeText", "Vocabulary", "loosen", "spaced"]

# Punctuation that is a space to the query language: commas, semicolons, ? or ! ending a word, and a full stop
# after a letter. Quoted phrases and field values (near:48.85,2.35,5km, taken:2020..) are kept as typed.
_KEPT = re.compile(r'"[^"]*"|[^\s"]*:[^\s"]*?(?=[,;]*(?:\s|$|"))')
_PUNCTUATION = re.compile(r"[,;]|(?<=\w)[?!]+(?=\s|$)|(?<=[^\W\d_])\.(?=\s|$)")


def spaced(text: str) -> str:
    """``text`` with its sentence punctuation turned to spaces (same length: positions hold)."""
    kept = [match.span() for match in _KEPT.finditer(text)]

    def space(found: re.Match[str]) -> str:
        inside = any(start <= found.start() < end for start, end in kept)
        return found[0] if inside else " " * len(found[0])

    return _PUNCTUATION.sub(space, text)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _words(
    """a an the this that these those some any all every each of in on at by for from with into onto over under
    above below near beside behind between among around inside outside through across along against up down off
    out and or but is are was were be been being am has have had having do does did it its they them their there
    here he she his her him we us our you your i me my mine who whom which what where when why how as so than
    then too very just also only while next to front top bottom"""
)
FILLERS = _words(
    """photo photos photograph photographs picture pictures pic pics image images shot shots snapshot snapshots
    snap snaps show showing shows find search looking look lots lot kind sort type one"""
)
NEGATIONS = _words("without no not never except")
TEXT_WORDS = _words("text saying says reads reading written words word caption")
PEOPLE_WORDS = _words("people persons person men women man woman kids children child boys girls guys friends faces")
COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
COUNT_WORDS = {"couple": 2, "pair": 2, "several": 3, "group": 3, "crowd": 5, "many": 5}
COLORS = frozenset(name.lower() for name in SIMPLIFIED_COLORS) | {"grey"}
SPECIAL = STOP_WORDS | FILLERS | NEGATIONS | COLORS | TEXT_WORDS | set(COUNTS) | set(COUNT_WORDS)
LONGEST_NAME = 4  # words in the longest name joined (``bicycle built for two``)
MAX_WORDS = 32  # words of free text looked up in one query (each may cost a run of the sentence model)


class Vocabulary(Protocol):
    def names(self, words: str) -> bool:
        """Whether words are one name (WordNet's or a catalog label's: ``golden retriever``)."""

    def finds(self, word: str) -> bool:
        """Whether a word finds any label, the sentence model included."""

    def place(self, word: str) -> bool:
        """Whether a word names a place of the catalog (a city, region or country)."""


@dataclass
class FreeText:
    node: Node
    unknown: list[str] = field(default_factory=list)  # words that found nothing (left out of the node)


def loosen(tree: Node, text: str, vocabulary: Vocabulary) -> FreeText:
    """``tree`` (parsed from ``text``) with the plain words of each conjunction read as free text where that is what
    they mean; a tree with nothing to read is returned as it is."""
    unknown: list[str] = []
    looked_up: set[str] = set()  # every word looked up in the whole query, against MAX_WORDS

    def walk(node: Node) -> Node:
        if isinstance(node, Not):
            return Not(walk(node.operand))
        if isinstance(node, Or):
            return Or(tuple(walk(operand) for operand in node.operands))
        if isinstance(node, And):
            return _conjunction(list(node.operands), text, vocabulary, unknown, looked_up)
        return node

    return FreeText(walk(tree), unknown)


def _plain(node: Node, text: str) -> bool:
    """A word typed as it is: no quotes, no field, no threshold."""
    return (
        isinstance(node, Term)
        and node.field == DEFAULT_FIELD
        and node.op is None
        and text.startswith(node.value, node.position)
    )


def _negating(node: Node, text: str) -> bool:
    """``not a`` (the query language's NOT of a stop word): a person's "not", for the next word."""
    return isinstance(node, Not) and _plain(node.operand, text) and node.operand.value.lower() in STOP_WORDS  # type: ignore[union-attr]


def _conjunction(
    operands: list[Node], text: str, vocabulary: Vocabulary, unknown: list[str], looked_up: set[str]
) -> Node:
    words = [operand.value.lower() for operand in operands if _plain(operand, text)]  # type: ignore[union-attr]
    negated = any(_negating(operand, text) for operand in operands)
    if not negated and not _means_more(words, vocabulary):
        return And(tuple(operands))
    reader = _Reader(text, vocabulary, looked_up)
    for operand in operands:
        reader.take(operand)
    node = reader.node()
    unknown.extend(reader.unknown)
    return node


def _means_more(words: list[str], vocabulary: Vocabulary) -> bool:
    """Whether plain words side by side mean more than the query language's AND of labels."""
    if any(word in SPECIAL for word in words):
        return True
    if any(vocabulary.names(f"{a} {b}") for a, b in itertools.pairwise(words)):
        return True
    return not all(vocabulary.finds(word) for word in words)


class _Reader:
    """Reads a conjunction's operands in order into the free text's terms, what they leave out, and the rest."""

    def __init__(self, text: str, vocabulary: Vocabulary, looked_up: set[str]) -> None:
        self.text = text
        self.vocabulary = vocabulary
        self.pending: list[Term] = []  # plain words not read yet (a name may continue)
        self.positives: list[Node] = []
        self.negatives: list[Node] = []
        self.filters: list[Node] = []
        self.unknown: list[str] = []
        self.negate = False
        self.looked_up = looked_up

    def take(self, operand: Node) -> None:
        if _plain(operand, self.text):
            assert isinstance(operand, Term)
            self.pending.append(operand)
            return
        if _negating(operand, self.text):
            self.flush()
            self.negate = True
            return
        quoted_text = (
            isinstance(operand, Term)
            and operand.field == DEFAULT_FIELD
            and operand.op is None
            and self.pending
            and self.pending[-1].value.lower() in TEXT_WORDS
        )
        self.flush()
        if quoted_text:
            assert isinstance(operand, Term)
            self.add(Term(operand.value, "text", position=operand.position))
        else:
            self.filters.append(operand)

    def flush(self) -> None:
        """Read the pending plain words."""
        words, self.pending = self.pending, []
        i = 0
        while i < len(words):
            word, low = words[i], words[i].value.lower()
            size = self.name_at(words, i)
            if size > 1:
                joined = " ".join(w.value for w in words[i : i + size])
                self.add(Term(joined, position=word.position))
                i += size
                continue
            count = COUNTS.get(low) or COUNT_WORDS.get(low)
            following = words[i + 1].value.lower() if i + 1 < len(words) else ""
            if count is not None and following in PEOPLE_WORDS:
                faces = Term("faces", op=">=", threshold=float(count), position=word.position)
                boxed = Term("people", "has", op=">=", threshold=float(count), position=word.position)
                self.add(Or((faces, boxed)))
                i += 2
                continue
            if low in NEGATIONS:
                self.negate = True
            elif low in COLORS:
                self.add(Term("gray" if low == "grey" else low, "color", position=word.position))
            elif low in SPECIAL:
                pass  # stop words, fillers, text words, counts of things
            elif self.finds(word.value):
                self.add(word)
            elif self.vocabulary.place(word.value):
                self.add(Term(word.value, "place", position=word.position))
            else:
                self.unknown.append(word.value)
            i += 1

    def finds(self, word: str) -> bool:
        self.looked_up.add(word.lower())
        if len(self.looked_up) > MAX_WORDS:
            raise QueryError(f"too many different words to look up (at most {MAX_WORDS} in one query)")
        return self.vocabulary.finds(word)

    def name_at(self, words: list[Term], start: int) -> int:
        """How many plain words from ``start``, typed side by side, make the longest known name (1: none)."""
        for size in range(min(LONGEST_NAME, len(words) - start), 1, -1):
            chunk = words[start : start + size]
            lowered = [w.value.lower() for w in chunk]
            if lowered[0] in STOP_WORDS or lowered[-1] in STOP_WORDS or lowered[0] in NEGATIONS:
                continue
            typed = " ".join(w.value for w in chunk)
            if self.text.startswith(typed, chunk[0].position) and self.vocabulary.names(typed):
                return size
        return 1

    def add(self, term: Node) -> None:
        if self.negate:
            self.negatives.append(Not(term))
            self.negate = False
        elif term not in self.positives:
            self.positives.append(term)

    def node(self) -> Node:
        self.flush()
        parts: list[Node] = []
        if len(self.positives) > 1:
            parts.append(Some(tuple(self.positives)))
        else:
            parts.extend(self.positives)
        parts += self.negatives + self.filters
        if not parts and not self.unknown:
            raise QueryError("nothing to search for: only common words such as 'the' or 'of'")
        if not parts:
            return Term("", field="nothing")
        return parts[0] if len(parts) == 1 else And(tuple(parts))
