"""File names as keys, losslessly, and keys as people may safely see them.

A key is text (the catalog, JSON and HTTP need valid Unicode), but a file name on Linux is bytes and need not be
UTF-8. Each byte that does not decode is kept as one private-use character, U+F780 to U+F7FF (the byte plus
U+F700), so that the key names exactly one file and leads back to it. A name that already holds characters of
that range has their bytes escaped the same way, which keeps the mapping one-to-one for every name.
"""

from __future__ import annotations

import os

ESCAPE_BASE = 0xF700
ESCAPED = range(ESCAPE_BASE + 0x80, ESCAPE_BASE + 0x100)
SURROGATE_BASE = 0xDC00  # how Python's file functions hand over an undecodable byte (surrogateescape)


def key_from_name(name: str) -> str:
    """The key for a relative path as ``os`` functions return it (undecodable bytes as lone surrogates)."""
    if name.isascii():
        return name
    pieces: list[str] = []
    for char in name:
        if ord(char) in ESCAPED:
            pieces.extend(chr(ESCAPE_BASE + byte) for byte in char.encode("utf-8"))
        else:
            pieces.append(_escaped_byte(char))
    return "".join(pieces)


def key_from_argument(text: str) -> str:
    """A key as a person or a script passes it on a command line: raw bytes typed in a shell (undecodable, so lone
    surrogates) become their escapes; a key copied from pixlens's own output is already one and stays as it is."""
    return text if text.isascii() else "".join(_escaped_byte(char) for char in text)


def _escaped_byte(char: str) -> str:
    """An undecodable byte as Python hands it over (a lone surrogate) as its escape; any other character as is."""
    code = ord(char)
    return chr(ESCAPE_BASE + code - SURROGATE_BASE) if SURROGATE_BASE + 0x80 <= code < SURROGATE_BASE + 0x100 else char


def name_from_key(key: str) -> str:
    """The relative path for a key, as ``os`` functions take it (the inverse of :func:`key_from_name`)."""
    if key.isascii() or not any(ord(char) in ESCAPED for char in key):
        return key
    raw = bytearray()
    for char in key:
        code = ord(char)
        raw += bytes([code - ESCAPE_BASE]) if code in ESCAPED else char.encode("utf-8")
    return os.fsdecode(bytes(raw))


def printable(key: str) -> str:
    r"""The key for a terminal or a log: escaped bytes as ``\xNN``, control and format characters (escape
    sequences, right-to-left overrides, new lines) as ``\xNN`` or ``\uNNNN``; everything else as it is."""
    if key.isprintable() and not any(ord(char) in ESCAPED for char in key):
        return key
    shown = []
    for char in key:
        code = ord(char)
        if code in ESCAPED:
            shown.append(f"\\x{code - ESCAPE_BASE:02x}")
        elif not char.isprintable():
            shown.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            shown.append(char)
    return "".join(shown)
