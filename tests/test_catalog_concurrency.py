"""Several processes on one catalog: the same catalog as one process writing everything, and readers never wait.

The processes are real (``multiprocessing`` with ``spawn``): each has its own connections, its own people
clustering and its own vector index in memory, as two ``pixlens ingest`` runs on one home do.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from catalog_processes import (
    FACE_SIMILARITY,
    IMAGES,
    PERSONS,
    alternate,
    crash_after_reanalysis,
    hold_write_lock,
    image,
    summary,
    unit,
)
from catalog_records import resolver
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.query import parse

SPAWN = multiprocessing.get_context("spawn")


def run(target: Any, *args: Any) -> Any:
    process = SPAWN.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def sequential(path: Path) -> dict[str, Any]:
    catalog = SqliteCatalog(path, face_similarity=FACE_SIMILARITY)
    for number in range(IMAGES):
        catalog.put([image(number)])
    try:
        return summary(catalog)
    finally:
        catalog.close()


def test_two_writing_processes_make_the_catalog_one_process_makes(tmp_path: Path) -> None:
    alone = sequential(tmp_path / "alone.db")
    assert alone["people"] == PERSONS
    assert alone["members"] == [[n for n in range(IMAGES) if n % PERSONS == p] for p in range(PERSONS)]

    path = str(tmp_path / "shared.db")
    SqliteCatalog(path).close()  # created (and migrated) before both start
    turn, results = SPAWN.Barrier(2), SPAWN.Queue()
    # Turns: img0 by the first, img1 by the second, img2 by the first...: each writes while the other's last
    # write is the newest, so a process that kept its own people would give new faces numbers already taken.
    first = run(alternate, path, 0, turn, results)
    second = run(alternate, path, 1, turn, results)
    seen = [results.get(timeout=120)[1], results.get(timeout=120)[1]]
    first.join(60)
    second.join(60)
    assert (first.exitcode, second.exitcode) == (0, 0)

    after = SqliteCatalog(path, face_similarity=FACE_SIMILARITY)
    together = summary(after)
    after.close()
    assert together == alone
    assert seen == [alone, alone]  # each process's own view too: people, labels, and the other's vectors


def test_one_process_sees_the_vectors_another_adds_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    reader, writer = SqliteCatalog(path), SqliteCatalog(path)
    writer.put([image(0), image(1)])
    assert [key for key, _ in reader.similar("img0.jpg", 5)] == ["img1.jpg"]
    writer.put([image(2)])
    assert {key for key, _ in reader.similar("img0.jpg", 5)} == {"img1.jpg", "img2.jpg"}
    moved = image(1)
    moved.ImageEmbedding = [-value for value in image(0).ImageEmbedding or []]  # now the opposite of img0
    writer.put([moved])
    writer.delete(["img2.jpg"])
    (only,) = reader.similar("img0.jpg", 5)
    assert only[0] == "img1.jpg" and only[1] == pytest.approx(-1.0, abs=1e-2)
    reader.close()
    writer.close()


def test_a_crash_before_the_index_was_saved_is_caught_up_exactly(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    catalog = SqliteCatalog(path)
    catalog.put([image(number) for number in range(4)])
    assert catalog.similar("img3.jpg", 3)  # the index is built
    catalog.close()  # ... and saved, with the embeddings' generation

    # Another process re-analyses img0 (same id, same number of vectors) to an embedding next to img3's, and is
    # killed before it saves its index: the file still holds img0's old vector.
    target = unit(3, 16)
    crashed = run(crash_after_reanalysis, str(path), 0, [v + 0.01 for v in target])
    crashed.join(60)
    assert crashed.exitcode == -9

    reopened = SqliteCatalog(path)
    best, similarity = reopened.similar("img3.jpg", 1)[0]
    assert best == "img0.jpg" and similarity > 0.99
    assert [key for key, _ in reopened.similar("img0.jpg", 1)] == ["img3.jpg"]
    reopened.close()


def test_reads_do_not_wait_for_another_process_writing(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    catalog = SqliteCatalog(path, face_similarity=FACE_SIMILARITY)
    catalog.put([image(number) for number in range(IMAGES)])
    catalog.close()
    ready, release = SPAWN.Event(), SPAWN.Event()
    holder = run(hold_write_lock, str(path), ready, release)
    try:
        assert ready.wait(60)
        # A reader opened now, while the write transaction is open: SQLite's busy timeout would make any
        # statement that needs the write lock fail after 30 s with "locked", instead of returning.
        reader = SqliteCatalog(path, face_similarity=FACE_SIMILARITY)
        assert len(reader.search(parse("person"), resolver(reader))) == IMAGES
        assert reader.get("img0.jpg") is not None
        assert len(reader.similar("img0.jpg", 3)) == 3
        assert len(reader.people()) == PERSONS
        assert dict(reader.labels())["Person"] == IMAGES
        assert reader.stats()["analyzed"] == IMAGES
        assert len(list(reader.states())) == IMAGES
        assert reader.duplicates() == []
        reader.close()
    finally:
        release.set()
        holder.join(60)
    assert holder.exitcode == 0
