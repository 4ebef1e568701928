"""BERT's uncased WordPiece tokenizer, in pure Python, for the sentence-embedding model.

It does what the model's own tokenizer.json describes (BertNormalizer with lower case and accent stripping,
BertPreTokenizer, WordPiece with '##' continuations): drop control characters, turn every kind of space into
one, put spaces around CJK ideographs, strip accents (NFD, then drop nonspacing marks), lower-case; split on
spaces and on each punctuation character; then split each word greedily into the longest pieces of the
vocabulary, a word that cannot be split entirely becoming ``[UNK]``. tests/test_meaning.py checks its ids
against those of the reference tokenizer (recorded by scripts/export_sentence_model.py).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

__all__ = ["WordPiece"]

_MAX_WORD_CHARS = 100  # a longer word is [UNK] (max_input_chars_per_word)
_SPACES = frozenset({"Zs", "Zl", "Zp"})
_CJK = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


class WordPiece:
    def __init__(self, vocab_file: Path, max_tokens: int = 128) -> None:
        tokens = vocab_file.read_text(encoding="utf-8").split("\n")
        self.vocab: dict[str, int] = {token: i for i, token in enumerate(tokens) if token}
        self.max_tokens = max_tokens
        self.cls, self.sep, self.unk = self.vocab["[CLS]"], self.vocab["[SEP]"], self.vocab["[UNK]"]

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` with [CLS] and [SEP], at most ``max_tokens`` of them."""
        ids = [piece for word in _words(_normalize(text)) for piece in self._pieces(word)]
        return [self.cls, *ids[: self.max_tokens - 2], self.sep]

    def _pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk]
        pieces: list[int] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    pieces.append(self.vocab[piece])
                    start = end
                    break
            else:
                return [self.unk]
        return pieces


def _normalize(text: str) -> str:
    out = []
    for char in text:
        if char in "\t\n\r":
            out.append(" ")
            continue
        category = unicodedata.category(char)
        if char in "\x00\ufffd" or category.startswith("C"):
            continue  # control and format characters (zero-width space, soft hyphen, ...)
        if category in _SPACES:
            out.append(" ")
        elif any(low <= ord(char) <= high for low, high in _CJK):
            out.append(f" {char} ")
        else:
            out.append(char)
    decomposed = unicodedata.normalize("NFD", "".join(out))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").lower()


def _is_punctuation(char: str) -> bool:
    # ASCII symbols such as $ + < ^ ` | ~ count as punctuation too, as in BERT
    return (char.isascii() and not char.isalnum() and char.isprintable() and char != " ") or unicodedata.category(
        char
    ).startswith("P")


def _words(text: str) -> list[str]:
    words: list[str] = []
    for chunk in text.split():
        current = ""
        for char in chunk:
            if _is_punctuation(char):
                if current:
                    words.append(current)
                    current = ""
                words.append(char)
            else:
                current += char
        if current:
            words.append(current)
    return words
