"""The DynamoDB catalog's access items: API keys, saved searches with webhooks, and their deliveries (the same
semantics as ``sqlite_access.py``; plain rows in, plain rows out).

- ``/apikey/<id>`` (listed in ``/apikeys`` by id), ``/hook/<name>`` (listed in ``/hooks``; the name is the key, so
  a conditional put refuses a taken name), ``/delivery/<id>`` (listed in ``/deliveries``, newest last).
- A pending delivery also has a ``/due/<id>`` item, listed in ``/due`` by when it is due: a sender claims one by a
  conditional update of the delivery (its due time must be the one it read) that moves it to the end of a lease,
  in one transaction with its ``/due`` item, so that two senders never take the same delivery.
- ``/unmatched/<id>`` marks an image analysed while hooks existed and not matched yet (listed in ``/unmatched``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pixlens.catalog.base import ApiKeyRow, DeliveryRow, HookRow
from pixlens.catalog.dynamodb_items import META, SPAN, rank, unrank
from pixlens.catalog.dynamodb_schema import ENTRY, KEY, RANK
from pixlens.catalog.dynamodb_table import ConditionFailedError, Item, Table

KEYS, HOOKS, DELIVERIES, DUE, UNMATCHED = "/apikeys", "/hooks", "/deliveries", "/due", "/unmatched"
HOOKS_SEEN_FOR = 5.0  # seconds a process trusts its knowledge of whether hooks exist (its own changes at once)
PENDING = "pending"


def _ms(when: str | None) -> int:
    if not when:
        return 0
    return int(datetime.fromisoformat(when.replace("Z", "+00:00")).timestamp() * 1000)


def _present(item: dict[str, Any]) -> Item:
    return {name: value for name, value in item.items() if value is not None}


def _key_row(item: Item) -> ApiKeyRow:
    return ApiKeyRow(
        int(item["pxId"]),
        item.get("pxName"),
        item["pxScope"],
        item["pxPrefix"],
        item["pxSha"],
        item["pxCreated"],
        item.get("pxUsed"),
        item.get("pxRevoked"),
    )


def _hook_row(item: Item) -> HookRow:
    return HookRow(
        int(item["pxId"]), item["pxName"], item["pxQuery"], item["pxUrl"], item.get("pxSecret"), item["pxCreated"]
    )


def _delivery_row(item: Item) -> DeliveryRow:
    return DeliveryRow(
        item["pxId"],
        int(item["pxHookId"]),
        item["pxHook"],
        item["pxImage"],
        item["pxBody"],
        item["pxStatus"],
        int(item["pxAttempts"]),
        item.get("pxNext"),
        item.get("pxError"),
        item["pxCreated"],
        item.get("pxDelivered"),
    )


class AccessItems:
    def __init__(self, table: Table) -> None:
        self.table = table
        self._hooks_seen: tuple[float, bool] | None = None

    def _listed(self, name: str, descending: bool = False) -> list[int]:
        return [unrank(item[RANK])[1] for item in self.table.query(name, descending=descending)]

    # -- API keys ----
    def add_api_key(self, name: str | None, scope: str, prefix: str, sha256: str, when: str) -> ApiKeyRow:
        key_id = self.table.add(META, "pxKeyIds")
        item = _present(
            {
                KEY: f"/apikey/{key_id}",
                "pxId": key_id,
                "pxName": name,
                "pxScope": scope,
                "pxPrefix": prefix,
                "pxSha": sha256,
                "pxCreated": when,
                ENTRY: KEYS,
                RANK: rank(0, key_id),
            }
        )
        self.table.put(item, "attribute_not_exists(#k)", {"#k": KEY})
        return _key_row(item)

    def api_keys(self, prefix: str | None = None) -> list[ApiKeyRow]:
        ids = self._listed(KEYS)
        found = self.table.batch_get([f"/apikey/{key_id}" for key_id in ids])
        rows = [_key_row(found[f"/apikey/{key_id}"]) for key_id in ids if f"/apikey/{key_id}" in found]
        return [row for row in rows if prefix is None or row.prefix == prefix]

    def revoke_api_key(self, key_id: int, when: str) -> ApiKeyRow | None:
        try:
            item = self.table.update(
                f"/apikey/{key_id}",
                "SET #r = if_not_exists(#r, :when)",
                {"#r": "pxRevoked", "#k": KEY},
                {":when": when},
                "attribute_exists(#k)",
            )
        except ConditionFailedError:
            return None
        return _key_row(item)

    def touch_api_key(self, key_id: int, when: str, unless_since: str) -> None:
        with contextlib.suppress(ConditionFailedError):
            self.table.update(
                f"/apikey/{key_id}",
                "SET #u = :when",
                {"#u": "pxUsed", "#k": KEY},
                {":when": when, ":since": unless_since},
                "attribute_exists(#k) AND (attribute_not_exists(#u) OR #u < :since)",
            )

    # -- hooks ----
    def add_hook(self, name: str, query: str, url: str, secret: str | None, when: str) -> HookRow | None:
        hook_id = self.table.add(META, "pxHookIds")
        item = _present(
            {
                KEY: f"/hook/{name}",
                "pxId": hook_id,
                "pxName": name,
                "pxQuery": query,
                "pxUrl": url,
                "pxSecret": secret,
                "pxCreated": when,
                ENTRY: HOOKS,
                RANK: rank(0, hook_id),
            }
        )
        try:
            self.table.put(item, "attribute_not_exists(#k)", {"#k": KEY})
        except ConditionFailedError:
            return None
        self._hooks_seen = (time.monotonic(), True)
        return _hook_row(item)

    def hooks(self) -> list[HookRow]:
        items = [item for item in self.table.query(HOOKS)]
        found = self.table.batch_get([str(item[KEY]) for item in items])
        return sorted((_hook_row(item) for item in found.values()), key=lambda hook: hook.name)

    def remove_hook(self, name: str) -> bool:
        item = self.table.get(f"/hook/{name}", consistent=True, fields=["pxId"])
        if item is None or not self.table.delete(f"/hook/{name}"):
            return False
        self._hooks_seen = None
        doomed = [d for d in self._deliveries() if int(d["pxHookId"]) == int(item["pxId"])]
        self.table.batch_write((), [name for d in doomed for name in (str(d[KEY]), f"/due/{d['pxId']}")])
        return True

    def hooks_exist(self) -> bool:
        seen = self._hooks_seen
        if seen is None or time.monotonic() - seen[0] > HOOKS_SEEN_FOR:
            seen = self._hooks_seen = (time.monotonic(), bool(list(self.table.query(HOOKS, limit=1))))
        return seen[1]

    # -- images to match ----
    def note_analyzed(self, image_id: int, key: str) -> None:
        self.table.batch_write(
            [{KEY: f"/unmatched/{image_id}", "pxRef": key, ENTRY: UNMATCHED, RANK: rank(0, image_id)}]
        )

    def forget_image(self, image_id: int) -> None:
        self.table.batch_write((), [f"/unmatched/{image_id}"])

    def unmatched(self, limit: int) -> list[str]:
        return [str(item["pxRef"]) for item in self.table.query(UNMATCHED, descending=False, limit=limit)]

    # -- deliveries ----
    def add_deliveries(self, deliveries: Iterable[DeliveryRow], matched_ids: Iterable[int] = ()) -> None:
        rows = list(deliveries)
        if rows:
            last = self.table.add(META, "pxDeliveries", len(rows))
            names = {hook.id: hook.name for hook in self.hooks()}
            items = []
            for seq, d in enumerate(rows, start=last - len(rows) + 1):
                items.append(self._delivery_item(d, names.get(d.hook_id, ""), seq))
                if d.status == PENDING:
                    items.append(self._due_item(d.id, d.next_attempt_at, seq))
            self.table.batch_write(items)
        self.table.batch_write((), [f"/unmatched/{image_id}" for image_id in matched_ids])

    @staticmethod
    def _delivery_item(d: DeliveryRow, hook: str, seq: int) -> Item:
        return _present(
            {
                KEY: f"/delivery/{d.id}",
                "pxId": d.id,
                "pxSeq": seq,
                "pxHookId": d.hook_id,
                "pxHook": hook,
                "pxImage": d.image,
                "pxBody": d.body,
                "pxStatus": d.status,
                "pxAttempts": d.attempts,
                "pxNext": d.next_attempt_at,
                "pxError": d.last_error,
                "pxCreated": d.created_at,
                "pxDelivered": d.delivered_at,
                ENTRY: DELIVERIES,
                RANK: rank(0, seq),
            }
        )

    @staticmethod
    def _due_item(delivery_id: str, due: str | None, seq: int) -> Item:
        return {KEY: f"/due/{delivery_id}", "pxRef": delivery_id, ENTRY: DUE, RANK: rank(_ms(due), seq % SPAN)}

    def claim_deliveries(self, due_by: str, lease_until: str, limit: int) -> list[DeliveryRow]:
        claimed: list[DeliveryRow] = []
        due = list(self.table.query(DUE, high=rank(_ms(due_by), SPAN - 1), descending=False, limit=limit))
        found = self.table.batch_get([f"/delivery/{item['pxRef']}" for item in due])
        for entry in due:
            item = found.get(f"/delivery/{entry['pxRef']}")
            if item is None or item["pxStatus"] != PENDING or (item.get("pxNext") or "") > due_by:
                continue
            try:
                self.table.transact(
                    [
                        self.table.action(
                            "Update",
                            name=str(item[KEY]),
                            expression="SET #n = :lease",
                            condition="#n = :seen AND #s = :pending",
                            names={"#n": "pxNext", "#s": "pxStatus"},
                            values={":lease": lease_until, ":seen": item.get("pxNext"), ":pending": PENDING},
                        ),
                        self.table.action(
                            "Put", item=self._due_item(str(item["pxId"]), lease_until, int(item["pxSeq"]))
                        ),
                    ]
                )
            except ConditionFailedError:
                continue  # another sender took it
            claimed.append(_delivery_row(item))
        return claimed

    def update_delivery(self, d: DeliveryRow) -> None:
        item = self.table.get(f"/delivery/{d.id}", consistent=True)
        if item is None:
            return
        updated = self._delivery_item(d, str(item.get("pxHook", "")), int(item["pxSeq"]))
        if d.status == PENDING:
            self.table.batch_write([updated, self._due_item(d.id, d.next_attempt_at, int(item["pxSeq"]))])
        else:
            self.table.batch_write([updated], [f"/due/{d.id}"])

    def _deliveries(self) -> Iterable[Item]:
        for page in _pages(self.table.query(DELIVERIES), 100):
            yield from self.table.batch_get([str(item[KEY]) for item in page]).values()

    def deliveries(self, hook: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        rows: list[DeliveryRow] = []
        for page in _pages(self.table.query(DELIVERIES), 100):
            found = self.table.batch_get([str(item[KEY]) for item in page])
            for entry in page:
                item = found.get(str(entry[KEY]))
                if item is not None and (hook is None or item.get("pxHook") == hook):
                    rows.append(_delivery_row(item))
                    if len(rows) >= limit:
                        return rows
        return rows


def _pages(items: Iterable[Item], size: int) -> Iterable[list[Item]]:
    page: list[Item] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
