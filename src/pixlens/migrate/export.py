"""Every record of a catalog, written out one line at a time (never the whole catalog in memory: the records are
read one by one, only the keys are listed first).

- ``jsonl``: one record per line, as ``pixlens show --json`` prints it (``shapes.record``).
- ``dynamodb-json``: one ``{"Item": {...}}`` per line in typed attribute values, the format of DynamoDB's S3
  export and import and of ``aws dynamodb``: keyed by ``ImageName``, ``Labels`` a list of maps with ``Name`` and
  ``Confidence`` (numbers as ``N`` strings), and the rest of the record beside them; ``pixlens import dynamodb``
  reads a table filled from it back. An item that DynamoDB would refuse as too large (400 KB) keeps only the
  record's core (name, status, content, labels, moderation labels, versions) and is counted as reduced.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from pixlens import shapes
from pixlens.catalog.base import Catalog
from pixlens.errors import MigrationError
from pixlens.migrate.typed import to_typed_item
from pixlens.record import ImageRecord

JSONL = "jsonl"
DYNAMODB_JSON = "dynamodb-json"
FORMATS = (JSONL, DYNAMODB_JSON)
MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's item size limit
CORE = (
    "ImageName", "ContentSha256", "Size", "ContentType", "Width", "Height", "Status", "Error", "AnalyzedAt",
    "Labels", "LabelModelVersion", "ModerationLabels", "AnalyzerVersions", "ETag",
)  # fmt: skip


@dataclass
class ExportReport:
    format: str
    records: int = 0
    reduced: int = 0  # dynamodb-json items cut to their core to fit DynamoDB's item size


def records(catalog: Catalog) -> Iterator[ImageRecord]:
    """Every record, by key; one removed while the export runs is left out."""
    for state in catalog.states():
        record = catalog.get(state.key)
        if record is not None:
            yield record


def jsonl_line(record: ImageRecord) -> str:
    return json.dumps(shapes.record(record), ensure_ascii=False)


def dynamodb_item(record: ImageRecord) -> tuple[dict[str, Any], bool]:
    """The record as a DynamoDB item (typed values; absent values left out, as DynamoDB keeps them), and whether it
    had to be cut to its core to fit DynamoDB's item size."""
    shaped = {name: value for name, value in shapes.record(record).items() if value is not None}
    if _size(shaped) > MAX_ITEM_BYTES:
        return to_typed_item({name: shaped[name] for name in CORE if name in shaped}), True
    return to_typed_item(shaped), False


def _size(values: dict[str, Any]) -> int:
    """An upper bound of DynamoDB's size of the item: its compact JSON (numbers and names count about the same,
    quotes and punctuation are extra)."""
    return len(json.dumps(values, separators=(",", ":"), ensure_ascii=False).encode())


def write_export(
    catalog: Catalog, format: str, output: TextIO, on_record: Callable[[ImageRecord], None] | None = None
) -> ExportReport:
    """Write every record of ``catalog`` to ``output`` in ``format`` (``FORMATS``)."""
    if format not in FORMATS:
        raise MigrationError(f"unknown export format {format!r}: one of {', '.join(FORMATS)}")
    report = ExportReport(format)
    for record in records(catalog):
        if format == JSONL:
            line = jsonl_line(record)
        else:
            item, reduced = dynamodb_item(record)
            report.reduced += reduced
            line = json.dumps({"Item": item}, ensure_ascii=False)
        output.write(line + "\n")
        report.records += 1
        if on_record is not None:
            on_record(record)
    return report


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[TextIO]:
    """A file written under a temporary name beside ``path`` and renamed to it only when the export is complete:
    an interrupted export never leaves a file that looks whole."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
    try:  # the umask's permissions, as the file itself would get (not mkstemp's owner-only ones)
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise MigrationError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
