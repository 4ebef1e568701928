"""People: incremental clustering of face embeddings (pure unit tests, no models)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pixlens.people import People

DIM = 16


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def around(centre: np.ndarray, spread: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector near ``centre`` (cosine to it about 1 - spread^2 * DIM / 2)."""
    return unit(centre + spread * rng.standard_normal(DIM))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def axes() -> list[np.ndarray]:
    return [np.eye(DIM)[i] for i in range(DIM)]


def test_assign_joins_similar_and_starts_new_for_different(rng: np.random.Generator) -> None:
    a, b = axes()[:2]
    people = People(threshold=0.55)
    first = people.assign(a)
    assert people.assign(around(a, 0.1, rng)) == first
    second = people.assign(b)
    assert second != first
    assert people.assign(around(b, 0.1, rng)) == second
    assert len(people) == 2
    assert people[first].count == 2 and people[second].count == 2


def test_threshold_decides() -> None:
    a = np.array([1.0, 0.0] + [0.0] * (DIM - 2))
    b = np.array([0.6, 0.8] + [0.0] * (DIM - 2))  # cosine 0.6 to a
    loose, strict = People(threshold=0.55), People(threshold=0.65)
    assert loose.assign(a) == loose.assign(b)
    assert strict.assign(a) != strict.assign(b)
    assert strict.nearest(b) == (2, pytest.approx(1.0))
    assert strict.similarities(a)[1] == pytest.approx(1.0)
    assert strict.similarities(a)[2] == pytest.approx(0.6)


def test_centroid_is_the_normalised_mean_incrementally(rng: np.random.Generator) -> None:
    centre = axes()[0]
    members = [around(centre, 0.15, rng) for _ in range(20)]
    people = People(threshold=0.3)
    ids = {people.assign(m * 3.0) for m in members}  # embeddings are normalised on the way in
    assert ids == {1}
    assert np.allclose(people[1].centroid, unit(np.sum(members, axis=0)))
    assert people[1].count == 20


def test_remove_updates_the_centroid_and_drops_empty_people(rng: np.random.Generator) -> None:
    a, b = axes()[:2]
    people = People(threshold=0.5)
    x, y = around(a, 0.1, rng), around(a, 0.1, rng)
    pid = people.assign(x)
    people.assign(y)
    other = people.assign(b)
    assert people.remove(pid, y)
    assert np.allclose(people[pid].centroid, x)
    assert not people.remove(pid, x)
    assert pid not in people and other in people
    # The cached centroid matrix follows: the next face like ``a`` starts a new person with a fresh id.
    assert people.assign(a) == 3


def test_merge_and_names() -> None:
    a, b = axes()[:2]
    people = People(threshold=0.9)
    first, second = people.assign(a), people.assign(b)
    people.rename(second, "Eileen")
    assert people.merge(first, second) == first
    assert second not in people
    assert people[first].count == 2 and people[first].name == "Eileen"
    assert np.allclose(people[first].centroid, unit(a + b))
    assert people.merge(first, first) == first


def test_state_round_trip_is_json(rng: np.random.Generator) -> None:
    people = People(threshold=0.6)
    for centre in axes()[:3]:
        for _ in range(3):
            people.assign(around(centre, 0.1, rng))
    people.rename(2, "Bob")
    people.remove(3, people[3].centroid)  # leaves a gap: ids are never reused
    state = json.loads(json.dumps(people.to_state()))
    restored = People.from_state(state)
    assert restored.threshold == 0.6 and len(restored) == 3
    assert restored[2].name == "Bob"
    for person in people:
        assert restored[person.id].count == person.count
        assert np.allclose(restored[person.id].centroid, person.centroid)
    probe = around(axes()[1], 0.1, rng)
    assert restored.assign(probe) == people.assign(probe) == 2
    assert restored.assign(axes()[5]) == people.assign(axes()[5]) == 4
    with pytest.raises(ValueError):
        People.from_state({**state, "version": 99})


def test_recluster_groups_and_carries_names(rng: np.random.Generator) -> None:
    centres = axes()[:4]
    faces = [around(centres[i % 4], 0.08, rng) for i in range(40)]
    people = People(threshold=0.6)
    first = [people.assign(f) for f in faces]
    people.rename(first[1], "Second")
    order = rng.permutation(40)
    labels = people.recluster([faces[i] for i in order])
    assert len(people) == 4
    by_centre: dict[int, set[int]] = {}
    for i, label in zip(order, labels, strict=True):
        by_centre.setdefault(int(i) % 4, set()).add(label)
    assert all(len(ids) == 1 for ids in by_centre.values())
    assert len({next(iter(ids)) for ids in by_centre.values()}) == 4
    named = [p for p in people if p.name]
    assert len(named) == 1 and named[0].id == next(iter(by_centre[1]))
    assert sum(p.count for p in people) == 40
    assert people.recluster([]) == [] and len(people) == 0


def test_rejects_zero_and_nan() -> None:
    people = People()
    with pytest.raises(ValueError):
        people.assign(np.zeros(DIM))
    with pytest.raises(ValueError):
        people.assign(np.full(DIM, np.nan))
