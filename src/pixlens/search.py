"""Search: query text -> parsed query -> index entries through the taxonomy -> catalog query.

A word names labels through the lexicon (every English noun of WordNet, then a sentence model: "cars",
"automobile" -> Car, "flower" -> Daisy, "kitten" -> Cat), each with a weight that scales the confidences it ranks
by. Parents need no expansion: the index holds every image's labels *and* their parents, so "vehicle" is one index
read that finds cars, buses and bicycles. A word that the lexicon does not know may still be a label in the
catalog. A query that is not meant in the query language is read as free text (``freetext.py``).

Fields name the other facets (``catalog/facets.py``): ``category:``, ``color:``, ``text:`` (full text),
``person:`` (a person's name or number), ``faces>=2`` (the number of faces), ``has:text`` / ``has:faces`` /
``has:people>=2`` (the number of people boxed), ``is:safe`` / ``is:unsafe``, ``is:screenshot``. Unsafe
images are left out unless the query mentions ``is:`` (a setting). When, where and which camera (``taken:``,
``place:``, ``near:``, ``camera:``, ``width>``...) are ``when_where.py``'s.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import hashlib
import json
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from pixlens import freetext, when_where
from pixlens.analysis.colors import SIMPLIFIED_COLORS
from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog import facets
from pixlens.catalog.base import Catalog, Hit, Resolved
from pixlens.catalog.sqlplan import TEXT
from pixlens.errors import CursorError, QueryError
from pixlens.lexicon import Lexicon
from pixlens.query import And, Node, Not, Term, parse, terms

SEARCH_FIELDS = frozenset({"label", "category", "text", "color", "person", "is", "has", *when_where.FIELDS})
HAS = {"text": facets.HAS_TEXT, "faces": facets.FACES, "face": facets.FACES, "people": facets.HAS_PEOPLE}
UNSAFE = "explicit nudity"  # the moderation label whose confidence decides is:unsafe
SAFETY = frozenset({"safe", "unsafe"})  # is: words that ask about safety (and so show unsafe images)
FACE_WORDS = frozenset({"face", "faces"})


# An empty query matches every image (NOT a term that matches none), newest first: a gallery of everything.
NOTHING = Term("", field="nothing")
EVERYTHING = Not(NOTHING)
FACET_LABELS = 200  # the most frequent labels counted over a result (each costs one bitmap intersection)
FACET_PEOPLE = 100


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    unknown: dict[str, list[str]] = field(default_factory=dict)  # term -> suggestions
    next_cursor: str | None = None  # where the next page starts (None: this is the last)


@dataclass
class Facets:
    """Counts over a whole result: what a user can refine it by."""

    labels: list[tuple[str, int]]
    categories: list[tuple[str, int]]
    colors: list[tuple[str, int]]
    people: list[tuple[int, str | None, int]]
    has_text: int
    faces: int


def encode_cursor(query: str, place: tuple[float, int]) -> str:
    """An opaque token for "the hits ranked below this one", bound to its query."""
    raw = json.dumps([place[0], place[1], _fingerprint(query)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(query: str, cursor: str) -> tuple[float, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, image_id, fingerprint = json.loads(raw)
        if isinstance(score, bool) or isinstance(image_id, bool) or not isinstance(image_id, int):
            raise TypeError("not a place")
        place = (float(score), image_id)
        if not math.isfinite(place[0]) or not 0 <= place[1] < 2**63:
            raise ValueError("not a place")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise CursorError("malformed cursor: pass back the NextCursor of the previous page unchanged") from None
    if fingerprint != _fingerprint(query):
        raise CursorError("this cursor belongs to another query: pass it back with the same q") from None
    return place


def _fingerprint(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        taxonomy: Taxonomy,
        catalog_labels: list[str] | None = None,
        people: Callable[[str], list[int]] | None = None,
        unsafe_from: float = 50.0,
        hide_unsafe: bool = False,
        lexicon: Lexicon | None = None,
    ) -> None:
        self.catalog = catalog
        self.taxonomy = taxonomy
        self.lexicon = lexicon or Lexicon.load()
        self.people = people or (lambda name: [])
        self.unsafe_from = unsafe_from
        self.hide_unsafe = hide_unsafe
        self._catalog_labels = {name.casefold(): name for name in (catalog_labels or [])}
        # The taxonomy's categories, and those the catalog holds that it lacks (Rekognition's own, say).
        held = [entry.removeprefix(facets.CATEGORY) for entry in catalog.entries(facets.CATEGORY)]
        self._categories = {category.casefold(): category for category in (*held, *taxonomy.categories)}
        self._when_where = when_where.Resolver(catalog.entries)
        self._understood = functools.lru_cache(maxsize=256)(self._understand)

    def resolve(self, term: Term) -> Resolved:
        """The index entries one term matches; label words with the weight of what they mean (see lexicon.py)."""
        value = term.value.casefold()
        if term == NOTHING:
            return []
        if term.field in when_where.FIELDS or term.field == when_where.SIZE_FIELD:
            return self._when_where.resolve(term)
        if term.field == "category":
            return [facets.CATEGORY + name for key, name in sorted(self._categories.items()) if value in key]
        if term.field == "text":
            return [TEXT + term.value]
        if term.field == "color":
            return [facets.COLOR + value]
        if term.field == "moderation":
            return [facets.MODERATION + value]
        if term.field == "has":
            return [HAS[value]] if value in HAS else []
        if term.field == "is":
            return [facets.SCREENSHOT] if value == "screenshot" else []
        if term.field == "person":
            return [f"{facets.PERSON}{person}" for person in self.people(unicodedata.normalize("NFC", term.value))]
        if value in FACE_WORDS:
            return [facets.FACES]
        found: dict[str, float] = {}
        for match in self.lexicon.lookup(term.value):
            found[match.label] = max(found.get(match.label, 0.0), match.weight)
        own = self._catalog_labels.get(value)
        if own is not None:
            found[own] = 1.0
        return found

    def search(self, text: str, limit: int = 20, offset: int = 0, cursor: str | None = None) -> SearchResult:
        """Parse and run a query; a page starts ``offset`` hits after the ``cursor`` (a previous page's
        ``next_cursor``) or the top. Raises QueryError for a malformed query, CursorError for a bad cursor."""
        after = decode_cursor(text, cursor) if cursor else None
        node, dropped = self.read(text)
        hits, total = self.catalog.page(node, self.resolve, limit=limit + 1, offset=offset, after=after)
        more, hits = len(hits) > limit, hits[:limit]
        last = hits[-1].place if more and hits else None
        following = encode_cursor(text, last) if last is not None else None
        return SearchResult(text, hits, total, self._unknown(node, dropped), following)

    def unknown(self, text: str) -> dict[str, list[str]]:
        """The words of a query that find nothing, with suggestions. Raises QueryError for a malformed query."""
        return self._unknown(*self.read(text))

    def _unknown(self, node: Node, dropped: list[str]) -> dict[str, list[str]]:
        found = {term.value: self.suggest(term) for term in terms(node) if term != NOTHING and not self.resolve(term)}
        return found | {word: self.suggest(Term(word)) for word in dropped}

    def parse(self, text: str) -> Node:
        """The query as the catalog runs it (``plan``ned). Raises QueryError, with the query, for a malformed one."""
        return self.read(text)[0]

    def read(self, text: str) -> tuple[Node, list[str]]:
        """The query as the catalog runs it, in the query language or as free text (``freetext.py``), and the
        words of free text that find nothing (left out). Raises QueryError, with the query, for a malformed one."""
        if not text.strip():
            return self.plan(EVERYTHING), []
        tree, dropped = self._understood(text)
        try:
            return self.plan(tree), dropped
        except QueryError as exc:
            raise QueryError(exc.message, text, exc.position) from None

    def _understand(self, text: str) -> tuple[Node, list[str]]:
        """The tree of a query before ``plan`` (which depends on the catalog now), its free text read; kept per
        searcher (a page and its facets, the next page) by ``_understood``."""
        try:
            spaced = freetext.spaced(text)
            free = freetext.loosen(parse(spaced, SEARCH_FIELDS), spaced, self)
        except QueryError as exc:
            raise QueryError(exc.message, text, exc.position) from None
        return free.node, free.unknown

    # -- the vocabulary free text reads words with ----
    def names(self, words: str) -> bool:
        """Whether words are one name: a WordNet noun that finds labels, or a label of the catalog."""
        return self.lexicon.knows(words) or words.casefold() in self._catalog_labels

    def finds(self, word: str) -> bool:
        return word.casefold() in FACE_WORDS or bool(self.resolve(Term(word)))

    def place(self, word: str) -> bool:
        return bool(self._when_where.places_named(word))

    def facets(self, text: str, labels: list[str], people: list[tuple[int, str | None]]) -> Facets:
        """Counts over all the hits of a query: ``labels`` (the most frequent first) and ``people`` are the
        candidates counted."""
        categories = [facets.CATEGORY + name for name in sorted(self.taxonomy.categories)]
        colors = [facets.COLOR + name.lower() for name in SIMPLIFIED_COLORS]
        persons = [f"{facets.PERSON}{person_id}" for person_id, _ in people[:FACET_PEOPLE]]
        entries = [*labels[:FACET_LABELS], *categories, *colors, *persons, facets.HAS_TEXT, facets.FACES]
        counts = self.catalog.facets(self.parse(text), self.resolve, entries)

        def counted(names: list[str], prefix: str = "") -> list[tuple[str, int]]:
            found = [(name.removeprefix(prefix), counts.get(name, 0)) for name in names]
            return sorted(((name, count) for name, count in found if count), key=lambda item: (-item[1], item[0]))

        named = {f"{facets.PERSON}{person_id}": (person_id, name) for person_id, name in people}
        return Facets(
            labels=counted(labels[:FACET_LABELS]),
            categories=counted(categories, facets.CATEGORY),
            colors=counted(colors, facets.COLOR),
            people=[(*named[entry], count) for entry, count in counted(persons)],
            has_text=counts.get(facets.HAS_TEXT, 0),
            faces=counts.get(facets.FACES, 0),
        )

    def plan(self, node: Node) -> Node:
        """Rewrite ``is:`` terms into moderation thresholds, and leave unsafe images out unless asked for."""
        asked = any(term.field == "is" and term.value.casefold() in SAFETY for term in terms(node))
        node = self._rewrite(node)
        # A range count first: with no unsafe image in the catalog the filter would only cost time.
        if self.hide_unsafe and not asked and self.catalog.count(self._unsafe(), self.resolve) > 0:
            unsafe = Not(self._unsafe())
            node = And((*node.operands, unsafe)) if isinstance(node, And) else And((node, unsafe))
        return node

    def _rewrite(self, node: Node) -> Node:
        if isinstance(node, Term):
            if node.field in when_where.FIELDS:
                return when_where.rewrite(node)
            if node.field == "has" and node.value.casefold() not in HAS:
                known = ", ".join(f"has:{name}" for name in HAS)
                raise QueryError(f"unknown has:{node.value} (known: {known})", position=node.position)
            if node.field != "is" or node.value.casefold() == "screenshot":
                return node
            if node.value.casefold() == "unsafe":
                return self._unsafe()
            if node.value.casefold() == "safe":
                return Not(self._unsafe())
            raise QueryError(
                f"unknown is:{node.value} (known: is:safe, is:unsafe, is:screenshot)", position=node.position
            )
        if isinstance(node, Not):
            return Not(self._rewrite(node.operand))
        rewritten = tuple(self._rewrite(operand) for operand in node.operands)
        return type(node)(rewritten)

    def _unsafe(self) -> Term:
        return Term(UNSAFE, field="moderation", op=">=", threshold=self.unsafe_from)

    def suggest(self, term: Term) -> list[str]:
        if term.field != "label":
            return []
        vocabulary = [*self.taxonomy.names(), *self._catalog_labels.values()]
        lowered = {name.casefold(): name for name in vocabulary}
        close = difflib.get_close_matches(term.value.casefold(), list(lowered), n=3, cutoff=0.75)
        return [lowered[match] for match in close]
