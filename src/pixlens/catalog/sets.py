"""A parsed query evaluated over posting lists, for the embedded catalog.

Each term is a :class:`Posting`: the images holding it as a compressed bitmap, with their confidences. Which
images match is set algebra on the bitmaps (AND intersects, OR unites, NOT subtracts), microseconds even for
hundreds of thousands of images. Only then are scores computed, for the hits alone; and when one term decides
every hit's score (``dog AND NOT cat``, or any single term once unsafe images are left out), a page is read
off that term's rank order, checking membership in the hits, without scoring the rest.

The score of a hit is the mean of its positive operands' scores (an OR's score is its best operand's; free
text's, :class:`~pixlens.query.Some`, the mean over all its words, 0 for a word the image lacks); NOT operands add
no score. Ties rank the newest (highest) id first, like the index order of a single term.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pyroaring import BitMap

from pixlens.query import And, Node, Not, Or, Some, Term

Ids = np.ndarray[Any, np.dtype[np.uint32]]
Scores = np.ndarray[Any, np.dtype[np.float64]]

WALK_FROM = 4096  # fewer hits than this: scoring them all is as quick as walking a rank order
WALK_SHARE = 8  # walk a rank order only when a page needs at most 1/8 of the hits


def bitmap_of(ids: Ids) -> BitMap:
    """A bitmap from ids in any order (through a buffer: a NumPy array would be read one number at a time)."""
    return BitMap(array("I", np.ascontiguousarray(ids, dtype=np.uint32).tobytes()))


def ids_of(bitmap: BitMap) -> Ids:
    return np.frombuffer(bitmap.to_array(), dtype=np.uint32)


@dataclass(frozen=True)
class Posting:
    """The images holding one term: a bitmap for set algebra, ids ascending with their scores (to score a set of
    hits), and ids best first with their scores (to read a page in rank order: score down, then id down)."""

    bitmap: BitMap
    ids: Ids
    scores: Scores
    ranked: Ids
    ranked_scores: Scores

    @classmethod
    def from_ranked(cls, ranked: Ids, ranked_scores: Scores) -> Posting:
        """From unique ids already in rank order (as the index reads them)."""
        bitmap = bitmap_of(ranked)
        ids = ids_of(bitmap)
        by_id = np.zeros(int(ids[-1]) + 1 if ids.size else 0)  # a scatter and a gather: cheaper than a sort
        by_id[ranked] = ranked_scores
        return cls(bitmap, ids, by_id[ids], ranked, ranked_scores)

    @classmethod
    def from_rows(cls, ids: Ids, scores: Scores) -> Posting:
        """From unique ids in any order."""
        order = np.lexsort((-ids.astype(np.int64), -scores))
        return cls.from_ranked(ids[order], scores[order])

    @classmethod
    def empty(cls) -> Posting:
        none = np.zeros(0, dtype=np.uint32)
        return cls(BitMap(), none, np.zeros(0), none, np.zeros(0))

    def __len__(self) -> int:
        return len(self.ids)

    def nbytes(self) -> int:
        return self.ids.nbytes + self.scores.nbytes + self.ranked.nbytes + self.ranked_scores.nbytes

    def score_of(self, wanted: Ids) -> Scores:
        """The scores of ``wanted`` (ascending ids, all in this posting)."""
        return self.scores[np.searchsorted(self.ids, wanted)]

    def within(self, op: str, threshold: float) -> Posting:
        """The images whose score passes ``op threshold``: a prefix (>=, >) or a suffix (<=, <) of the rank
        order."""
        passes = {
            ">=": self.scores >= threshold,
            ">": self.scores > threshold,
            "<=": self.scores <= threshold,
            "<": self.scores < threshold,
        }[op]
        kept = int(np.count_nonzero(passes))
        if kept == len(self):
            return self
        ids = self.ids[passes]
        ranked = slice(0, kept) if op in (">=", ">") else slice(len(self) - kept, len(self))
        return Posting(bitmap_of(ids), ids, self.scores[passes], self.ranked[ranked], self.ranked_scores[ranked])

    def scaled(self, weight: float) -> Posting:
        """The same images with every score times ``weight`` (> 0: the rank order is unchanged)."""
        if weight == 1.0:
            return self
        return Posting(self.bitmap, self.ids, self.scores * weight, self.ranked, self.ranked_scores * weight)

    def restricted(self, bitmap: BitMap) -> Posting:
        """Only the images of ``bitmap`` (a subset of these)."""
        keep = np.isin(self.ids, ids_of(bitmap), assume_unique=True)
        ranked_keep = np.isin(self.ranked, ids_of(bitmap), assume_unique=True)
        return Posting(
            bitmap, self.ids[keep], self.scores[keep], self.ranked[ranked_keep], self.ranked_scores[ranked_keep]
        )

    @classmethod
    def best_of(cls, postings: list[Posting]) -> Posting:
        """The images holding any of several entries, each scored by its best entry."""
        if len(postings) == 1:
            return postings[0]
        ids = np.concatenate([p.ids for p in postings])
        scores = np.concatenate([p.scores for p in postings])
        if ids.size == 0:
            return cls.empty()
        order = np.lexsort((scores, ids))  # by id, best score last within an id
        ids, scores = ids[order], scores[order]
        last = np.append(ids[1:] != ids[:-1], True)
        return cls.from_rows(ids[last], scores[last])


Fetch = Callable[[Term], Posting]
Place = tuple[float, int]  # a hit's place in the ranking: (score, image id)
Universe = Callable[[], BitMap]


class Evaluation:
    """One query over postings: which images match (bitmaps), then the scores of the hits of one page."""

    def __init__(self, query: Node, fetch: Fetch, universe: Universe) -> None:
        self.query = query
        self._fetch = fetch
        self._universe = universe
        self._everything: BitMap | None = None
        self._postings: dict[Term, Posting] = {}
        self._sets: dict[Node, BitMap] = {}

    def count(self) -> int:
        return len(self.matching(self.query))

    def page(self, limit: int, offset: int, after: Place | None = None) -> list[tuple[int, float]]:
        """Hits ``offset`` to ``offset + limit``, best first (ties: newest id first), counted from the first hit
        ranked below ``after`` (a cursor: the (score, id) of the last hit of the previous page)."""
        hits = self.matching(self.query)
        offset = max(offset, 0)
        if limit <= 0 or offset >= len(hits):
            return []
        wanted = min(offset + limit, len(hits))
        lead = self._sole_scorer(self.query)
        if lead is not None and len(hits) >= WALK_FROM and wanted * WALK_SHARE <= len(hits):
            return self._walk(self.posting(lead), hits, offset, wanted, after)
        ids = ids_of(hits)
        scores = self.scores(self.query, hits, ids)
        if after is not None:
            below = (scores < after[0]) | ((scores == after[0]) & (ids.astype(np.int64) < after[1]))
            ids, scores = ids[below], scores[below]
            wanted = min(wanted, len(ids))
        order = top(ids, scores, wanted)[offset:]
        return [(int(ids[i]), float(scores[i])) for i in order]

    # -- which images ----
    def posting(self, term: Term) -> Posting:
        found = self._postings.get(term)
        if found is None:
            found = self._postings[term] = self._fetch(term)
        return found

    def everything(self) -> BitMap:
        if self._everything is None:
            self._everything = self._universe()
        return self._everything

    def matching(self, node: Node) -> BitMap:
        found = self._sets.get(node)
        if found is None:
            found = self._sets[node] = self._match(node)
        return found

    def _match(self, node: Node) -> BitMap:
        if isinstance(node, Term):
            return self.posting(node).bitmap
        if isinstance(node, Not):
            return self.everything() - self.matching(node.operand)
        if isinstance(node, Or | Some):
            return BitMap.union(*(self.matching(operand) for operand in node.operands))
        positives = sorted(
            (self.matching(operand) for operand in node.operands if not isinstance(operand, Not)), key=len
        )
        result = BitMap.intersection(*positives) if len(positives) > 1 else None
        if result is None:
            result = positives[0] if positives else self.everything()
        negatives = [self.matching(o.operand) for o in node.operands if isinstance(o, Not)]
        return result.difference(*negatives) if negatives else result

    # -- their scores ----
    def scores(self, node: Node, hits: BitMap, ids: Ids) -> Scores:
        """The scores of ``ids`` (ascending; the same images as ``hits``, all matching ``node``)."""
        if isinstance(node, Term):
            return self.posting(node).score_of(ids)
        if isinstance(node, Not):
            return np.zeros(len(ids))
        if isinstance(node, And):
            scored = [operand for operand in node.operands if not isinstance(operand, Not)]
            if not scored:
                return np.zeros(len(ids))
            total = self.scores(scored[0], hits, ids)
            for operand in scored[1:]:
                total = total + self.scores(operand, hits, ids)
            return total / len(scored)
        if isinstance(node, Some):
            total = np.zeros(len(ids))
            for option in node.operands:
                mine = self.matching(option) & hits
                if mine:
                    some = ids_of(mine)
                    where = np.searchsorted(ids, some)
                    total[where] += self.scores(option, mine, some)
            return total / len(node.operands)
        best = np.full(len(ids), -np.inf)
        for option in node.operands:
            mine = self.matching(option) & hits
            if len(mine) == len(hits):
                best = np.maximum(best, self.scores(option, hits, ids))
            elif mine:
                some = ids_of(mine)
                where = np.searchsorted(ids, some)
                best[where] = np.maximum(best[where], self.scores(option, mine, some))
        return best

    def _sole_scorer(self, node: Node) -> Term | None:
        """The term whose score is every hit's score, if there is one: a term alone, or a conjunction of one term
        and negations."""
        if isinstance(node, Term):
            return node
        if isinstance(node, And):
            scored = [operand for operand in node.operands if not isinstance(operand, Not)]
            if len(scored) == 1 and isinstance(scored[0], Term):
                return scored[0]
        return None

    def _walk(
        self, lead: Posting, hits: BitMap, offset: int, wanted: int, after: Place | None = None
    ) -> list[tuple[int, float]]:
        """Read ``lead``'s rank order in growing chunks (from just below ``after``), keeping the hits, until the page
        is full."""
        found: list[Ids] = []
        scores: list[Scores] = []
        have, start, size = 0, _below(lead, after), max(256, 2 * wanted)
        while have < wanted and start < len(lead.ranked):
            chunk = lead.ranked[start : start + size]
            keep = np.isin(chunk, ids_of(bitmap_of(chunk) & hits), assume_unique=True)
            found.append(chunk[keep])
            scores.append(lead.ranked_scores[start : start + size][keep])
            have += int(np.count_nonzero(keep))
            start += size
            size *= 4
        if not found:
            return []
        ids, best = np.concatenate(found)[offset:wanted], np.concatenate(scores)[offset:wanted]
        return [(int(image), float(score)) for image, score in zip(ids, best, strict=True)]


def _below(posting: Posting, after: Place | None) -> int:
    """Where the rank order (score down, then id down) passes below ``after``."""
    if after is None:
        return 0
    descending = -posting.ranked_scores
    first_tied = int(np.searchsorted(descending, -after[0], side="left"))
    past_tied = int(np.searchsorted(descending, -after[0], side="right"))
    return first_tied + int(np.count_nonzero(posting.ranked[first_tied:past_tied] >= after[1]))


def top(ids: Ids, scores: Scores, wanted: int) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Positions of the ``wanted`` best hits in rank order (score down, then id down), without sorting them all."""
    if wanted < len(ids):
        kth = np.partition(scores, len(scores) - wanted)[len(scores) - wanted]  # the wanted-th best score
        above = np.flatnonzero(scores > kth)
        tied = np.flatnonzero(scores == kth)[len(above) - wanted :]  # ids ascend: the newest tied hits last
        chosen = np.concatenate([above, tied])
    else:
        chosen = np.arange(len(ids))
    return chosen[np.lexsort((-ids[chosen].astype(np.int64), -scores[chosen]))]
