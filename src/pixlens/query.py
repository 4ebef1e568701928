"""The search query language: a small tokenizer and recursive-descent parser.

This module only turns text into a tree (:class:`Term`, :class:`Not`, :class:`And`, :class:`Or`);
running the tree against the catalog is someone else's job. The language is documented for users
in ``docs/SEARCH.md``; the grammar, with ``NOT`` binding tighter than ``AND`` and ``AND`` tighter
than ``OR``, is::

    query    := or_expr EOF
    or_expr  := and_expr ( "OR" and_expr )*
    and_expr := unary ( "AND"? unary )*          # two terms side by side mean AND
    unary    := ( "NOT" | "-" ) unary | primary
    primary  := "(" or_expr ")" | term
    term     := [ FIELD ":" ] ( WORD | QUOTED ) [ ( ">=" | ">" | "<=" | "<" ) NUMBER ]
              | FIELD ":" VALUE                    # a field of RAW_VALUE_FIELDS: taken:2019..2021, near:48.85,2.35,5km
              | FIELD ( ">=" | ">" | "<=" | "<" ) VALUE    # a field of COMPARED_FIELDS: taken>2020-01-01, width>1000

Such field values are checked as they are read (``field_values.py``), so that an error points into the value; those
fields take no confidence threshold. They exist only when the caller's ``fields`` name them.

Every problem raises :class:`~pixlens.errors.QueryError` with the 0-based position of the problem.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Final

from pixlens.errors import QueryError
from pixlens.field_values import FieldValueError, check

__all__ = [
    "KEYWORDS",
    "KNOWN_FIELDS",
    "MAX_DEPTH",
    "MAX_QUERY_LENGTH",
    "And",
    "Node",
    "Not",
    "Or",
    "Some",
    "Term",
    "parse",
    "terms",
    "to_string",
]

KNOWN_FIELDS: Final[frozenset[str]] = frozenset({"label", "category"})
"""Field names accepted before a ``:`` by default; callers pass a larger set as support grows."""

DEFAULT_FIELD: Final = "label"
"""The field of a term written without a ``field:`` prefix."""

KEYWORDS: Final[frozenset[str]] = frozenset({"and", "or", "not"})
"""Bare words that are operators (in any case); to search for one as a label, quote it."""

MAX_QUERY_LENGTH: Final = 1000
"""Longest query accepted, in characters."""

MAX_DEPTH: Final = 32
"""Deepest nesting of parentheses and ``NOT``/``-`` accepted."""

COMPARISONS: Final = (">=", ">", "<=", "<")

RAW_VALUE_FIELDS: Final[frozenset[str]] = frozenset({"taken", "near"})
"""Fields whose value after ``:`` runs to the next space, parenthesis, quote or comparison (dots, commas, signs)."""

COMPARED_FIELDS: Final[frozenset[str]] = frozenset({"taken", "width", "height"})
"""Fields compared to a value (``taken>2020-01-01``): the comparison is the term's ``op``, the value its ``value``."""

CHECKED_FIELDS: Final[frozenset[str]] = RAW_VALUE_FIELDS | COMPARED_FIELDS | {"orientation"}
"""Fields whose values are checked as they are read; they take no confidence threshold."""

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)")
_WORD_EXTRA = frozenset("-'_")
# Characters that end the text of a threshold number or of a raw field value (besides whitespace).
_NUMBER_END = frozenset('()"<>')
_HINTS: Final[dict[str, str]] = {
    "=": "write a threshold as dog>=80",
    "&": "write AND",
    "|": "write OR",
    "!": "write NOT or -",
    "\u201c": 'use straight double quotes "..."',
    "\u201d": 'use straight double quotes "..."',
    "\u201e": 'use straight double quotes "..."',
}


# --- the tree ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Term:
    """One label to look for, with an optional field and confidence threshold.

    ``value`` is stripped with inner whitespace collapsed, otherwise as typed (case kept; callers lowercase).
    ``position`` is where the term starts in the query; it is not part of equality or the hash, so that
    the same query typed with different spacing gives equal trees.
    """

    value: str
    field: str = DEFAULT_FIELD
    op: str | None = None
    threshold: float | None = None
    position: int = dataclasses.field(default=0, compare=False)


@dataclasses.dataclass(frozen=True)
class Not:
    """Images that do not match ``operand``."""

    operand: Node


@dataclasses.dataclass(frozen=True)
class And:
    """Images that match every operand. The parser flattens nested ANDs; there are always two or more."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.operands) < 2:
            raise ValueError("And needs at least two operands")


@dataclasses.dataclass(frozen=True)
class Or:
    """Images that match any operand. The parser flattens nested ORs; there are always two or more."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.operands) < 2:
            raise ValueError("Or needs at least two operands")


@dataclasses.dataclass(frozen=True)
class Some:
    """Images that match at least one operand, ranked by how many match and how well: the score is the mean of
    every operand's score, 0 where it does not match. What free text (``a dog on a beach``) is read as; the
    query language has no syntax for it."""

    operands: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.operands) < 2:
            raise ValueError("Some needs at least two operands")


Node = Term | Not | And | Or | Some


# --- tokens -----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str  # "term", "and", "or", "not", "(", ")", "cmp", "eof"
    pos: int
    text: str
    term: Term | None = None
    threshold: float | None = None


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in _WORD_EXTRA or unicodedata.category(ch).startswith("M")


def _starts_word(ch: str) -> bool:
    """Whether a bare word may start with ``ch`` (a leading ``-`` means NOT, so it cannot)."""
    return ch != "-" and _is_word_char(ch)


def _normalise(text: str) -> str:
    return " ".join(text.split())


class _Tokenizer:
    def __init__(self, query: str, fields: AbstractSet[str]) -> None:
        self.query = query
        self.fields = frozenset(f.lower() for f in fields)
        self.tokens: list[_Token] = []

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)

    def run(self) -> list[_Token]:
        q = self.query
        n = len(q)
        i = 0
        while i < n:
            ch = q[i]
            if ch.isspace():
                i += 1
            elif ch in "()":
                self.tokens.append(_Token(ch, i, ch))
                i += 1
            elif ch == '"':
                i = self.quoted(i, DEFAULT_FIELD, i)
            elif ch in "<>":
                i = self.comparison(i)
            elif ch == "-":
                nxt = q[i + 1] if i + 1 < n else ""
                if not nxt or not (nxt in '("' or _starts_word(nxt)):
                    raise self.error("'-' must be directly followed by a term, as in -cat", i)
                self.tokens.append(_Token("not", i, "-"))
                i += 1
            elif _starts_word(ch):
                i = self.word(i)
            else:
                hint = _HINTS.get(ch)
                message = f"unexpected character {ch!r}" + (f"; {hint}" if hint else "")
                raise self.error(message, i)
        self.tokens.append(_Token("eof", n, ""))
        return self.tokens

    def scan_word(self, i: int) -> int:
        n = len(self.query)
        while i < n and _is_word_char(self.query[i]):
            i += 1
        return i

    def word(self, start: int) -> int:
        q = self.query
        end = self.scan_word(start)
        text = q[start:end]
        if end < len(q) and q[end] == ":":
            return self.field_value(start, text, end + 1)
        if text.lower() in COMPARED_FIELDS and text.lower() in self.fields:
            op_at = self.skip_space(end)
            if op_at < len(q) and q[op_at] in "<>":
                return self.compared(start, text.lower(), op_at)
        if text.lower() in KEYWORDS:
            self.tokens.append(_Token(text.lower(), start, text))
        else:
            self.tokens.append(_Token("term", start, text, Term(text, DEFAULT_FIELD, position=start)))
        return end

    def field_value(self, start: int, name: str, i: int) -> int:
        field = name.lower()
        if field not in self.fields:
            known = ", ".join(sorted(self.fields)) or "none"
            raise self.error(f"unknown field {name!r} (known: {known})", start)
        q = self.query
        if i < len(q) and q[i] == '"':
            return self.quoted(i, field, start)
        if field in RAW_VALUE_FIELDS and i < len(q) and not q[i].isspace() and q[i] not in _NUMBER_END:
            end = self.scan_value(i)
            self.check_value(field, q[i:end], None, i)
            self.tokens.append(_Token("term", start, q[start:end], Term(q[i:end], field, position=start)))
            return end
        if i < len(q) and _starts_word(q[i]):
            end = self.scan_word(i)
            self.check_value(field, q[i:end], None, i)
            term = Term(q[i:end], field, position=start)
            self.tokens.append(_Token("term", start, q[start:end], term))
            return end
        raise self.error(f"'{name}:' must be directly followed by a word or a quoted phrase", i)

    def skip_space(self, i: int) -> int:
        while i < len(self.query) and self.query[i].isspace():
            i += 1
        return i

    def scan_value(self, i: int) -> int:
        while i < len(self.query) and not self.query[i].isspace() and self.query[i] not in _NUMBER_END:
            i += 1
        return i

    def check_value(self, field: str, value: str, op: str | None, at: int) -> None:
        """Refuse a malformed value of a checked field, pointing into it (``at``: where the value starts)."""
        if field in CHECKED_FIELDS:
            try:
                check(field, value, op)
            except FieldValueError as problem:
                raise self.error(problem.message, at + problem.offset) from None

    def compared(self, start: int, field: str, i: int) -> int:
        """``field>value``: a comparison of a field's value (a date, a number of pixels), not a confidence."""
        q = self.query
        op = q[i] + ("=" if i + 1 < len(q) and q[i + 1] == "=" else "")
        at = self.skip_space(i + len(op))
        end = self.scan_value(at)
        if at == end:
            example = "2020-01-01" if field == "taken" else "1000"
            raise self.error(f"missing value after '{op}', as in {field}{op}{example}", at)
        self.check_value(field, q[at:end], op, at)
        term = Term(q[at:end], field, op=op, position=start)
        self.tokens.append(_Token("term", start, q[start:end], term))
        return end

    def quoted(self, i: int, field: str, start: int) -> int:
        close = self.query.find('"', i + 1)
        if close < 0:
            raise self.error('unterminated quote: add a closing "', i)
        value = _normalise(self.query[i + 1 : close])
        if not value:
            raise self.error("empty quoted label", i)
        self.check_value(field, value, None, i + 1)
        term = Term(value, field, position=start)
        self.tokens.append(_Token("term", start, self.query[start : close + 1], term))
        return close + 1

    def comparison(self, i: int) -> int:
        q = self.query
        n = len(q)
        op = q[i]
        if i + 1 < n and q[i + 1] == "=":
            op += "="
        j = i + len(op)
        while j < n and q[j].isspace():
            j += 1
        end = j
        while end < n and not q[end].isspace() and q[end] not in _NUMBER_END:
            end += 1
        text = q[j:end]
        if not text:
            raise self.error(f"missing threshold after '{op}': write a number from 0 to 100, as in dog{op}80", j)
        if not _NUMBER.fullmatch(text):
            raise self.error(f"threshold must be a number from 0 to 100, not {text!r}", j)
        value = float(text) + 0.0  # + 0.0 turns -0.0 into 0.0
        if not 0.0 <= value <= 100.0:
            raise self.error(f"threshold must be between 0 and 100, not {text}", j)
        self.tokens.append(_Token("cmp", i, op, threshold=value))
        return end


# --- parser -----------------------------------------------------------------------------------------------


def _name(tok: _Token) -> str:
    if tok.kind in KEYWORDS:
        return tok.kind.upper() if tok.text != "-" else "'-'"
    if tok.kind == "eof":
        return "the end of the query"
    return repr(tok.text)


class _Parser:
    def __init__(self, query: str, tokens: list[_Token]) -> None:
        self.query = query
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    def error(self, message: str, position: int) -> QueryError:
        return QueryError(message, self.query, position)

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def enter(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"query is nested too deeply (more than {MAX_DEPTH} levels)", tok.pos)

    def parse(self) -> Node:
        node = self.or_expr(None)
        tok = self.peek()
        if tok.kind != "eof":  # pragma: no cover - parentheses are balanced before parsing
            raise self.error(f"unexpected {_name(tok)}", tok.pos)
        return node

    def or_expr(self, owner: _Token | None) -> Node:
        operands = [self.and_expr(owner)]
        while self.peek().kind == "or":
            operands.append(self.and_expr(self.advance()))
        return _combine(Or, operands)

    def and_expr(self, owner: _Token | None) -> Node:
        operands = [self.unary(owner)]
        while True:
            tok = self.peek()
            if tok.kind == "and":
                operands.append(self.unary(self.advance()))
            elif tok.kind in ("term", "not", "("):
                operands.append(self.unary(None))
            elif tok.kind == "cmp":
                raise self.error(
                    f"'{tok.text}' must directly follow a label, as in dog{tok.text}80; it cannot apply to a group",
                    tok.pos,
                )
            else:
                return _combine(And, operands)

    def unary(self, owner: _Token | None) -> Node:
        """Parse one operand; ``owner`` is the operator or '(' that asked for it (None if implicit)."""
        self.expect_operand(owner)
        tok = self.peek()
        if tok.kind == "not":
            self.advance()
            self.enter(tok)
            operand = self.unary(tok)
            self.depth -= 1
            return Not(operand)
        return self.primary()

    def expect_operand(self, owner: _Token | None) -> None:
        tok = self.peek()
        if tok.kind in ("term", "not", "("):
            return
        if tok.kind == "cmp":
            raise self.error(f"'{tok.text}' must directly follow a label, as in dog{tok.text}80", tok.pos)
        if owner is not None and owner.kind in KEYWORDS:
            raise self.error(f"{_name(owner)} needs a term after it, not {_name(tok)}", owner.pos)
        if owner is not None and owner.kind == "(" and tok.kind == ")":
            raise self.error("empty parentheses", owner.pos)
        if tok.kind in ("and", "or"):
            raise self.error(
                f'{_name(tok)} needs a term before it; to search for the word itself, quote it: "{tok.text}"',
                tok.pos,
            )
        raise self.error(f"expected a term, not {_name(tok)}", tok.pos)  # pragma: no cover

    def primary(self) -> Node:
        tok = self.advance()
        if tok.kind == "(":
            self.enter(tok)
            node = self.or_expr(tok)
            close = self.peek()
            if close.kind != ")":  # pragma: no cover - parentheses are balanced before parsing
                raise self.error("unmatched '('", tok.pos)
            self.advance()
            self.depth -= 1
            return node
        assert tok.term is not None
        term = tok.term
        if self.peek().kind == "cmp" and term.field in CHECKED_FIELDS:
            cmp = self.peek()
            if term.op is not None:
                hint = "taken:A..B" if term.field == "taken" else f"{term.field}>A {term.field}<B"
                raise self.error(f"'{term.field}' takes one comparison; for a range write {hint}", cmp.pos)
            raise self.error(f"'{term.field}:' takes no threshold", cmp.pos)
        if self.peek().kind == "cmp":
            cmp = self.advance()
            term = dataclasses.replace(term, op=cmp.text, threshold=cmp.threshold)
            again = self.peek()
            if again.kind == "cmp":
                raise self.error(
                    "a label can have only one threshold; to ask for a range, repeat the label: dog>=50 dog<=80",
                    again.pos,
                )
        return term


def _combine(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    if len(operands) == 1:
        return operands[0]
    flat: list[Node] = []
    for operand in operands:
        if isinstance(operand, kind):
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return kind(tuple(flat))


def _check_parentheses(query: str, tokens: list[_Token]) -> None:
    open_positions: list[int] = []
    for tok in tokens:
        if tok.kind == "(":
            open_positions.append(tok.pos)
        elif tok.kind == ")":
            if not open_positions:
                raise QueryError("unmatched ')'", query, tok.pos)
            open_positions.pop()
    if open_positions:
        raise QueryError("unmatched '(': add a closing ')'", query, open_positions[0])


# --- public functions -------------------------------------------------------------------------------------


def parse(query: str, fields: AbstractSet[str] = KNOWN_FIELDS) -> Node:
    """Parse a search query into a tree.

    ``fields`` are the field names accepted before a ``:`` (compared case-insensitively); a word without
    a field searches the ``label`` field. Raises :class:`QueryError` with the position of the problem.
    """
    if len(query) > MAX_QUERY_LENGTH:
        raise QueryError(
            f"query is too long ({len(query)} characters; at most {MAX_QUERY_LENGTH})",
            query,
            MAX_QUERY_LENGTH,
        )
    if not query.strip():
        raise QueryError("empty query", query, 0)
    tokens = _Tokenizer(query, fields).run()
    _check_parentheses(query, tokens)
    return _Parser(query, tokens).parse()


def terms(node: Node) -> list[Term]:
    """Every term in the tree, left to right."""
    found: list[Term] = []
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Term):
            found.append(current)
        elif isinstance(current, Not):
            stack.append(current.operand)
        else:
            stack.extend(reversed(current.operands))
    return found


def to_string(node: Node) -> str:
    """The canonical text of a tree: explicit ``AND``/``OR``/``NOT``, parentheses only where needed.

    ``parse(to_string(node)) == node`` for every tree that :func:`parse` can produce. Raises
    ``ValueError`` for a tree that no query can express (say a label containing a double quote).
    """
    if isinstance(node, Term):
        return _term_to_string(node)
    if isinstance(node, Not):
        inner = to_string(node.operand)
        return f"NOT ({inner})" if isinstance(node.operand, And | Or) else f"NOT {inner}"
    if isinstance(node, Some):
        raise ValueError("free text has no form in the query language")
    if isinstance(node, And):
        return " AND ".join(f"({to_string(op)})" if isinstance(op, And | Or) else to_string(op) for op in node.operands)
    return " OR ".join(f"({to_string(op)})" if isinstance(op, Or) else to_string(op) for op in node.operands)


def _is_bare_word(value: str) -> bool:
    return (
        bool(value)
        and _starts_word(value[0])
        and all(_is_word_char(ch) for ch in value)
        and value.lower() not in KEYWORDS
    )


def _is_raw(value: str) -> bool:
    return bool(value) and not any(ch.isspace() or ch in _NUMBER_END for ch in value)


def _term_to_string(term: Term) -> str:
    value = _normalise(term.value)
    if not value or '"' in term.value:
        raise ValueError(f"label {term.value!r} cannot be written in a query")
    if term.field in COMPARED_FIELDS and term.op in COMPARISONS and term.threshold is None and _is_raw(value):
        return f"{term.field}{term.op}{value}"
    raw = term.field in RAW_VALUE_FIELDS and _is_raw(value)
    text = value if _is_bare_word(value) or raw else f'"{value}"'
    if term.field != DEFAULT_FIELD:
        if not _is_bare_word(term.field):
            raise ValueError(f"field {term.field!r} cannot be written in a query")
        text = f"{term.field}:{text}"
    if term.op is None and term.threshold is None:
        return text
    if term.op not in COMPARISONS or term.threshold is None or not 0.0 <= term.threshold <= 100.0:
        raise ValueError(f"threshold {term.op}{term.threshold} cannot be written in a query")
    return f"{text}{term.op}{_format_number(term.threshold)}"


def _format_number(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")
