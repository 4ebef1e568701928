"""The DynamoDB catalog's vectors: image embeddings (for "more like this") and faces clustered into people.

The items are the truth, as the PostgreSQL catalog's tables are: ``/vec/<id>`` (an embedding), ``/face/<id>/<n>``
(a face: its person, confidence and embedding; listed per person, best first) and ``/person/<id>`` (a person:
name, faces, the sum of their embeddings; listed in ``/people``). The clustering (``pixlens.people``) is changed
by one writer at a time: a writer that places or forgets faces holds ``/lock/people``, a lease taken by a
conditional write (expiring, so that a writer that died does not block the others), and reloads the people when
their generation (in ``/meta``) moved.

The HNSW index (``pixlens.vectors``) is a local file in the pixlens home (``<home>/vectors/<catalog id>.vectors``),
as the PostgreSQL catalog's: each process keeps its own copy and brings it up to date, before it answers, from
the vector log (``/vlog``: one item per changed embedding, ranked by the time of the change, kept 7 days). The
log is replayed from a few minutes before the copy's time (changes are re-read, so a replay is harmless), and a
copy older than the log is rebuilt from the items. The index is built only where ``similar`` or ``duplicates``
runs: a writer (a Lambda function) only writes items and the log.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.catalog.base import PersonRow
from pixlens.catalog.dynamodb_items import IMAGE_SHARDS, META, PEOPLE, VECTOR_LOG, milli, rank, unrank
from pixlens.catalog.dynamodb_schema import ENTRY, KEY, RANK
from pixlens.catalog.dynamodb_table import ConditionFailedError, Item, Table
from pixlens.catalog.facets import person_entries
from pixlens.catalog.saved_index import SavedIndex
from pixlens.errors import CatalogError
from pixlens.people import People, forget_faces, people_from_rows, place_faces, same_faces
from pixlens.record import ImageRecord

LOCK = "/lock/people"
LEASE_SECONDS = 60.0  # a writer that died holding the people's lock holds it no longer than this
LOCK_WAIT = 180.0  # seconds a writer waits for the lock before it gives up
LOG_KEEP_MS = 7 * 24 * 3600 * 1000
REPLAY_OVERLAP_MS = 5 * 60 * 1000  # a change logged this late (a slow writer, a clock a little off) is still seen
TRIM_EVERY = 3600.0  # seconds between trims of the log by one process
CHUNK = 2_000
FACE_SPAN = 10**13

Matrix = np.ndarray[Any, np.dtype[np.float32]]


def vector_name(image_id: int) -> str:
    return f"/vec/{image_id}"


def vectors_list(image_id: int) -> str:
    return f"/vecs#{image_id % IMAGE_SHARDS}"


def face_name(image_id: int, number: int) -> str:
    return f"/face/{image_id}/{number}"


def person_name(person_id: int) -> str:
    return f"/person/{person_id}"


def faces_list(person_id: int) -> str:
    return f"/faces/{person_id}"


def face_rank(confidence: float, image_id: int, number: int) -> int:
    """Best face first; among equals, the first image's first face (``ORDER BY confidence DESC, id``)."""
    return milli(confidence) * FACE_SPAN + (FACE_SPAN - 1 - (image_id * 1000 + min(number, 999)))


def _blob(vector: Any) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> Matrix:
    return np.frombuffer(blob, dtype=np.float32)


def now_ms() -> int:
    return int(time.time() * 1000)


class Vectors:
    """Embeddings, faces and people in the table; the local vector index (see the module docstring)."""

    def __init__(self, table: Table, index_path: Path, face_similarity: float) -> None:
        self.table = table
        self.index_path = index_path
        self.saved = SavedIndex(index_path)
        self.face_similarity = face_similarity
        self._people: People | None = None
        self._people_generation = -1
        self._index: Any = None
        self._generation = -1  # the time (ms) up to which the index holds the log
        self._saved_generation = -1
        self._index_lock = threading.Lock()
        self._trimmed_at = 0.0
        self._dimensions_known = False

    # -- the people's lock ----
    @contextmanager
    def people_lock(self) -> Iterator[None]:
        owner = secrets.token_hex(8)
        deadline = time.monotonic() + LOCK_WAIT
        pause = 0.02
        while True:
            now = time.time()
            try:
                self.table.put(
                    {KEY: LOCK, "pxOwner": owner, "pxUntil": now + LEASE_SECONDS},
                    "attribute_not_exists(#k) OR #u < :now",
                    {"#k": KEY, "#u": "pxUntil"},
                    {":now": now},
                )
                break
            except ConditionFailedError:
                if time.monotonic() > deadline:
                    raise CatalogError(
                        "the people's lock stayed taken by another writer (see dynamodb_vectors)"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
        try:
            yield
        finally:
            with suppress(ConditionFailedError):
                self.table.delete(LOCK, "#o = :me", {"#o": "pxOwner"}, {":me": owner})

    def people(self) -> People:
        """The clustering as the table holds it (call with the lock held)."""
        meta = self.table.get(META, consistent=True, fields=["pxPeople"]) or {}
        generation = int(meta.get("pxPeople", 0))
        if self._people is None or generation != self._people_generation:
            ids = [unrank(item[RANK])[1] for item in self.table.query(PEOPLE)]
            items = self.table.batch_get([person_name(pid) for pid in ids])
            rows = [
                (int(item["pxId"]), item.get("pxName"), int(item["pxFaces"]), _vector(item["pxTotal"]))
                for item in items.values()
            ]
            self._people = people_from_rows(rows, self.face_similarity)
            self._people_generation = generation
        return self._people

    def _save_people(self, changed: set[int]) -> None:
        if not changed:
            return
        people = self.people()
        gone = [person_name(pid) for pid in changed if pid not in people]
        kept = [
            {
                KEY: person_name(pid),
                "pxId": pid,
                "pxName": people[pid].name,
                "pxFaces": people[pid].count,
                "pxTotal": _blob(people[pid].total),
                ENTRY: PEOPLE,
                RANK: rank(0, pid),
            }
            for pid in sorted(changed)
            if pid in people
        ]
        self.table.batch_write(kept, gone)
        self._people_generation = self.table.add(META, "pxPeople")

    # -- faces ----
    def faces_of(self, image_id: int, count: int) -> list[tuple[int, Matrix]]:
        if count <= 0:
            return []
        names = [face_name(image_id, n) for n in range(count)]
        found = self.table.batch_get(names)
        return [(int(found[name]["pxPerson"]), _vector(found[name]["pxVector"])) for name in names if name in found]

    def place(self, image_id: int, key: str, record: ImageRecord, old_count: int) -> dict[str, float]:
        """Store an analysed record's faces where ``pixlens.people`` places them (PersonId set on each face);
        returns its ``person:<id>`` entries."""
        old = self.faces_of(image_id, old_count)
        # Faces without embeddings (Rekognition's DetectFaces gives none) are kept in the record but join no person.
        placed = record.FaceDetails if record.FaceEmbeddings else []
        confidences = [float(face.get("Confidence", 0.0)) for face in placed]
        if same_faces([vector for _, vector in old], record.FaceEmbeddings):
            person_ids = [person_id for person_id, _ in old]
        else:
            with self.people_lock():
                placement = place_faces(self.people, self.faces_of(image_id, old_count), record.FaceEmbeddings)
                faces = [
                    {
                        KEY: face_name(image_id, number),
                        "pxPerson": person_id,
                        "pxConf": confidence,
                        "pxVector": _blob(vector),
                        "pxRef": key,
                        ENTRY: faces_list(person_id),
                        RANK: face_rank(confidence, image_id, number),
                    }
                    for number, (person_id, confidence, vector) in enumerate(
                        zip(placement.person_ids, confidences, record.FaceEmbeddings, strict=True)
                    )
                ]
                extra = [face_name(image_id, n) for n in range(len(faces), old_count)]
                self.table.batch_write(faces, extra)
                self._save_people(placement.changed)
                person_ids = placement.person_ids
        for face, person_id in zip(placed, person_ids, strict=True):
            face["PersonId"] = person_id
        return person_entries(person_ids, confidences)

    def forget(self, image_id: int, old_count: int) -> None:
        """Take an image's faces out of their people and delete them."""
        if old_count <= 0:
            return
        with self.people_lock():
            old = self.faces_of(image_id, old_count)
            changed = forget_faces(self.people(), old) if old else set()
            self.table.batch_write((), [face_name(image_id, n) for n in range(old_count)])
            self._save_people(changed)

    def rename(self, person_id: int, name: str | None) -> bool:
        with self.people_lock():
            people = self.people()
            if person_id not in people:
                return False
            people.rename(person_id, name)
            self._save_people({person_id})
            return True

    def person_items(self) -> list[Item]:
        ids = [unrank(item[RANK])[1] for item in self.table.query(PEOPLE)]
        found = self.table.batch_get([person_name(pid) for pid in ids], ["pxId", "pxName", "pxFaces"])
        return sorted(found.values(), key=lambda item: (-int(item["pxFaces"]), int(item["pxId"])))

    def person_rows(self) -> list[PersonRow]:
        rows = []
        for item in self.person_items():
            person_id = int(item["pxId"])
            faces = list(self.table.query(faces_list(person_id)))
            images = {str(face[KEY]).split("/")[2] for face in faces}
            best = faces[0] if faces else None
            rows.append(
                PersonRow(
                    person_id,
                    item.get("pxName"),
                    int(item["pxFaces"]),
                    len(images),
                    best.get("pxRef") if best else None,
                    int(str(best[KEY]).split("/")[3]) if best else None,
                )
            )
        return rows

    def person_ids(self, name: str) -> list[int]:
        if name.isdigit():
            return [int(name)]
        wanted = name.lower()
        return sorted(int(item["pxId"]) for item in self.person_items() if (item.get("pxName") or "").lower() == wanted)

    # -- embeddings ----
    def put_embedding(self, image_id: int, vector: list[float] | None) -> None:
        if vector is None:
            return
        if not self._dimensions_known:  # what a process that builds the index first needs to know
            self.table.update(META, "SET #d = if_not_exists(#d, :d)", {"#d": "pxDimensions"}, {":d": len(vector)})
            self._dimensions_known = True
        item = {KEY: vector_name(image_id), "pxVector": _blob(vector), ENTRY: vectors_list(image_id), RANK: image_id}
        self.table.batch_write([item])
        self._log(image_id)

    def remove_embedding(self, image_id: int) -> None:
        if self.table.delete(vector_name(image_id)):
            self._log(image_id)

    def _log(self, image_id: int) -> None:
        at = now_ms()
        self.table.batch_write([{KEY: f"{VECTOR_LOG}/{at}/{image_id}", ENTRY: VECTOR_LOG, RANK: rank(at, image_id)}])
        if time.monotonic() - self._trimmed_at > TRIM_EVERY:
            self._trimmed_at = time.monotonic()
            old = self.table.query(VECTOR_LOG, high=rank(at - LOG_KEEP_MS, 0), descending=False)
            self.table.batch_write((), [str(item[KEY]) for item in old])

    def embeddings_of(self, ids: list[int]) -> dict[int, Matrix]:
        found = self.table.batch_get([vector_name(image_id) for image_id in ids])
        return {int(name.rsplit("/", 1)[1]): _vector(item["pxVector"]) for name, item in found.items()}

    def embedding_chunks(self) -> Iterator[tuple[list[int], Matrix]]:
        """Every embedding, ``CHUNK`` at a time, in id order."""
        ids = sorted(
            unrank(item[RANK])[1]
            for shard in range(IMAGE_SHARDS)
            for item in self.table.query(f"/vecs#{shard}", descending=False)
        )
        for start in range(0, len(ids), CHUNK):
            found = self.embeddings_of(ids[start : start + CHUNK])
            present = [image_id for image_id in ids[start : start + CHUNK] if image_id in found]
            if present:
                yield present, np.stack([found[image_id] for image_id in present])

    def attach(self, image_id: int, record: ImageRecord, faces: int) -> None:
        """Put the vectors that the record's item leaves out back into it."""
        found = self.table.batch_get([vector_name(image_id), *(face_name(image_id, n) for n in range(faces))])
        embedding = found.get(vector_name(image_id))
        record.ImageEmbedding = _vector(embedding["pxVector"]).tolist() if embedding else None
        record.FaceEmbeddings = [
            _vector(found[face_name(image_id, n)]["pxVector"]).tolist()
            for n in range(faces)
            if face_name(image_id, n) in found
        ]

    # -- the local index ----
    def vector_index(self) -> Any:
        """The HNSW index, up to date with the items; None while there are no vectors."""
        from pixlens.vectors import VectorIndex

        with self._index_lock:
            start = now_ms()
            if self._index is None:
                meta = self.table.get(META, fields=["pxDimensions"]) or {}
                if "pxDimensions" not in meta:
                    return None
                try:
                    self.index_path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    folder = self.index_path.parent
                    raise CatalogError(f"cannot make the folder of the vector index {folder}: {exc.strerror}") from exc
                dimensions = int(meta["pxDimensions"])
                loaded = self.saved.load(dimensions)
                if loaded is None:
                    self._index, self._generation = VectorIndex(self.index_path, dimensions, load=False), -1
                else:
                    self._index, self._generation = loaded
                self._saved_generation = self._generation
            if self._generation < 0 or start - self._generation > LOG_KEEP_MS - REPLAY_OVERLAP_MS:
                self._index = VectorIndex(self.index_path, self._index.dimensions, load=False)
                for ids, matrix in self.embedding_chunks():
                    self._index.add(ids, matrix)
            else:
                self._replay(self._generation - REPLAY_OVERLAP_MS)
            self._generation = start
            return self._index

    def _replay(self, since: int) -> None:
        changed = sorted({unrank(item[RANK])[1] for item in self.table.query(VECTOR_LOG, low=rank(since, 0))})
        for begin in range(0, len(changed), CHUNK):
            chunk = changed[begin : begin + CHUNK]
            found = self.embeddings_of(chunk)
            if found:
                self._index.add(list(found), np.stack(list(found.values())))
            self._index.remove([image_id for image_id in chunk if image_id not in found])

    def similar(self, image_id: int, k: int) -> list[tuple[int, float]]:
        item = self.table.get(vector_name(image_id))
        index = self.vector_index()
        if item is None or index is None:
            return []
        found = index.search(_vector(item["pxVector"]), k + 1)
        return [(other, similarity) for other, similarity in found if other != image_id][:k]

    def save(self) -> None:
        with self._index_lock:
            if self._index is None or self._generation == self._saved_generation:
                return
            try:
                self.saved.save(self._index, self._generation)
            except OSError as exc:
                raise CatalogError(f"cannot save the vector index {self.index_path}: {exc}") from exc
            self._saved_generation = self._generation
