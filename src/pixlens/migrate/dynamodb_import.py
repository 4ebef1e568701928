"""Import a table written by the original AWS pipeline (items keyed by ``ImageName`` with their labels) into any
catalog.

Reading someone else's table is a Scan: paginated (DynamoDB's 1 MB pages, or ``page_size`` items), in
``segments`` parallel segments if asked. Each item becomes an analysed record whose ``AnalyzerVersions`` say
``{"labels": "imported:dynamodb"}`` (``pixlens.work.imported``), so that reconcile knows it was not analysed here.
An item that cannot be read is skipped, counted by kind and reported with its reason; nothing but the table itself
(missing, no access, the endpoint unreachable) stops the import. What was written stays written: importing again
replaces imported records with the table's current ones, and never replaces a record analysed here.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pixlens.catalog.base import Catalog
from pixlens.errors import ConfigError, MigrationError
from pixlens.migrate.legacy_labels import LabelReader, LegacyItem, UnreadableItemError
from pixlens.migrate.typed import TypedValueError, from_typed, from_typed_item
from pixlens.parts import require
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.work import IMPORTED, imported

SOURCE = "dynamodb"
IMPORTED_VERSION = IMPORTED + SOURCE  # the labels analyser's version in every imported record
WRITE_BATCH = 200  # records per catalog transaction
EXAMPLES = 20  # skipped items kept in the report with their reasons (all of them go to ``on_skip``)
MAX_SEGMENTS = 64

TypedItem = dict[str, Any]


@dataclass(frozen=True)
class Skip:
    """An item that was not imported: which one (its image name, else its key in the table), why, and the kind of
    reason it is counted under."""

    item: str
    kind: str
    reason: str


@dataclass
class ImportReport:
    table: str
    dry_run: bool = False
    scanned: int = 0
    imported: int = 0  # written (or, in a dry run, that would be)
    kept: int = 0  # already in the catalog, analysed here: not replaced
    skipped: Counter[str] = field(default_factory=Counter)  # kind -> items
    examples: list[Skip] = field(default_factory=list)  # the first few skipped items
    labels_attributes: Counter[str] = field(default_factory=Counter)  # where the labels were found -> items


@dataclass(frozen=True)
class TableSource:
    """Where the table is: its name, its region (None: boto3's chain, AWS_REGION...), how to scan it."""

    table: str
    region: str | None = None
    segments: int = 1
    page_size: int | None = None  # items per Scan page (None: DynamoDB's 1 MB pages)

    def __post_init__(self) -> None:
        if not 1 <= self.segments <= MAX_SEGMENTS:
            raise ConfigError(f"segments must be between 1 and {MAX_SEGMENTS}, not {self.segments}")
        if self.page_size is not None and self.page_size < 1:
            raise ConfigError(f"page size must be at least 1, not {self.page_size}")


class DynamoTable:
    """A table read through boto3's low-level client (typed values: nothing lost to boto3's own conversions)."""

    def __init__(self, source: TableSource) -> None:
        boto3 = require("boto3", "aws", "pixlens import dynamodb")
        from botocore.config import Config

        self.source = source
        session = boto3.session.Session()
        region = source.region or session.region_name or ("us-east-1" if os.environ.get("AWS_ENDPOINT_URL") else None)
        if region is None:
            raise MigrationError("no AWS region: give --region, or set AWS_REGION")
        config = Config(region_name=region, retries={"mode": "standard", "total_max_attempts": 10})
        self.region = region
        self.client = session.client("dynamodb", config=config)

    def describe(self) -> tuple[int | None, list[str]]:
        """DynamoDB's estimate of the number of items (updated about every six hours) and the key's attributes;
        (None, []) when the caller may Scan but not DescribeTable."""
        try:
            table = self.client.describe_table(TableName=self.source.table)["Table"]
        except Exception as exc:
            if _code(exc) in ("AccessDeniedException", "UnauthorizedOperation"):
                return None, []
            raise self._failed(exc, "describe") from exc
        return table.get("ItemCount"), [key["AttributeName"] for key in table.get("KeySchema", [])]

    def pages(self) -> Iterator[list[TypedItem]]:
        """Every item, a Scan page at a time; the segments are scanned side by side, their pages in arrival order."""
        if self.source.segments == 1:
            yield from self._segment(None)
            return
        pages: queue.Queue[list[TypedItem] | BaseException | None] = queue.Queue(maxsize=2 * self.source.segments)
        stop = threading.Event()

        def scan(segment: int) -> None:
            try:
                for page in self._segment(segment):
                    while not stop.is_set():
                        try:
                            pages.put(page, timeout=0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
            except BaseException as exc:  # handed to the reading thread, which raises it
                pages.put(exc)
            finally:
                pages.put(None)

        threads = [
            threading.Thread(target=scan, args=(segment,), name=f"pixlens-scan-{segment}", daemon=True)
            for segment in range(self.source.segments)
        ]
        for thread in threads:
            thread.start()
        try:
            running = len(threads)
            while running:
                got = pages.get()
                if got is None:
                    running -= 1
                elif isinstance(got, BaseException):
                    raise got
                else:
                    yield got
        finally:
            stop.set()
            while any(thread.is_alive() for thread in threads):  # let a scanner blocked on a full queue finish
                with contextlib.suppress(queue.Empty):
                    pages.get(timeout=0.1)

    def _segment(self, segment: int | None) -> Iterator[list[TypedItem]]:
        request: dict[str, Any] = {"TableName": self.source.table}
        if segment is not None:
            request.update(Segment=segment, TotalSegments=self.source.segments)
        if self.source.page_size is not None:
            request["Limit"] = self.source.page_size
        while True:
            try:
                answer = self.client.scan(**request)
            except Exception as exc:
                raise self._failed(exc, "scan") from exc
            yield answer.get("Items", [])
            last = answer.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _failed(self, exc: Exception, doing: str) -> MigrationError:
        table, code = self.source.table, _code(exc)
        if code == "ResourceNotFoundException":
            return MigrationError(f"no DynamoDB table {table!r} in {self.region}")
        if code in ("AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"):
            return MigrationError(f"not allowed to {doing} {table!r} ({code}): {exc}")
        if type(exc).__module__.startswith("botocore"):
            return MigrationError(f"could not {doing} {table!r}: {exc}")
        return MigrationError(f"could not {doing} {table!r}: {type(exc).__name__}: {exc}")


def _code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        return str(response.get("Error", {}).get("Code")) or None
    return None


def imported_record(found: LegacyItem, when: str) -> ImageRecord:
    """The record of an imported item: analysed (by the original pipeline), labels only, no content hash or etag."""
    return ImageRecord(
        ImageName=found.name,
        Status=Status.ANALYZED,
        AnalyzedAt=when,
        Labels=found.labels,
        LabelModelVersion=found.model_version,
        AnalyzerVersions={"labels": IMPORTED_VERSION},
    )


class Importer:
    """Items -> records -> the catalog, in batches; every skipped item reported through ``on_skip``."""

    def __init__(
        self,
        catalog: Catalog,
        reader: LabelReader,
        report: ImportReport,
        key_attributes: list[str],
        on_skip: Callable[[Skip], None] | None = None,
    ) -> None:
        self.catalog, self.reader, self.report = catalog, reader, report
        self.key_attributes = key_attributes
        self.on_skip = on_skip
        self.when = utc_now()
        self._seen: set[str] = set()  # image names imported in this run (an item keyed otherwise may repeat one)
        self._batch: list[ImageRecord] = []

    def add(self, typed: TypedItem) -> None:
        self.report.scanned += 1
        try:
            found = self.reader.read(from_typed_item(typed))
        except UnreadableItemError as exc:
            self._skip(exc.name or self._which(typed), exc.kind, exc.reason)
            return
        except TypedValueError as exc:
            self._skip(self._which(typed), "unreadable-value", str(exc))
            return
        if found.name in self._seen:
            self._skip(found.name, "duplicate-image-name", "an item read before has the same image name")
            return
        self._seen.add(found.name)
        self.report.labels_attributes[found.labels_attribute] += 1
        self._batch.append(imported_record(found, self.when))
        if len(self._batch) >= WRITE_BATCH:
            self.flush()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        analysed_here = {
            state.key for state in self.catalog.states([record.ImageName for record in batch])
            if not imported(state.versions)  # analysed (or pending, or failed) here: the local analysis wins
        }  # fmt: skip
        fresh = [record for record in batch if record.ImageName not in analysed_here]
        self.report.kept += len(batch) - len(fresh)
        if not self.report.dry_run:
            self.catalog.put(fresh)
        self.report.imported += len(fresh)

    def _which(self, typed: TypedItem) -> str:
        """An item that has no readable image name, as its key in the table (or its place in the scan)."""
        shown = []
        for attribute in self.key_attributes:
            try:
                shown.append(f"{attribute}={from_typed(typed[attribute])}")
            except (KeyError, TypedValueError):
                continue
        return ", ".join(shown) if shown else f"item {self.report.scanned} of the scan"

    def _skip(self, item: str, kind: str, reason: str) -> None:
        skip = Skip(item, kind, reason)
        self.report.skipped[kind] += 1
        if len(self.report.examples) < EXAMPLES:
            self.report.examples.append(skip)
        if self.on_skip is not None:
            self.on_skip(skip)


def import_table(
    catalog: Catalog,
    source: TableSource,
    reader: LabelReader,
    dry_run: bool = False,
    on_total: Callable[[int | None], None] | None = None,
    on_page: Callable[[int], None] | None = None,
    on_skip: Callable[[Skip], None] | None = None,
) -> ImportReport:
    """Scan ``source`` into ``catalog`` (nothing written with ``dry_run``). ``on_total`` hears DynamoDB's estimate
    of the number of items, ``on_page`` the number of items of each page read, ``on_skip`` every skipped item."""
    table = DynamoTable(source)
    estimate, key_attributes = table.describe()
    if on_total is not None:
        on_total(estimate)
    report = ImportReport(source.table, dry_run)
    importer = Importer(catalog, reader, report, key_attributes, on_skip)
    try:
        for page in table.pages():
            for typed in page:
                importer.add(typed)
            if on_page is not None:
                on_page(len(page))
    except MigrationError:
        importer.flush()  # what was read before the table failed is kept; an import again resumes it
        raise
    importer.flush()
    return report
