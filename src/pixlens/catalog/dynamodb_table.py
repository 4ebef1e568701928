"""The DynamoDB catalog's calls: one boto3 client, items as plain Python values, paginated Queries, batches whose
unprocessed parts are sent again, and AWS's errors as CatalogErrors that say what to do.

Throttling is retried by botocore itself (retry mode ``standard`` or ``adaptive``, from the URL); a request that
is still throttled after those attempts is sent again a few rounds later (``THROTTLE_ROUNDS``), and only then
reported. BatchWriteItem and BatchGetItem may leave part of a batch unprocessed under throttling: that part is
sent again with backoff until it is done.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from pixlens.catalog.dynamodb_schema import ENTRY, INDEX, KEY, RANK, table_definition
from pixlens.errors import CatalogError, ConfigError, PixlensError

T = TypeVar("T")
Item = dict[str, Any]

BATCH_WRITE = 25  # DynamoDB's limits per request
BATCH_GET = 100
THROTTLE_ROUNDS = 4  # rounds of botocore's own retries before a throttled request is reported
BACKOFF = 0.05  # seconds before the first resend of unprocessed items (doubling, with jitter, up to MAX_BACKOFF)
MAX_BACKOFF = 5.0
THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded", "LimitExceededException"}
)
DENIED = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class ConditionFailedError(CatalogError):
    """A conditional write found the item otherwise than it expected (another writer was first)."""


class TableMissingError(CatalogError):
    """The catalog's table does not exist."""


def to_dynamo(value: Any) -> Any:
    """A Python value as DynamoDB takes it: floats as Decimals (exactly as printed), tuples as lists."""
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    """DynamoDB's values back as JSON's: Decimals as ints or floats, sets as sorted lists, binary as bytes."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(from_dynamo(v) for v in value)
    if hasattr(value, "value") and isinstance(value.value, bytes):  # boto3's Binary
        return bytes(value.value)
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _serializer.serialize(to_dynamo(value)) for name, value in item.items()}


def deserialize(item: Mapping[str, Any]) -> Item:
    return {name: from_dynamo(_deserializer.deserialize(value)) for name, value in item.items()}


def key_of(name: str) -> dict[str, Any]:
    return {KEY: {"S": name}}


@dataclass(frozen=True)
class Connection:
    """Where the table is: its name, region, and how hard botocore retries (from the catalog's URL)."""

    table: str
    region: str | None = None
    endpoint: str | None = None
    retry_mode: str = "standard"
    max_attempts: int = 8


class Table:
    """One catalog table (see the module docstring)."""

    def __init__(self, where: Connection, client: Any = None) -> None:
        self.where = where
        self.name = where.table
        self.client = client if client is not None else make_client(where)
        self.shown = f"dynamodb://{where.table} ({self.client.meta.region_name}, {self.client.meta.endpoint_url})"

    # -- errors ----
    def call(self, what: str, work: Callable[[], T]) -> T:
        """``work()``, again after a pause when it was throttled beyond botocore's retries; errors explained."""
        for round_ in range(THROTTLE_ROUNDS + 1):
            try:
                return work()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in THROTTLED and round_ < THROTTLE_ROUNDS:
                    _pause(round_ + 3)
                    continue
                raise self.error(exc, what) from exc
            except (BotoCoreError, ValueError) as exc:
                raise self.error(exc, what) from exc
        raise AssertionError("unreachable")

    def error(self, exc: BaseException, what: str) -> PixlensError:
        where = self.shown
        if isinstance(exc, NoRegionError):
            return ConfigError(
                f"the DynamoDB catalog {self.name} needs a region: add ?region=... to its URL or set AWS_REGION"
            )
        if isinstance(exc, NoCredentialsError):
            return ConfigError(
                f"no AWS credentials for the DynamoDB catalog {where} (AWS_ACCESS_KEY_ID, a profile, a role)"
            )
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", "")
            if code == "ConditionalCheckFailedException" or (
                code == "TransactionCanceledException" and "ConditionalCheckFailed" in message
            ):
                return ConditionFailedError(f"catalog {what}: another writer changed the item first")
            if code == "ResourceNotFoundException":
                return TableMissingError(
                    f"the DynamoDB table of the catalog {where} does not exist: create it with "
                    f"`PIXLENS_CATALOG=dynamodb://{self.name} pixlens init` (or deploy the template)"
                )
            if code in DENIED:
                return ConfigError(
                    f"AWS refused the credentials for the catalog {where} ({code}): check the keys, the profile "
                    f"and the region"
                )
            if code in THROTTLED:
                return CatalogError(
                    f"catalog {what} failed ({where}): DynamoDB kept throttling the requests ({code}) after "
                    f"{self.where.max_attempts} attempts x {THROTTLE_ROUNDS + 1} rounds; the writes not done stay "
                    "pending (use on-demand capacity or raise the table's capacity)"
                )
            return CatalogError(f"catalog {what} failed ({where}): {code}: {message}")
        return CatalogError(f"catalog {what} failed ({where}): {exc}")

    # -- one item ----
    def get(self, name: str, consistent: bool = False, fields: Iterable[str] | None = None) -> Item | None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key_of(name), "ConsistentRead": consistent}
        kwargs.update(_projection(fields))
        answer = self.call("read", lambda: self.client.get_item(**kwargs))
        return deserialize(answer["Item"]) if "Item" in answer else None

    def put(
        self,
        item: Item,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": serialize(item)}
        kwargs.update(_condition(condition, names, values))
        self.call("write", lambda: self.client.put_item(**kwargs))

    def delete(
        self,
        name: str,
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> bool:
        """Delete an item; whether it existed."""
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key_of(name), "ReturnValues": "ALL_OLD"}
        kwargs.update(_condition(condition, names, values))
        answer = self.call("delete", lambda: self.client.delete_item(**kwargs))
        return "Attributes" in answer

    def update(
        self,
        name: str,
        expression: str,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
        condition: str | None = None,
    ) -> Item:
        """An UpdateItem; the item's attributes after it."""
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "Key": key_of(name),
            "UpdateExpression": expression,
            "ReturnValues": "ALL_NEW",
        }
        kwargs.update(_condition(condition, names, values))
        answer = self.call("write", lambda: self.client.update_item(**kwargs))
        return deserialize(answer.get("Attributes", {}))

    def add(self, name: str, field: str, amount: int = 1) -> int:
        """Add to a counter (made at 0 when missing); its new value."""
        found = self.update(name, "ADD #f :n", {"#f": field}, {":n": amount})
        return int(found[field])

    def transact(self, actions: list[dict[str, Any]]) -> None:
        """TransactWriteItems (actions in the low-level shape, built with ``action``)."""
        self.call("write", lambda: self.client.transact_write_items(TransactItems=actions))

    def action(self, kind: str, **parts: Any) -> dict[str, Any]:
        """One action of a transaction: ``Put`` (item=...), ``Update`` (name, expression), ``Delete`` (name),
        ``ConditionCheck`` (name), each with an optional condition, names and values."""
        body: dict[str, Any] = {"TableName": self.name}
        if kind == "Put":
            body["Item"] = serialize(parts["item"])
        else:
            body["Key"] = key_of(parts["name"])
        if kind == "Update":
            body["UpdateExpression"] = parts["expression"]
        body.update(_condition(parts.get("condition"), parts.get("names"), parts.get("values")))
        return {kind: body}

    # -- many items ----
    def batch_get(self, names: Iterable[str], fields: Iterable[str] | None = None) -> dict[str, Item]:
        """The items that exist among ``names`` (eventually consistent), by name."""
        wanted = list(dict.fromkeys(names))
        found: dict[str, Item] = {}
        projection = _projection(fields)
        for start in range(0, len(wanted), BATCH_GET):
            request: dict[str, Any] = {
                self.name: {"Keys": [key_of(name) for name in wanted[start : start + BATCH_GET]], **projection}
            }
            attempt = 0
            while request:
                answer = self.call("read", lambda r=request: self.client.batch_get_item(RequestItems=r))  # type: ignore[misc]
                for raw in answer.get("Responses", {}).get(self.name, []):
                    item = deserialize(raw)
                    found[item[KEY]] = item
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    _pause(attempt)
                    attempt += 1
        return found

    def batch_write(self, puts: Iterable[Item] = (), deletes: Iterable[str] = ()) -> None:
        """Put and delete items, 25 a request; what DynamoDB leaves unprocessed is sent again with backoff."""
        requests = [{"PutRequest": {"Item": serialize(item)}} for item in puts]
        requests += [{"DeleteRequest": {"Key": key_of(name)}} for name in dict.fromkeys(deletes)]
        for start in range(0, len(requests), BATCH_WRITE):
            pending: dict[str, Any] = {self.name: requests[start : start + BATCH_WRITE]}
            attempt = 0
            while pending:
                answer = self.call("write", lambda p=pending: self.client.batch_write_item(RequestItems=p))  # type: ignore[misc]
                pending = answer.get("UnprocessedItems") or {}
                if pending:
                    _pause(attempt)
                    attempt += 1

    def query(
        self,
        entry: str,
        low: int | None = None,
        high: int | None = None,
        descending: bool = True,
        limit: int | None = None,
        count: bool = False,
    ) -> Iterator[Item]:
        """The index items of one list (``pxEntry = entry``), ranks within [low, high], best (highest) first; all
        pages, or the first ``limit`` items. With ``count``, one item ``{"Count": n}`` per page."""
        condition = "#e = :e"
        values: dict[str, Any] = {":e": {"S": entry}}
        if low is not None and high is not None:
            condition += " AND #r BETWEEN :lo AND :hi"
            values.update({":lo": {"N": str(low)}, ":hi": {"N": str(high)}})
        elif low is not None:
            condition += " AND #r >= :lo"
            values[":lo"] = {"N": str(low)}
        elif high is not None:
            condition += " AND #r <= :hi"
            values[":hi"] = {"N": str(high)}
        kwargs: dict[str, Any] = {
            "TableName": self.name,
            "IndexName": INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": {"#e": ENTRY, **({"#r": RANK} if "#r" in condition else {})},
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not descending,
        }
        if count:
            kwargs["Select"] = "COUNT"
        given = 0
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - given
            answer = self.call("search", lambda: self.client.query(**kwargs))
            if count:
                yield {"Count": int(answer.get("Count", 0))}
            else:
                for raw in answer.get("Items", []):
                    yield deserialize(raw)
                    given += 1
            if "LastEvaluatedKey" not in answer or (limit is not None and given >= limit):
                return
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- the table itself ----
    def exists(self) -> bool:
        try:
            self.call("open", lambda: self.client.describe_table(TableName=self.name))
        except TableMissingError:
            return False
        return True

    def describe(self) -> Item:
        answer = self.call("open", lambda: self.client.describe_table(TableName=self.name))
        table: Item = answer["Table"]
        return table

    def create(self) -> None:
        """Create the table (``dynamodb_schema.table_definition``) and wait until it is active."""
        definition = table_definition(self.name)
        self.call("create", lambda: self.client.create_table(**definition))
        waiter = self.client.get_waiter("table_exists")
        self.call("create", lambda: waiter.wait(TableName=self.name, WaiterConfig={"Delay": 1, "MaxAttempts": 300}))


def make_client(where: Connection) -> Any:
    session = boto3.session.Session()
    region = where.region or session.region_name
    endpoint = where.endpoint or None
    if region is None and not endpoint:
        raise ConfigError(
            f"the DynamoDB catalog {where.table} needs a region: add ?region=... to its URL, or set AWS_REGION"
        )
    config = Config(
        region_name=region or "us-east-1",
        retries={"total_max_attempts": where.max_attempts, "mode": where.retry_mode},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=32,
    )
    return session.client("dynamodb", endpoint_url=endpoint, config=config)


def _projection(fields: Iterable[str] | None) -> dict[str, Any]:
    if fields is None:
        return {}
    names = {f"#p{i}": field for i, field in enumerate([KEY, *fields])}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}


def _condition(
    condition: str | None, names: Mapping[str, str] | None, values: Mapping[str, Any] | None
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if condition is not None:
        kwargs["ConditionExpression"] = condition
    if names:
        kwargs["ExpressionAttributeNames"] = dict(names)
    if values:
        kwargs["ExpressionAttributeValues"] = serialize(values)
    return kwargs


def _pause(attempt: int) -> None:
    """Exponential backoff with full jitter."""
    time.sleep(random.uniform(0, min(MAX_BACKOFF, BACKOFF * 2**attempt)))
