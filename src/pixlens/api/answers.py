"""Search answers kept per catalog generation: the JSON of a search computed once and served again until the
catalog changes (as Elasticsearch's request cache and Solr's filterCache do).

An answer is kept with the catalog's generation read *before* it was computed (a token that changes at every
committed write, by this process or any other); it is served only while the generation is still that one, so a
search made after a write never gets an answer made before it. Requests for the same answer that arrive while it
is being computed wait for that one computation (single flight) instead of each running it. Memory is bounded by
a number of answers and a number of bytes, the least recently used going first.

The cache sits behind the routes' access checks: a key's scope decides whether it may search, not what a search
finds, so one answer serves every caller allowed to ask.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import anyio.to_thread

Generation = Callable[[], Hashable | None]


@dataclass(frozen=True)
class Kept:
    generation: Hashable
    body: bytes


@dataclass
class CacheCounts:
    hits: int = 0
    misses: int = 0  # computed (a request that joined another's computation counts as a hit)
    shared: int = 0  # of the hits: waited for a computation already running
    evicted: int = 0


class AnswerCache:
    """Answers (bytes) by request key, valid while ``generation()`` returns what it returned before they were
    computed; ``generation()`` None: the catalog cannot tell, nothing is kept. Used from one event loop."""

    def __init__(self, generation: Generation, max_answers: int, max_bytes: int) -> None:
        self._generation = generation
        self.max_answers = max_answers
        self.max_bytes = max_bytes
        self._kept: OrderedDict[Hashable, Kept] = OrderedDict()
        self._bytes = 0
        self._flights: dict[tuple[Hashable, Hashable], asyncio.Task[bytes]] = {}
        self.counts = CacheCounts()

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def nbytes(self) -> int:
        return self._bytes

    async def answer(self, key: Hashable, compute: Callable[[], bytes]) -> bytes:
        """The answer of ``key``: kept, or being computed (waited for), or computed now by ``compute`` in a worker
        thread. An exception of ``compute`` reaches every request that waited for it and is not kept."""
        generation = self._generation() if self.max_answers > 0 else None
        if generation is None:
            self.counts.misses += 1
            return await anyio.to_thread.run_sync(compute)
        kept = self._kept.get(key)
        if kept is not None and kept.generation == generation:
            self._kept.move_to_end(key)
            self.counts.hits += 1
            return kept.body
        flight = self._flights.get((key, generation))
        if flight is None:
            self.counts.misses += 1
            # A task of its own: a request that goes away (its client disconnected) leaves it running for the others.
            flight = asyncio.ensure_future(self._compute(key, generation, compute))
            self._flights[(key, generation)] = flight
        else:
            self.counts.hits += 1
            self.counts.shared += 1
        return await asyncio.shield(flight)

    async def _compute(self, key: Hashable, generation: Hashable, compute: Callable[[], bytes]) -> bytes:
        try:
            body = await anyio.to_thread.run_sync(compute)
        finally:
            del self._flights[(key, generation)]
        if self._generation() == generation:  # a write meanwhile: the answer may hold it or not; not kept
            self._keep(key, Kept(generation, body))
        return body

    def _keep(self, key: Hashable, kept: Kept) -> None:
        if len(kept.body) > self.max_bytes:
            return
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._kept[key] = kept
        self._bytes += len(kept.body)
        while len(self._kept) > self.max_answers or self._bytes > self.max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.body)
            self.counts.evicted += 1

    def clear(self) -> None:
        self._kept.clear()
        self._bytes = 0
