"""What the concurrency tests run in other processes (importable, so that ``multiprocessing`` can spawn them)."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.record import ImageRecord, Label, Status

FACE_SIMILARITY = 0.5
PERSONS = 3
IMAGES = 9


def unit(seed: int, dimensions: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=dimensions)
    return (vector / np.linalg.norm(vector)).tolist()


def near(vector: list[float], seed: int, noise: float = 0.05) -> list[float]:
    noisy = np.asarray(vector) + noise * np.random.default_rng(seed).normal(size=len(vector))
    return (noisy / np.linalg.norm(noisy)).tolist()


def image(number: int) -> ImageRecord:
    """Image ``number`` shows person ``number % PERSONS`` (a face near that person's own vector)."""
    person = unit(1000 + number % PERSONS, 32)
    return ImageRecord(
        ImageName=f"img{number}.jpg",
        Status=Status.ANALYZED,
        Labels=[Label(Name="Person", Confidence=95.0), Label(Name=f"Scene{number % 2}", Confidence=80.0)],
        ImageEmbedding=unit(number, 16),
        FaceDetails=[{"Confidence": 99.0}],
        FaceEmbeddings=[near(person, 5000 + number)],
    )


def summary(catalog: SqliteCatalog) -> dict[str, Any]:
    """What must not depend on how the writes were spread over processes (person ids aside)."""
    owner = {}
    for number in range(IMAGES):
        record = catalog.get(f"img{number}.jpg")
        assert record is not None
        owner[number] = record.FaceDetails[0]["PersonId"]
    labels = {label: count for label, count in catalog.labels() if not label.startswith("person:")}
    with sqlite3.connect(catalog.path) as conn:
        counts = conn.execute("SELECT label, images FROM label_counts ORDER BY label").fetchall()
    people_counts = sorted(count for label, count in counts if label.startswith("person:"))
    return {
        "people": len(catalog.people()),
        "members": sorted(sorted(n for n in owner if owner[n] == person.id) for person in catalog.people()),
        "labels": labels,
        "person_counts": people_counts,
        "faces": sorted(person.faces for person in catalog.people()),
        "similar": {f"img{n}.jpg": catalog.similar(f"img{n}.jpg", 3) for n in range(IMAGES)},
    }


def alternate(path: str, mine: int, turn: Any, results: Any) -> None:
    """Write the images whose number is ``mine`` modulo 2, taking turns with the other process (one image each);
    then report what this process sees."""
    catalog = SqliteCatalog(path, face_similarity=FACE_SIMILARITY)
    catalog.similar("none.jpg")  # the vector index is open before the other process writes
    for number in range(IMAGES):
        if number % 2 == mine:
            catalog.put([image(number)])
        turn.wait(60)
    results.put((mine, summary(catalog)))
    catalog.close()


def crash_after_reanalysis(path: str, number: int, embedding: list[float]) -> None:  # pragma: no cover
    """Re-analyse one image with a new embedding, then die without closing (the index file is not saved)."""
    catalog = SqliteCatalog(path)
    catalog.similar(f"img{number}.jpg")  # an index in memory, ahead of its file after the put
    record = image(number)
    record.ImageEmbedding = embedding
    catalog.put([record])
    os.kill(os.getpid(), signal.SIGKILL)


def hold_write_lock(path: str, ready: Any, release: Any) -> None:
    """Hold SQLite's write lock on the catalog (an uncommitted write) until told to let go."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE images SET updated_at = 'now' WHERE key = 'img0.jpg'")
    ready.set()
    release.wait(120)
    conn.execute("ROLLBACK")
    conn.close()


def write_past_a_file_size_limit(path: str, results: Any) -> None:
    """A write that runs out of room half-way (a file-size limit: the system refuses to write more), then a
    small write once there is room again; reports both outcomes."""
    from pixlens.errors import CatalogError

    catalog = SqliteCatalog(path)
    catalog.put([image(0)])
    catalog._writer.execute("PRAGMA cache_size = 20")  # the batch spills to the WAL before its commit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing the process
    files = [p for p in Path(path).parent.glob(Path(path).name + "*") if p.is_file()]
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max(p.stat().st_size for p in files) + 100_000, hard))
    big = [image(number) for number in range(1, IMAGES)]
    for record in big:
        record.TextDetections = [{"DetectedText": "word " * 20_000, "Type": "LINE", "Confidence": 99.0}]
    try:
        catalog.put(big)
        outcome = "written"
    except CatalogError as exc:
        outcome = str(exc)
    resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    catalog.put([image(1)])
    results.put((outcome, catalog.get("img1.jpg") is not None, catalog.get("img2.jpg") is None, catalog.check()))
    catalog.close()
