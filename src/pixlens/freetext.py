"""Free text: a query written as a person would say it (``a dog on a beach``, ``red car``, ``two people at a
table``), read as words when it is not meant in the query language.

A query is free text when it is plain words (no quotes but after a text word, no parentheses, fields, thresholds,
``-`` or upper-case ``AND``/``OR``/``NOT``), at least two of them, and the query language would not do what the
person means: some word is a stop word, a colour, a count, a filler such as ``photo of``, or finds no label, or
two words make one name (``golden retriever``). Then each word becomes a term: stop words and fillers dropped,
colour words ``color:``, a count before a word for people ``faces>=N OR has:people>=N``, ``text "..."`` (or
``saying``, ``reads``) a full-text phrase, names of several words joined, the rest labels. The terms are combined with
:class:`~pixlens.query.Some`: an image matching more of the words, more confidently, ranks first, and one
matching only some of them is still found. Words that find nothing are left out and reported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from pixlens.analysis.colors import SIMPLIFIED_COLORS
from pixlens.query import KEYWORDS, Node, Or, Some, Term

__all__ = ["FreeText", "read"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _words(
    """a an the this that these those some any all every each of in on at by for from with without into onto
    over under above below near beside behind between among around inside outside through across along against
    up down off out and or but is are was were be been being am has have had having do does did it its they them
    their there here he she his her him we us our you your i me my mine who whom which what where when why how
    as so than then too very just also only while next to front top bottom"""
)
FILLERS = _words(
    """photo photos photograph photographs picture pictures pic pics image images shot shots snapshot snapshots
    snap snaps show showing shows find search looking look lots lot kind sort type one"""
)
TEXT_WORDS = _words("text saying says reads reading written words word caption")
PEOPLE_WORDS = _words(
    "people persons person men women man woman kids children child boys girls guys friends faces face"
)
COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
COUNT_WORDS = {"couple": 2, "pair": 2, "several": 3, "group": 3, "crowd": 5, "many": 5}
COLORS = frozenset(name.lower() for name in SIMPLIFIED_COLORS) | {"grey"}
LONGEST_NAME = 4  # words in the longest name joined (``bicycle built for two``)

_TOKEN = re.compile(r'"[^"]*"|[^\W_][\w\'’-]*|[,.!?;]')
_SYNTAX = re.compile(r"[():<>]|(?:^|\s)-|\b(?:AND|OR|NOT)\b")


@dataclass
class FreeText:
    node: Node
    unknown: list[str] = field(default_factory=list)  # words that found nothing (left out of the node)


# Whether a word or name finds anything.
Knows = Callable[[str], bool]


def read(text: str, names: Knows, finds: Knows, structured: bool) -> FreeText | None:
    """The free-text reading of ``text``, or None when it is meant in the query language. ``names``: whether words
    are a known name (WordNet's or a label's: ``golden retriever``); ``finds``: whether a word finds any label,
    the sentence model included; ``structured``: whether the query language parses the text at all."""
    if _SYNTAX.search(text):
        return None
    tokens = _TOKEN.findall(text)
    if "".join(tokens).replace(" ", "") != "".join(text.split()):
        return None  # characters that are neither words nor separators: leave the error to the parser
    words = [token for token in tokens if token not in ",.!?;"]
    lowered = [word.lower() for word in words]
    if len(words) < 2 or "not" in lowered:
        return None
    if structured and not _means_more(lowered, names, finds):
        return None
    return _terms(words, names, finds)


def _means_more(words: list[str], names: Knows, finds: Knows) -> bool:
    """Whether plain words side by side mean more than the query language's AND of labels."""
    special = (STOP_WORDS - KEYWORDS) | FILLERS | COLORS | TEXT_WORDS | set(COUNTS) | set(COUNT_WORDS)
    if any(word in special or word.startswith('"') for word in words):
        return True
    if any(names(" ".join(words[i : i + 2])) for i in range(len(words) - 1)):
        return True
    return not all(finds(word) for word in words if word not in KEYWORDS)


def _terms(words: list[str], names: Knows, finds: Knows) -> FreeText:
    found: list[Node] = []
    unknown: list[str] = []
    position = 0
    i = 0
    while i < len(words):
        word, low = words[i], words[i].lower()
        position += 1
        if word.startswith('"'):
            phrase = " ".join(word.strip('"').split())
            if phrase:
                field_name = "text" if i > 0 and words[i - 1].lower() in TEXT_WORDS else "label"
                found.append(Term(phrase, field_name, position=position))
            i += 1
            continue
        name = _longest_name(words, i, names)
        if name > 1:
            found.append(Term(" ".join(words[i : i + name]), position=position))
            i += name
            continue
        count = COUNTS.get(low) or COUNT_WORDS.get(low)
        nxt = words[i + 1].lower() if i + 1 < len(words) else ""
        if count is not None and (nxt in PEOPLE_WORDS or (low in ("crowd", "group") and not nxt)):
            faces = Term("faces", op=">=", threshold=float(count), position=position)
            boxed = Term("people", "has", op=">=", threshold=float(count), position=position)
            found.append(Or((faces, boxed)))
            i += 2 if nxt in PEOPLE_WORDS else 1
            continue
        if low in COLORS:
            found.append(Term("gray" if low == "grey" else low, "color", position=position))
        elif low in TEXT_WORDS and i + 1 < len(words) and words[i + 1].startswith('"'):
            pass  # the quoted phrase after it is the text
        elif low in STOP_WORDS or low in FILLERS or low in COUNTS or low in COUNT_WORDS:
            pass
        elif finds(word):
            found.append(Term(word, position=position))
        else:
            unknown.append(word)
        i += 1
    unique = list(dict.fromkeys(found))
    if not unique:
        return FreeText(Term("", field="nothing"), unknown)
    node: Node = unique[0] if len(unique) == 1 else Some(tuple(unique))
    return FreeText(node, unknown)


def _longest_name(words: list[str], start: int, names: Knows) -> int:
    """How many words from ``start`` make the longest name that finds something (1 when none does)."""
    for size in range(min(LONGEST_NAME, len(words) - start), 1, -1):
        chunk = words[start : start + size]
        if any(w.startswith('"') or w.lower() in STOP_WORDS - {"of", "for", "in", "on"} for w in chunk):
            continue
        if chunk[0].lower() in STOP_WORDS or chunk[-1].lower() in STOP_WORDS or chunk[0].lower() in KEYWORDS:
            continue
        if names(" ".join(chunk)):
            return size
    return 1
