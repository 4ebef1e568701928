"""The catalog's vectors: embeddings survive a lost or stale index file, and people survive reopening."""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
