"""Spaces the text recogniser dropped, put back: where the geometry shows a gap between two characters, then
where a dictionary shows a run of English words ("OPEN24HOURS" -> "OPEN 24 HOURS"), never inside an English word
("INVOICE" stays whole; WordNet's single-word lemmas, ``data/english_words.txt.gz``). Pieces of a split must be
common words in wordninja's frequency list. See ``text.py`` for the figures measured on rendered lines.
"""

from __future__ import annotations

import gzip
import itertools
import re
from functools import lru_cache
from importlib import resources

import numpy as np
import wordninja

GAP_FACTOR = 2.6  # a character gap this many times the line's median pitch is a space


def pitch(columns: list[float]) -> float:
    """The usual distance between neighbouring characters of a line (its median), as a fraction of the line."""
    gaps = [b - a for a, b in itertools.pairwise(columns) if b > a]
    return float(np.median(gaps)) if gaps else 0.05


# Short words accepted as pieces of a split (longer pieces must be common words of >= 3 letters).
SHORT_WORDS = frozenset(
    [
        "a",
        "i",
        "am",
        "an",
        "as",
        "at",
        "be",
        "by",
        "do",
        "go",
        "he",
        "if",
        "in",
        "is",
        "it",
        "me",
        "my",
        "no",
        "of",
        "on",
        "or",
        "so",
        "to",
        "up",
        "us",
        "we",
    ]
)
MAX_RANK = 15_000  # pieces must be among wordninja's this many most frequent words
PAIR_RANK = 5_000  # a rare token wordninja keeps whole is cut in two only into words this common
RARE_WHOLE = 20_000  # ... and only when the token itself is rarer than this (THANKYOU)
MIN_TOKEN = 5


@lru_cache(maxsize=1)
def _ranks() -> dict[str, int]:
    costs: dict[str, float] = wordninja.DEFAULT_LANGUAGE_MODEL._wordcost
    return {word: rank for rank, word in enumerate(sorted(costs, key=costs.__getitem__))}


def _common(word: str, limit: int = MAX_RANK) -> bool:
    return _ranks().get(word.lower(), limit) < limit


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    """Single-word English lemmas (WordNet 3.0, made by scripts/build_wordlist.py)."""
    raw = resources.files("pixlens.analysis.data").joinpath("english_words.txt.gz").read_bytes()
    return frozenset(gzip.decompress(raw).decode().split())


def is_english_word(token: str) -> bool:
    """A dictionary word, or a plain inflection of one (invoices, parked, parking)."""
    word, words = token.lower(), _english()
    if word in words:
        return True
    for suffix, stem_end in (("s", ""), ("es", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"), ("ly", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and word[: -len(suffix)] + stem_end in words:
            return True
    return False


def split_token(token: str) -> list[str]:
    """A token written without its spaces -> its words, or ``[token]`` when the dictionary is not sure."""
    if len(token) < MIN_TOKEN or not re.fullmatch(r"[A-Za-z0-9]+", token) or not re.search(r"[A-Za-z]{3}", token):
        return [token]
    if token.isalpha() and is_english_word(token):
        return [token]  # INVOICE is a word, not IN VOICE
    if not (token.isupper() or token.islower() or token.istitle() or token.isdigit()):
        return [token]  # camelCase and the like (iPhone, McDonald) are written that way on purpose
    pieces: list[str] = []
    for piece in wordninja.split(token):  # and a rare piece wordninja keeps whole may be two words (THANKYOU)
        pieces += _pair(piece) if piece.isalpha() and not _common(piece, RARE_WHOLE) else [piece]
    if len(pieces) < 2 or "".join(pieces).lower() != token.lower():
        return [token]
    for piece in pieces:
        if piece.isdigit():
            continue
        if not piece.isalpha():
            return [token]
        if piece.lower() not in SHORT_WORDS and (len(piece) < 3 or not _common(piece)):
            return [token]
    # wordninja lower-cases nothing, but keep the original letters anyway.
    out, at = [], 0
    for piece in pieces:
        out.append(token[at : at + len(piece)])
        at += len(piece)
    return out


def _pair(token: str) -> list[str]:
    """The best cut of ``token`` into two very common words, or ``[token]``."""
    ranks = _ranks()
    best: tuple[int, list[str]] = (PAIR_RANK * 2, [token])
    for cut in range(1, len(token)):
        head, tail = token[:cut].lower(), token[cut:].lower()
        if any(len(part) < 3 and part not in SHORT_WORDS for part in (head, tail)):
            continue
        cost = ranks.get(head, PAIR_RANK) + ranks.get(tail, PAIR_RANK)
        if ranks.get(head, PAIR_RANK) < PAIR_RANK and ranks.get(tail, PAIR_RANK) < PAIR_RANK and cost < best[0]:
            best = (cost, [token[:cut], token[cut:]])
    return best[1]


def _geometric_spaces(text: str, columns: list[float]) -> str:
    """Insert a space where two characters lie much further apart than the line's usual pitch."""
    if len(text) < 4 or len(columns) != len(text):
        return text
    usual = pitch(columns)
    out = [text[0]]
    last_space = 0
    for i in range(1, len(text)):
        before, here = text[i - 1], text[i]
        gap = columns[i] - columns[i - 1]
        if (
            before.isalnum()
            and here.isalnum()
            and gap > GAP_FACTOR * usual
            and i - last_space >= 2
            and len(text) - i >= 2
            and not text[i : i + 2].count(" ")
        ):
            out.append(" ")
            last_space = i
        elif before == " ":
            last_space = i
        out.append(here)
    return "".join(out)


def restore_spaces(text: str, columns: list[float] | None = None) -> str:
    """Put back the spaces the recogniser dropped: where the geometry shows a gap, then where the dictionary
    shows a run of common English words. Never removes or changes a character."""
    text = " ".join(text.split()) if columns is None else text
    if columns is not None:
        text = _geometric_spaces(text, columns)
    parts = []
    for token in re.split(r"(\s+)", text):
        if not token or token.isspace():
            parts.append(token)
            continue
        found = re.fullmatch(r"(\W*)(.*?)(\W*)", token)
        assert found is not None
        head, core, tail = found.groups()
        parts.append(head + " ".join(split_token(core)) + tail)
    return " ".join("".join(parts).split())
