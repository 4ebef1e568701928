"""Writing the DynamoDB catalog: records, pending marks and deletions, each image on its own (DynamoDB has no
transaction as wide as an image's index).

The image item is the commit point. It is written by a conditional put: on a new image, only if the key is still
free; on a known one, only if its revision (``pxRev``) is the one read, so that two writers of one image (a
replayed event, two Lambda containers) never interleave: the second one reads again, and a write of the content
and analyser versions the catalog already holds analysed, with the same etag, is dropped there (a replayed event
writes once). The item carries, in ``pxIndex``, every index entry it owns with its rank, and in ``pxStale`` the
entries of the previous record still to be removed; ``pxDirty`` stays set until its index items, counts, text,
vectors and chunks are written, so that the next write of that image redoes all of them after a crash.
The status counts change in the same transaction as the image item; the entry counts just after it.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from pixlens.catalog.base import ImageState
from pixlens.catalog.dynamodb_access import AccessItems
from pixlens.catalog.dynamodb_items import (
    ANALYSED,
    IMAGE_SHARDS,
    ITEM_LIMIT,
    META,
    STATUS_COUNTS,
    TEXT_LIMIT,
    count_name,
    counts_list,
    entry_list,
    epoch_seconds,
    geo_list,
    geo_rank,
    id_name,
    index_name,
    item_size,
    milli,
    part_names,
    rank,
    record_fields,
    sha_list,
    split_large,
    status_list,
    text_name,
    word_list,
)
from pixlens.catalog.dynamodb_schema import ENTRY, KEY, RANK
from pixlens.catalog.dynamodb_search import BAND_DEGREES, stems
from pixlens.catalog.dynamodb_table import ConditionFailedError, Item, Table
from pixlens.catalog.dynamodb_vectors import Vectors
from pixlens.catalog.facets import analysed_anew, indexed
from pixlens.errors import CatalogError
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.work import needs_work

ATTEMPTS = 8  # conditional writes of one image that may find another writer first
HOT_ENTRY = 50_000  # images per shard of an entry's list before its writes spread over one more shard
MAX_SHARDS = 16
COUNTERS = ("pxTexts", "pxFaces", "pxEmbeddings")


def counted(entry: str) -> bool:
    """Whether an index entry has a count item (and shards): every facet, and the list of analysed images."""
    return not entry.startswith("/") or entry == ANALYSED


def replayed(old: Item | None, record: ImageRecord) -> bool:
    """Whether the catalog holds this very analysis already: the same content, analyser versions and etag,
    analysed, and fully indexed (a replayed event, a job delivered twice)."""
    return (
        old is not None
        and record.Status is Status.ANALYZED
        and old.get("Status") == Status.ANALYZED.value
        and not old.get("pxDirty")
        and old.get("ContentSha256") == record.ContentSha256
        and (old.get("AnalyzerVersions") or {}) == record.AnalyzerVersions
        and old.get("ETag") == record.ETag
    )


class Writer:
    def __init__(self, table: Table, vectors: Vectors, access: AccessItems, names_changed: Callable[[], None]) -> None:
        self.table = table
        self.vectors = vectors
        self.access = access
        self._names_changed = names_changed
        self._shards: dict[str, int] = {}
        self.pool = ThreadPoolExecutor(8, thread_name_prefix="pixlens-dynamodb-counts")  # one UpdateItem per count

    # -- records ----
    def put(self, record: ImageRecord) -> None:
        check_key(record.ImageName)
        for _ in range(ATTEMPTS):
            old = self.table.get(record.ImageName, consistent=True)
            if replayed(old, record):
                return
            try:
                self._write(record, old)
                return
            except ConditionFailedError:
                continue
        raise CatalogError(f"the image {record.ImageName!r} kept being changed by other writers; try again")

    def _write(self, record: ImageRecord, old: Item | None) -> None:
        key = record.ImageName
        plan = indexed(record)
        image_id = int(old["pxId"]) if old else self._new_id(key)
        old_faces = int(old.get("pxFaces", 0)) if old else 0
        to_match = (
            plan is not None
            and self.access.hooks_exist()
            and analysed_anew(old.get("AnalyzedAt") if old else None, old is not None, record)
        )
        entries: dict[str, int] = {}
        latitudes: dict[str, float] = {}
        if record.ContentSha256:
            entries[sha_list(record.ContentSha256)] = rank(0, image_id)
        faces = 0
        if plan is not None:
            person = self.vectors.place(image_id, key, record, old_faces)
            faces = len(record.FaceEmbeddings)
            for entry, confidence in {**plan.entries, **person, ANALYSED: 0.0}.items():
                entries[entry] = rank(milli(confidence), image_id)
            for stem in set(stems(plan.text[:TEXT_LIMIT])) if plan.text else ():
                entries[word_list(stem)] = rank(0, image_id)
            if plan.position is not None:
                latitude, longitude = plan.position
                band = geo_list(int(latitude // BAND_DEGREES))
                entries[band], latitudes[band] = geo_rank(longitude, image_id), latitude
        elif old_faces:
            self.vectors.forget(image_id, old_faces)
        previous: dict[str, int] = dict(old.get("pxIndex") or {}) if old else {}
        stale = {e: v for e, v in (old.get("pxStale") or {}).items()} if old else {}
        stale.update({e: v for e, v in previous.items() if e not in entries})
        item = self._image_item(record, image_id, entries, stale, faces, plan is not None)
        fields = {
            name: value for name, value in item.items() if not name.startswith("px") and name not in (ENTRY, RANK)
        }
        room = ITEM_LIMIT - (item_size(item) - item_size(fields))
        kept, parts, chunks = split_large(image_id, fields, room) if item_size(item) > ITEM_LIMIT else (fields, {}, [])
        if parts:
            item = {**{n: v for n, v in item.items() if n not in fields}, **kept, "pxParts": parts}
            self.table.batch_write(chunks)  # new names: the previous item's chunks stay readable until it is replaced
        try:
            self._commit(item, old, record.Status.value)
        except ConditionFailedError:  # another writer was first: forget what this attempt made for itself
            self.table.batch_write((), [str(chunk[KEY]) for chunk in chunks] + ([] if old else [id_name(image_id)]))
            raise
        dirty = bool(old and old.get("pxDirty"))
        self._index(image_id, key, entries, {} if dirty else previous, stale, latitudes)
        self._derived(image_id, record, plan is not None, old, dirty)
        if old and old.get("pxParts"):
            self.table.batch_write((), set(part_names(image_id, old["pxParts"])) - {str(c[KEY]) for c in chunks})
        if to_match:
            self.access.note_analyzed(image_id, key)
        self._clean(key, int(item["pxRev"]))

    def _image_item(
        self,
        record: ImageRecord,
        image_id: int,
        entries: dict[str, int],
        stale: dict[str, int],
        faces: int,
        analysed: bool,
    ) -> Item:
        return {
            **record_fields(record),
            "pxId": image_id,
            "pxRev": 0,  # set by _commit
            "pxIndex": entries,
            "pxStale": stale,
            "pxDirty": True,
            "pxFaces": faces,
            "pxHasAnalysis": analysed,
            "pxHasVector": analysed and record.ImageEmbedding is not None,
            "pxHasText": analysed and bool(record.TextDetections),
            "pxUpdated": utc_now(),
            ENTRY: status_list(record.Status.value, image_id % IMAGE_SHARDS),
            RANK: rank(epoch_seconds(utc_now()), image_id),
        }

    def _commit(self, item: Item, old: Item | None, status: str) -> None:
        """The image item, if no other writer came first, with the status counts in the same transaction."""
        revision = int(old.get("pxRev", 0)) if old else 0
        item["pxRev"] = revision + 1
        if old is None:
            condition, names, values = "attribute_not_exists(#k)", {"#k": KEY}, {}
        else:
            condition, names, values = "#rev = :rev", {"#rev": "pxRev"}, {":rev": revision}
        moves = _status_moves(old.get("Status") if old else None, status)
        if not moves:
            self.table.put(item, condition, names, values)
            return
        self.table.transact(
            [
                self.table.action("Put", item=item, condition=condition, names=names, values=values or None),
                moves(self.table),
            ]
        )

    def _clean(self, key: str, revision: int) -> None:
        with suppress(ConditionFailedError):  # another writer wrote the image since: its write finishes the index
            self.table.update(
                key,
                "REMOVE #d, #s",
                {"#d": "pxDirty", "#s": "pxStale", "#rev": "pxRev"},
                {":rev": revision},
                "#rev = :rev",
            )

    def _new_id(self, key: str) -> int:
        image_id = self.table.add(META, "pxNextId")
        if image_id >= 2**32:
            raise CatalogError("the catalog has run out of image numbers (2**32)")
        self.table.batch_write([{KEY: id_name(image_id), "pxRef": key}])
        return image_id

    # -- index items and counts ----
    def _index(
        self,
        image_id: int,
        key: str,
        entries: dict[str, int],
        previous: dict[str, int],
        stale: dict[str, int],
        latitudes: dict[str, float] | None = None,
    ) -> None:
        """Write the index items of ``entries`` that ``previous`` lacks or ranks otherwise, and delete those of
        ``stale`` that ``entries`` lacks, counting them. A position's item is always written (its latitude is not
        in its rank)."""
        latitudes = latitudes or {}
        added = [e for e in entries if e not in previous]
        changed = [e for e in entries if e in previous and (previous[e] != entries[e] or e in latitudes)]
        up = [e for e in added if counted(e)]
        shards = dict(zip(up, self.pool.map(lambda e: self._count(e, +1), up), strict=True))
        shards.update({e: self._shards_of(e) for e in changed if counted(e)})
        items = []
        for entry in added + changed:
            place = entry_list(entry, image_id % shards[entry]) if counted(entry) else _list_of(entry)
            item: Item = {KEY: index_name(image_id, entry), ENTRY: place, RANK: entries[entry]}
            if entry.startswith("/sha/"):
                item["pxRef"] = key
            if entry in latitudes:
                item["pxV"] = latitudes[entry]
            items.append(item)
        self.table.batch_write(items)
        gone = [e for e in stale if e not in entries]
        self.table.batch_write((), [index_name(image_id, e) for e in gone])
        list(self.pool.map(lambda e: self._count(e, -1), [e for e in gone if counted(e)]))

    def _count(self, entry: str, delta: int) -> int:
        """Change an entry's count; its number of shards. A count that reaches 0 goes (the entry is no more)."""
        found = self.table.update(
            count_name(entry),
            "SET #r = if_not_exists(#r, :zero) + :d, #e = :list, #s = if_not_exists(#s, :one)",
            {"#r": RANK, "#e": ENTRY, "#s": "pxShards"},
            {":zero": 0, ":d": delta, ":list": counts_list(entry), ":one": 1},
        )
        images, shards = int(found[RANK]), int(found["pxShards"])
        if delta > 0 and images == delta:
            self._names_changed()
        if images <= 0:
            try:
                self.table.delete(count_name(entry), "#r <= :zero", {"#r": RANK}, {":zero": 0})
                self._names_changed()
            except ConditionFailedError:
                pass  # another image took the entry meanwhile
        elif images > shards * HOT_ENTRY and shards < MAX_SHARDS:
            try:  # a hot entry: its new items spread over one more partition of the index
                self.table.update(
                    count_name(entry),
                    "SET #s = :more",
                    {"#s": "pxShards"},
                    {":more": shards + 1, ":now": shards},
                    "#s = :now",
                )
                shards += 1
            except ConditionFailedError:
                pass
        self._shards[entry] = shards
        return shards

    def _shards_of(self, entry: str) -> int:
        if entry not in self._shards:
            found = self.table.get(count_name(entry), fields=["pxShards"]) or {}
            self._shards[entry] = int(found.get("pxShards", 1))
        return self._shards[entry]

    def _derived(self, image_id: int, record: ImageRecord, analysed: bool, old: Item | None, dirty: bool) -> None:
        """Text and embedding items, and their counters."""
        deltas = dict.fromkeys(COUNTERS, 0)
        had_text = bool(old and old.get("pxHasText"))
        if analysed and record.TextDetections:
            from pixlens.catalog.facets import text_of

            self.table.batch_write([{KEY: text_name(image_id), "pxText": text_of(record)[:TEXT_LIMIT]}])
            deltas["pxTexts"] += 0 if had_text and not dirty else 1
        elif had_text:
            self.table.batch_write((), [text_name(image_id)])
            deltas["pxTexts"] -= 1
        had_vector = bool(old and old.get("pxHasVector"))
        if analysed and record.ImageEmbedding is not None:
            self.vectors.put_embedding(image_id, record.ImageEmbedding)
            deltas["pxEmbeddings"] += 0 if had_vector and not dirty else 1
        elif had_vector:
            self.vectors.remove_embedding(image_id)
            deltas["pxEmbeddings"] -= 1
        deltas["pxFaces"] = (len(record.FaceEmbeddings) if analysed else 0) - (int(old.get("pxFaces", 0)) if old else 0)
        self.add_counters(deltas)

    def add_counters(self, deltas: dict[str, int]) -> None:
        changed = {name: delta for name, delta in deltas.items() if delta}
        if changed:
            names = {f"#c{i}": name for i, name in enumerate(changed)}
            values = {f":c{i}": delta for i, delta in enumerate(changed.values())}
            self.table.update(
                STATUS_COUNTS, "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True)), names, values
            )

    # -- pending marks ----
    def mark_pending(self, key: str, etag: str | None, force: bool) -> bool:
        check_key(key)
        for _ in range(ATTEMPTS):
            old = self.table.get(key, consistent=True, fields=["Status", "ETag", "ContentSha256", "pxRev", "pxId"])
            state = (
                None
                if old is None
                else ImageState(key, Status(old["Status"]), old.get("ETag"), old.get("ContentSha256"), {})
            )
            need = needs_work(state, etag, force=force)  # pixlens.work decides
            if need is None or not need.marks_pending:
                return False
            try:
                if old is None:
                    image_id = self._new_id(key)
                    stub = {
                        **record_fields(ImageRecord(ImageName=key, ETag=etag)),
                        "pxId": image_id,
                        "pxIndex": {},
                        "pxFaces": 0,
                        "pxUpdated": utc_now(),
                        ENTRY: status_list("pending", image_id % IMAGE_SHARDS),
                        RANK: rank(epoch_seconds(utc_now()), image_id),
                    }
                    self._commit(stub, None, Status.PENDING.value)
                else:
                    self._repend(key, old)
                return True
            except ConditionFailedError:
                continue
        raise CatalogError(f"the image {key!r} kept being changed by other writers; try again")

    def _repend(self, key: str, old: Item) -> None:
        """A known image becomes pending; its old analysis stays searchable until the new one replaces it."""
        image_id, revision = int(old["pxId"]), int(old.get("pxRev", 0))
        update = self.table.action(
            "Update",
            name=key,
            expression="SET #st = :pending, #e = :list, #r = :rank, #rev = :next",
            condition="#rev = :rev",
            names={"#st": "Status", "#e": ENTRY, "#r": RANK, "#rev": "pxRev"},
            values={
                ":pending": "pending",
                ":list": status_list("pending", image_id % IMAGE_SHARDS),
                ":rank": rank(epoch_seconds(utc_now()), image_id),
                ":rev": revision,
                ":next": revision + 1,
            },
        )
        moves = _status_moves(old["Status"], Status.PENDING.value)
        self.table.transact([update, moves(self.table)] if moves else [update])

    # -- deletions ----
    def delete(self, key: str) -> bool:
        for _ in range(ATTEMPTS):
            old = self.table.get(key, consistent=True)
            if old is None:
                return False
            revision = int(old.get("pxRev", 0))
            remove = self.table.action(
                "Delete", name=key, condition="#rev = :rev", names={"#rev": "pxRev"}, values={":rev": revision}
            )
            moves = _status_moves(old["Status"], None)
            try:
                self.table.transact([remove, moves(self.table)] if moves else [remove])
            except ConditionFailedError:
                continue
            self._forget(key, old)
            return True
        raise CatalogError(f"the image {key!r} kept being changed by other writers; try again")

    def _forget(self, key: str, old: Item) -> None:
        image_id = int(old["pxId"])
        self._index(image_id, key, {}, {}, {**(old.get("pxStale") or {}), **(old.get("pxIndex") or {})})
        self.vectors.forget(image_id, int(old.get("pxFaces", 0)))
        if old.get("pxHasVector"):
            self.vectors.remove_embedding(image_id)
        doomed = [id_name(image_id), text_name(image_id), *part_names(image_id, old.get("pxParts") or {})]
        self.table.batch_write((), doomed)
        self.access.forget_image(image_id)
        self.add_counters(
            {
                "pxTexts": -int(bool(old.get("pxHasText"))),
                "pxEmbeddings": -int(bool(old.get("pxHasVector"))),
                "pxFaces": -int(old.get("pxFaces", 0)),
            }
        )


def _status_moves(old: str | None, new: str | None) -> Callable[[Table], dict[str, Any]] | None:
    """The transaction action that moves one image between status counts (None: nothing moves)."""
    if old == new:
        return None
    deltas = {name: delta for name, delta in ((old, -1), (new, 1)) if name is not None}
    names = {f"#s{i}": name for i, name in enumerate(deltas)}
    values = {f":s{i}": delta for i, delta in enumerate(deltas.values())}
    expression = "ADD " + ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True))
    return lambda table: table.action("Update", name=STATUS_COUNTS, expression=expression, names=names, values=values)


def _list_of(entry: str) -> str:
    """The index list of an uncounted entry: the entry itself (a content hash, a word, a band of latitude)."""
    return entry


def check_key(key: str) -> None:
    if not key or key.startswith("/"):
        raise CatalogError(
            f"invalid image key {key!r}: keys are relative paths (a leading '/' names the catalog's own items)"
        )
