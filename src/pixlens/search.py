"""Search: query text -> parsed query -> index entries through the taxonomy -> catalog query.

A word names labels through the taxonomy (any case, plurals, synonyms: "cars" and "automobile" -> Car). Parents
need no expansion: the index holds every image's labels *and* their parents, so "vehicle" is one index read that
finds cars, buses and bicycles. A word that the taxonomy does not know may still be a label in the catalog.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from pixlens.analysis.taxonomy import Taxonomy
from pixlens.catalog.base import Catalog, Hit
from pixlens.query import Term, parse, terms

SEARCH_FIELDS = frozenset({"label", "category"})
CATEGORY_PREFIX = "category:"


@dataclass
class SearchResult:
    query: str
    hits: list[Hit]
    total: int
    unknown: dict[str, list[str]] = field(default_factory=dict)  # term -> suggestions


class Searcher:
    def __init__(self, catalog: Catalog, taxonomy: Taxonomy, catalog_labels: list[str] | None = None) -> None:
        self.catalog = catalog
        self.taxonomy = taxonomy
        self._catalog_labels = {name.casefold(): name for name in (catalog_labels or [])}
        self._categories = {
            category.casefold(): category for name in taxonomy.names() for category in taxonomy.info(name).categories
        }

    def resolve(self, term: Term) -> list[str]:
        """The index entries one term matches."""
        if term.field == "category":
            wanted = term.value.casefold()
            return [CATEGORY_PREFIX + name for key, name in sorted(self._categories.items()) if wanted in key]
        found = set(self.taxonomy.resolve(term.value))
        own = self._catalog_labels.get(term.value.casefold())
        if own is not None:
            found.add(own)
        return sorted(found)

    def search(self, text: str, limit: int = 20, offset: int = 0) -> SearchResult:
        """Parse and run a query. Raises QueryError for a malformed one."""
        node = parse(text, SEARCH_FIELDS)
        unknown = {term.value: self.suggest(term.value) for term in terms(node) if not self.resolve(term)}
        hits, total = self.catalog.page(node, self.resolve, limit=limit, offset=offset)
        return SearchResult(text, hits, total, unknown)

    def suggest(self, word: str) -> list[str]:
        vocabulary = [*self.taxonomy.names(), *self._catalog_labels.values()]
        lowered = {name.casefold(): name for name in vocabulary}
        close = difflib.get_close_matches(word.casefold(), list(lowered), n=3, cutoff=0.75)
        return [lowered[match] for match in close]
