"""Search: query text -> parsed query -> index entries through the taxonomy -> catalog query.

A word names labels through the taxonomy (any case, plurals, synonyms: "cars" and "automobile" -> Car). Parents
need no expansion: the index holds every image's labels *and* their parents, so "vehicle" is one index read that
finds cars, buses and bicycles. A word that the taxonomy does not know may still be a label in the catalog.

Fields name the other facets (``catalog/facets.py``): ``category:``, ``color:``, ``text:`` (full text),
``person:`` (a person's name or number), ``faces>=2`` (the number of faces), ``is:safe`` / ``is:unsafe``. Unsafe
images are left out unless the query mentions ``is:`` (a setting).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog import facets
from pixlens.catalog.base import Catalog, Hit
from pixlens.catalog.sqlplan import TEXT
from pixlens.errors import QueryError
from pixlens.query import And, Node, Not, Or, Term, parse, terms

SEARCH_FIELDS = frozenset({"label", "category", "text", "color", "person", "is"})
UNSAFE = "explicit nudity"  # the moderation label whose confidence decides is:unsafe
FACE_WORDS = frozenset({"face", "faces"})


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    unknown: dict[str, list[str]] = field(default_factory=dict)  # term -> suggestions


class Searcher:
    def __init__(
        self,
        catalog: Catalog,
        taxonomy: Taxonomy,
        catalog_labels: list[str] | None = None,
        people: Callable[[str], list[int]] | None = None,
        unsafe_from: float = 50.0,
        hide_unsafe: bool = False,
    ) -> None:
        self.catalog = catalog
        self.taxonomy = taxonomy
        self.people = people or (lambda name: [])
        self.unsafe_from = unsafe_from
        self.hide_unsafe = hide_unsafe
        self._catalog_labels = {name.casefold(): name for name in (catalog_labels or [])}
        self._categories = {category.casefold(): category for category in taxonomy.categories}

    def resolve(self, term: Term) -> list[str]:
        """The index entries one term matches."""
        value = term.value.casefold()
        if term.field == "category":
            return [facets.CATEGORY + name for key, name in sorted(self._categories.items()) if value in key]
        if term.field == "text":
            return [TEXT + term.value]
        if term.field == "color":
            return [facets.COLOR + value]
        if term.field == "moderation":
            return [facets.MODERATION + value]
        if term.field == "person":
            return [f"{facets.PERSON}{person}" for person in self.people(term.value)]
        if value in FACE_WORDS:
            return [facets.FACES]
        found = set(self.taxonomy.resolve(term.value))
        own = self._catalog_labels.get(value)
        if own is not None:
            found.add(own)
        return sorted(found)

    def parse(self, text: str) -> Node:
        """The query as the catalog runs it (``plan``ned). Raises QueryError, with the query, for a malformed one."""
        try:
            return self.plan(parse(text, SEARCH_FIELDS))
        except QueryError as exc:
            raise QueryError(exc.message, text, exc.position) from None

    def search(self, text: str, limit: int = 20, offset: int = 0) -> SearchResult:
        """Parse and run a query. Raises QueryError for a malformed one."""
        node = self.parse(text)
        hits, total = self.catalog.page(node, self.resolve, limit=limit, offset=offset)
        return SearchResult(text, hits, total, self.unknown(node))

    def unknown(self, node: Node) -> dict[str, list[str]]:
        """The terms of a parsed query that match no index entry, with suggestions."""
        return {term.value: self.suggest(term) for term in terms(node) if not self.resolve(term)}

    def plan(self, node: Node) -> Node:
        """Rewrite ``is:`` terms into moderation thresholds, and leave unsafe images out unless asked for."""
        asked = any(term.field == "is" for term in terms(node))
        node = self._rewrite(node)
        # A range count first: with no unsafe image in the catalog the filter would only cost time.
        if self.hide_unsafe and not asked and self.catalog.count(self._unsafe(), self.resolve) > 0:
            unsafe = Not(self._unsafe())
            node = And((*node.operands, unsafe)) if isinstance(node, And) else And((node, unsafe))
        return node

    def _rewrite(self, node: Node) -> Node:
        if isinstance(node, Term):
            if node.field != "is":
                return node
            if node.value.casefold() == "unsafe":
                return self._unsafe()
            if node.value.casefold() == "safe":
                return Not(self._unsafe())
            raise QueryError(f"unknown is:{node.value} (known: is:safe, is:unsafe)", position=node.position)
        if isinstance(node, Not):
            return Not(self._rewrite(node.operand))
        rewritten = tuple(self._rewrite(operand) for operand in node.operands)
        return And(rewritten) if isinstance(node, And) else Or(rewritten)

    def _unsafe(self) -> Term:
        return Term(UNSAFE, field="moderation", op=">=", threshold=self.unsafe_from)

    def suggest(self, term: Term) -> list[str]:
        if term.field != "label":
            return []
        vocabulary = [*self.taxonomy.names(), *self._catalog_labels.values()]
        lowered = {name.casefold(): name for name in vocabulary}
        close = difflib.get_close_matches(term.value.casefold(), list(lowered), n=3, cutoff=0.75)
        return [lowered[match] for match in close]
