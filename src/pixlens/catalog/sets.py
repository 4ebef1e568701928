"""A parsed query evaluated as set operations on each term's images (NumPy), for the embedded catalog.

Each term is one range read of the index (``sqlplan.term_sql``) giving sorted image ids and confidences; AND
intersects, OR unites (keeping the best score), NOT subtracts. SQLite has no hash or merge join, and answering
"dog AND person" with one index lookup per dog costs several times the two range reads plus a sorted
intersection here.

The score of a hit is the mean of its positive operands' scores (an OR's score is its best operand's); NOT
operands add no score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pixlens.query import And, Node, Not, Or, Term

Ids = np.ndarray[Any, np.dtype[np.int64]]
Scores = np.ndarray[Any, np.dtype[np.float64]]


@dataclass(frozen=True)
class Matches:
    """Images matching a (sub)query: ids sorted ascending and unique, with their scores."""

    ids: Ids
    scores: Scores

    @classmethod
    def of(cls, rows: list[tuple[int, float]]) -> Matches:
        ids = np.fromiter((row[0] for row in rows), np.int64, len(rows))
        scores = np.fromiter((row[1] for row in rows), np.float64, len(rows))
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], scores[order])

    def page(self, limit: int, offset: int) -> list[tuple[int, float]]:
        """Best first (ties: newest id first), like the index order of a single term."""
        order = np.lexsort((-self.ids, -self.scores))[offset : offset + limit]
        return [(int(self.ids[i]), float(self.scores[i])) for i in order]


Fetch = Callable[[Term], Matches]
Universe = Callable[[], Ids]


def evaluate(node: Node, fetch: Fetch, universe: Universe) -> Matches:
    if isinstance(node, Term):
        return fetch(node)
    if isinstance(node, Not):
        return _without(_everything(universe), evaluate(node.operand, fetch, universe))
    if isinstance(node, Or):
        return _union([evaluate(operand, fetch, universe) for operand in node.operands])
    return _intersection(node, fetch, universe)


def _intersection(node: And, fetch: Fetch, universe: Universe) -> Matches:
    positives = [evaluate(o, fetch, universe) for o in node.operands if not isinstance(o, Not)]
    positives.sort(key=lambda matches: len(matches.ids))  # smallest first: every step is cheaper
    if positives:
        ids, total = positives[0].ids, positives[0].scores
        for other in positives[1:]:
            ids, mine, theirs = np.intersect1d(ids, other.ids, assume_unique=True, return_indices=True)
            total = total[mine] + other.scores[theirs]
        result = Matches(ids, total / len(positives))
    else:
        result = _everything(universe)
    for operand in node.operands:
        if isinstance(operand, Not):
            result = _without(result, evaluate(operand.operand, fetch, universe))
    return result


def _union(parts: list[Matches]) -> Matches:
    ids = np.concatenate([part.ids for part in parts])
    scores = np.concatenate([part.scores for part in parts])
    if ids.size == 0:
        return Matches(ids, scores)
    order = np.lexsort((scores, ids))  # by id, best score last within an id
    ids, scores = ids[order], scores[order]
    last = np.append(ids[1:] != ids[:-1], True)
    return Matches(ids[last], scores[last])


def _without(base: Matches, removed: Matches) -> Matches:
    keep = ~np.isin(base.ids, removed.ids, assume_unique=True)
    return Matches(base.ids[keep], base.scores[keep])


def _everything(universe: Universe) -> Matches:
    ids = np.sort(universe())
    return Matches(ids, np.zeros(ids.size))
