"""People: face embeddings clustered into persons, incrementally, independent of any storage.

A person is a cluster of face embeddings (unit vectors, cosine = dot product). It keeps the *sum* of its members,
so that its centroid (the normalised mean) is exact after any number of additions and removals::

    people = People(threshold=0.55)
    pid = people.assign(embedding)        # joins the most similar person (cosine >= threshold) or starts one
    people.remove(pid, embedding)         # a photo was deleted or re-analysed
    people.merge(pid, other_pid)          # a user says "these are the same person"
    people.rename(pid, "Eileen")
    state = people.to_state()             # plain JSON-able data; People.from_state(state) restores it
    labels = people.recluster(all_embeddings)  # a rebuild from scratch; names carried over

The catalog stores which face belongs to which person; this class only knows clusters. Ids are positive
integers, never reused (except by :meth:`People.recluster`, which starts again from 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["People", "Person", "Placement", "forget_faces", "people_from_rows", "place_faces", "same_faces"]

Vector = np.ndarray[Any, np.dtype[np.float64]]
STATE_VERSION = 1


@dataclass
class Person:
    """One cluster. ``total`` is the sum of its members' unit embeddings."""

    id: int
    total: Vector
    count: int
    name: str | None = None

    @property
    def centroid(self) -> Vector:
        """The normalised mean of the members."""
        return _unit(self.total)


def _unit(vector: Any) -> Vector:
    array = np.asarray(vector, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(array))
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be a finite, non-zero vector")
    result: Vector = array / norm
    return result


class People:
    """Incremental clustering of face embeddings into people (see the module docstring)."""

    def __init__(self, threshold: float = 0.55) -> None:
        self.threshold = threshold
        self._people: dict[int, Person] = {}
        self._next_id = 1
        # Centroids as matrix rows, for one matrix product per assignment: row i is person self._order[i].
        # Grown by doubling; rebuilt lazily after a removal or a merge.
        self._buffer: Vector | None = None
        self._order: list[int] = []
        self._row: dict[int, int] = {}

    # -- reading ----------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._people)

    def __contains__(self, person_id: object) -> bool:
        return person_id in self._people

    def __getitem__(self, person_id: int) -> Person:
        return self._people[person_id]

    def __iter__(self) -> Iterator[Person]:
        return iter(self._people.values())

    def similarities(self, embedding: Sequence[float] | Vector) -> dict[int, float]:
        """Cosine similarity of the embedding to every person's centroid."""
        vector = _unit(embedding)
        matrix = self._centroids()
        if matrix is None:
            return {}
        return dict(zip(self._order, (matrix @ vector).tolist(), strict=True))

    def nearest(self, embedding: Sequence[float] | Vector) -> tuple[int, float] | None:
        """The most similar person and the cosine similarity, whatever the threshold (None: nobody yet)."""
        matrix = self._centroids()
        if matrix is None:
            return None
        scores = matrix @ _unit(embedding)
        best = int(np.argmax(scores))
        return self._order[best], float(scores[best])

    # -- changing ---------------------------------------------------------------------------------------------------
    def assign(self, embedding: Sequence[float] | Vector) -> int:
        """Add one face: to the most similar person if the cosine is at least ``threshold``, else to a new one."""
        vector = _unit(embedding)
        found = self.nearest(vector)
        if found is not None and found[1] >= self.threshold:
            person = self._people[found[0]]
            person.total = person.total + vector
            person.count += 1
            if self._buffer is not None:
                self._buffer[self._row[person.id]] = person.centroid
            return person.id
        return self._add(Person(self._next_id, vector.copy(), 1))

    def remove(self, person_id: int, embedding: Sequence[float] | Vector) -> bool:
        """Take one face out of a person; a person left without faces disappears. True if the person remains."""
        person = self._people[person_id]
        person.count -= 1
        self._buffer = None
        if person.count <= 0:
            del self._people[person_id]
            return False
        person.total = person.total - _unit(embedding)
        if float(np.linalg.norm(person.total)) < 1e-9:  # the remaining faces cancel out: keep a usable centroid
            person.total = np.zeros_like(person.total)
            person.total[0] = 1e-9
        return True

    def merge(self, into: int, other: int) -> int:
        """Make ``other`` part of ``into`` (the name of ``into`` wins, else the other's). Returns ``into``."""
        if into == other:
            return into
        target, source = self._people[into], self._people.pop(other)
        target.total = target.total + source.total
        target.count += source.count
        target.name = target.name or source.name
        self._buffer = None
        return into

    def rename(self, person_id: int, name: str | None) -> None:
        self._people[person_id].name = name

    def recluster(self, embeddings: Iterable[Sequence[float] | Vector], rounds: int = 3) -> list[int]:
        """Forget all people and cluster ``embeddings`` anew; returns each embedding's person id, in order.

        One incremental pass, then up to ``rounds`` passes that move every face to its most similar centroid
        (if at least ``threshold``, else to a person of its own), until nothing moves: the result depends much
        less on the order than a single pass. Names carry over to the new person most similar to the old one.
        """
        named = [(person.centroid, person.name) for person in self._people.values() if person.name]
        self._people, self._next_id, self._buffer = {}, 1, None
        vectors = [_unit(e) for e in embeddings]
        labels = [self.assign(v) for v in vectors]
        if vectors:
            stack = np.stack(vectors)
            for _ in range(rounds):
                ids = sorted(self._people)
                centroids = np.stack([self._people[i].centroid for i in ids])
                scores = stack @ centroids.T
                best = np.argmax(scores, axis=1)
                moved = [ids[int(b)] if scores[row, b] >= self.threshold else labels[row] for row, b in enumerate(best)]
                if moved == labels:
                    break
                labels = self._rebuild(stack, moved)
        for centroid, name in named:
            found = self.nearest(centroid)
            if found is not None and found[1] >= self.threshold and not self._people[found[0]].name:
                self._people[found[0]].name = name
        return labels

    # -- persistence ------------------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able data: threshold, next id, and per person id, count, name and the members' sum."""
        return {
            "version": STATE_VERSION,
            "threshold": self.threshold,
            "next_id": self._next_id,
            "people": [
                {"id": p.id, "count": p.count, "name": p.name, "total": p.total.tolist()} for p in self._people.values()
            ],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> People:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown people state version {state.get('version')!r}")
        people = cls(float(state["threshold"]))
        for item in state["people"]:
            person = Person(int(item["id"]), np.asarray(item["total"], dtype=np.float64), int(item["count"]))
            person.name = item.get("name")
            people._people[person.id] = person
        people._next_id = max([int(state["next_id"]), *(p + 1 for p in people._people)])
        return people

    # -- internals --------------------------------------------------------------------------------------------------
    def _add(self, person: Person) -> int:
        self._people[person.id] = person
        self._next_id = max(self._next_id, person.id + 1)
        if self._buffer is not None:  # append a row, keeping the cache valid
            rows = len(self._order)
            if rows == len(self._buffer):
                grown = np.empty((2 * rows, self._buffer.shape[1]))
                grown[:rows] = self._buffer
                self._buffer = grown
            self._buffer[rows] = person.centroid
            self._row[person.id] = rows
            self._order.append(person.id)
        return person.id

    def _centroids(self) -> Vector | None:
        if not self._people:
            return None
        if self._buffer is None:
            self._order = list(self._people)
            self._row = {person_id: row for row, person_id in enumerate(self._order)}
            self._buffer = np.stack([self._people[i].centroid for i in self._order])
        return self._buffer[: len(self._order)]

    def _rebuild(self, stack: Vector, labels: list[int]) -> list[int]:
        """People from scratch with the given membership (ids renumbered from 1 in order of appearance)."""
        renumber: dict[int, int] = {}
        self._people, self._buffer = {}, None
        result = []
        for row, label in enumerate(labels):
            if label not in renumber:
                renumber[label] = len(renumber) + 1
                self._people[renumber[label]] = Person(renumber[label], np.zeros(stack.shape[1]), 0)
            person = self._people[renumber[label]]
            person.total = person.total + stack[row]
            person.count += 1
            result.append(renumber[label])
        self._next_id = len(renumber) + 1
        return result


# -- what a catalog calls: plain rows in, the outcome to persist out ------------------------------------------------
FaceRow = tuple[int, Any]  # (person id, embedding) of a face a catalog holds for an image, in face order


@dataclass(frozen=True)
class Placement:
    """Where an image's new faces went: what a catalog writes back."""

    person_ids: list[int]  # the person of each new face, in order
    kept: bool  # the faces are those the image had: they keep their people, nothing to write
    changed: set[int]  # people whose cluster changed: write them again (or delete those no longer in the clustering)


def people_from_rows(rows: Iterable[tuple[int, str | None, int, Any]], threshold: float) -> People:
    """The clustering as a catalog stores it: one row per person (id, name, faces, the sum of their embeddings)."""
    listed = list(rows)
    state = {
        "version": STATE_VERSION,
        "threshold": threshold,
        "next_id": 1 + max((row[0] for row in listed), default=0),
        "people": [
            {"id": pid, "name": name, "count": count, "total": np.asarray(total, dtype=np.float64)}
            for pid, name, count, total in listed
        ],
    }
    return People.from_state(state)


def same_faces(old: Sequence[Any], new: Sequence[Any]) -> bool:
    """Whether an image's new face embeddings are the ones it had (a re-analysis of something else, a touched file)."""
    return len(old) == len(new) and all(
        np.allclose(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32), atol=1e-5)
        for a, b in zip(old, new, strict=True)
    )


def forget_faces(people: People, old: Iterable[FaceRow]) -> set[int]:
    """Take an image's faces out of their people; the people changed."""
    changed: set[int] = set()
    for person_id, vector in old:
        if person_id in people:
            people.remove(person_id, np.asarray(vector, dtype=np.float64))
            changed.add(person_id)
    return changed


def place_faces(people: Callable[[], People], old: Sequence[FaceRow], new: Sequence[Any]) -> Placement:
    """Assign an image's faces to people, given the faces it had.

    Faces that are the same as the image already had keep their people: taking them out and assigning them again
    would renumber, and lose names. Otherwise the old faces leave their people and the new ones are assigned.
    ``people`` loads the clustering (only when it is needed)."""
    if same_faces([vector for _, vector in old], new):
        return Placement([person_id for person_id, _ in old], kept=True, changed=set())
    changed = forget_faces(people(), old) if old else set()
    person_ids: list[int] = []
    if new:
        clustering = people()
        for vector in new:
            person_ids.append(clustering.assign(vector))
            changed.add(person_ids[-1])
    return Placement(person_ids, kept=False, changed=changed)
