"""The catalog's vectors: embeddings survive a lost or stale index file, and people survive reopening."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pytest import MonkeyPatch

from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.record import ImageRecord, Status


def unit(seed: int, dimensions: int = 64) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=dimensions)
    return (vector / np.linalg.norm(vector)).tolist()


def record(key: str, embedding: list[float], faces: list[list[float]] | None = None) -> ImageRecord:
    faces = faces or []
    return ImageRecord(
        ImageName=key,
        Status=Status.ANALYZED,
        ImageEmbedding=embedding,
        FaceDetails=[{"Confidence": 99.0} for _ in faces],
        FaceEmbeddings=faces,
    )


def near(vector: list[float], seed: int) -> list[float]:
    noisy = np.asarray(vector) + 0.05 * np.random.default_rng(seed).normal(size=len(vector))
    return (noisy / np.linalg.norm(noisy)).tolist()


def test_similar_survives_a_lost_index_file(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    base = unit(1)
    catalog = SqliteCatalog(path)
    catalog.put([record("a.jpg", base), record("b.jpg", near(base, 2)), record("c.jpg", unit(3))])
    assert [key for key, _ in catalog.similar("a.jpg", 2)] == ["b.jpg", "c.jpg"]
    catalog.close()
    index_file = path.with_name(path.name + ".vectors")
    assert index_file.is_file()  # saved on close

    index_file.unlink()  # a crash before the index was saved, or a lost file
    reopened = SqliteCatalog(path)
    assert [key for key, _ in reopened.similar("a.jpg", 2)] == ["b.jpg", "c.jpg"]
    reopened.put([record("d.jpg", near(base, 4))])  # an index rebuilt from the table keeps taking changes
    assert reopened.similar("a.jpg", 1)[0][0] in {"b.jpg", "d.jpg"}
    reopened.delete(["b.jpg", "d.jpg"])
    assert [key for key, _ in reopened.similar("a.jpg", 5)] == ["c.jpg"]
    reopened.close()


def test_a_stale_index_file_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    catalog = SqliteCatalog(path)
    catalog.put([record("a.jpg", unit(1))])
    catalog.close()
    stale = path.with_name(path.name + ".vectors").read_bytes()
    catalog = SqliteCatalog(path)
    catalog.put([record("b.jpg", unit(2)), record("c.jpg", unit(3))])
    catalog.close()
    path.with_name(path.name + ".vectors").write_bytes(stale)  # an older index than the table
    reopened = SqliteCatalog(path)
    assert {key for key, _ in reopened.similar("a.jpg", 5)} == {"b.jpg", "c.jpg"}
    reopened.close()


def test_people_and_their_names_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    face = unit(10, 32)
    catalog = SqliteCatalog(path, face_similarity=0.5)
    catalog.put([record("a.jpg", unit(1), [face]), record("b.jpg", unit(2), [near(face, 11)])])
    (person,) = catalog.people()
    assert (person.faces, person.images) == (2, 2)
    assert catalog.name_person(person.id, "Alice")
    catalog.close()
    reopened = SqliteCatalog(path, face_similarity=0.5)
    assert reopened.person_ids("alice") == [person.id]
    reopened.put([record("c.jpg", unit(3), [near(face, 12)])])  # joins Alice, not a new person
    assert [(p.id, p.name, p.faces) for p in reopened.people()] == [(person.id, "Alice", 3)]
    reopened.delete(["a.jpg", "b.jpg", "c.jpg"])
    assert reopened.people() == []
    reopened.close()


def test_the_index_is_compacted_when_removals_pile_up(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    catalog = SqliteCatalog(path)
    catalog.put([record(f"{n}.jpg", unit(n, 8)) for n in range(1500)])
    catalog.delete([f"{n}.jpg" for n in range(1200)])
    index = catalog.vectors.vector_index()
    assert (len(index), index.tombstones) == (300, 1200)  # usearch keeps the removed vectors' slots
    catalog.close()  # saved compacted
    reopened = SqliteCatalog(path)
    index = reopened.vectors.vector_index()
    assert (len(index), index.tombstones) == (300, 0)
    assert reopened.similar("1300.jpg", 1)[0][0] != "1300.jpg"
    reopened.close()


def test_duplicates_read_the_embeddings_a_chunk_at_a_time(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    from pixlens.catalog import vector_upkeep
    from pixlens.duplicates import find_duplicates

    originals = [unit(n) for n in range(12)]
    records = [record(f"{n}.jpg", vector) for n, vector in enumerate(originals)]
    records += [record(f"{n}-copy.jpg", near(originals[n], 100 + n)) for n in range(0, 12, 3)]
    catalog = SqliteCatalog(tmp_path / "c.db")
    catalog.put(records)
    monkeypatch.setattr(vector_upkeep, "CHUNK", 5)  # several chunks, and copies in other chunks than originals
    found = catalog.duplicates()
    assert sorted(sorted(group.keys) for group in found) == [[f"{n}-copy.jpg", f"{n}.jpg"] for n in (0, 3, 6, 9)]
    ids = {key: n for n, key in enumerate(r.ImageName for r in records)}
    in_memory = find_duplicates((n, None, r.ImageEmbedding) for n, r in enumerate(records))
    expected = {tuple(sorted(records[m].ImageName for m in group.members)) for group in in_memory}
    assert {tuple(sorted(group.keys)) for group in found} == expected
    similarities = {(pair.first, pair.second): pair.similarity for group in in_memory for pair in group.pairs}
    for group in found:
        ((first, second, _, similarity),) = group.links
        key = tuple(sorted((ids[first], ids[second])))
        assert similarity == pytest.approx(similarities[key], abs=1e-6)
    assert not hasattr(catalog.vectors, "embeddings")  # no way left to load them all at once
    catalog.close()
