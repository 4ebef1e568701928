"""One query term as SQL over ``label_index``: the rows ``(id, score)`` of the images that hold it.

The index holds every image's labels *and* their parents (and the other facets, see ``facets.py``), so "vehicle"
needs no expansion into its children: a term is one range read of the primary key ``(label, confidence, image_id)``,
already in rank order, so a page of hits for one label is read straight off the index. A word that names several
labels takes, per image, the best of them. A ``text:`` entry is a phrase for the full-text index instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pixlens.catalog.base import Resolver, weighted
from pixlens.query import Node, Not, Term

OPERATORS = {">=": ">=", ">": ">", "<=": "<=", "<": "<"}
EMPTY = "SELECT NULL AS id, 0.0 AS score WHERE 0"
TEXT = "text:"  # an entry that is a phrase for the full-text index, not a facet
NEAR = "near:"  # an entry that is a circle "latitude,longitude,radius_km" over the images' coordinates, not a facet


def term_sql(
    term: Term, entries: list[str], style: Callable[[str], str] = lambda name: f":{name}"
) -> tuple[str, dict[str, Any]]:
    """SQL yielding ``(id, score)`` for the images holding any of ``entries`` (within the term's threshold)."""
    if not entries:
        return EMPTY, {}
    if entries[0].startswith(TEXT):
        return text_sql(entries[0].removeprefix(TEXT), style)
    params: dict[str, Any] = {f"e{i}": entry for i, entry in enumerate(entries)}
    where = f"label IN ({', '.join(style(name) for name in params)})"
    threshold = ""
    if term.op is not None and term.threshold is not None:
        params["threshold"] = term.threshold
        threshold = f"{OPERATORS[term.op]} {style('threshold')}"
    if len(entries) == 1:  # one range read, in rank order
        condition = f" AND confidence {threshold}" if threshold else ""
        return f"SELECT image_id AS id, confidence AS score FROM label_index WHERE {where}{condition}", params
    having = f" HAVING MAX(confidence) {threshold}" if threshold else ""
    sql = f"SELECT image_id AS id, MAX(confidence) AS score FROM label_index WHERE {where} GROUP BY image_id{having}"
    return sql, params


def text_sql(phrase: str, style: Callable[[str], str] = lambda name: f":{name}") -> tuple[str, dict[str, Any]]:
    """Images whose text holds the phrase (full-text index; words stemmed, any case). A match scores 100: the text
    analyser already dropped what it read with little confidence, and BM25 has no fixed scale to mix with labels."""
    query = '"' + " ".join(phrase.split()).replace('"', '""') + '"'
    return f"SELECT rowid AS id, 100.0 AS score FROM text_fts WHERE text_fts MATCH {style('text')}", {"text": query}


def positive_entries(node: Node, resolve: Resolver) -> list[str]:
    """Index entries of the terms that are not negated: what a hit reports as matched."""
    if isinstance(node, Term):
        return list(weighted(resolve(node)))
    if isinstance(node, Not):
        return []
    entries: list[str] = []
    for operand in node.operands:
        entries.extend(e for e in positive_entries(operand, resolve) if e not in entries)
    return entries
