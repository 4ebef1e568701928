"""The command line for migration: ``pixlens import dynamodb`` (the original AWS pipeline's table into the catalog)
and ``pixlens export`` (any catalog out, as JSON lines or DynamoDB JSON). docs/MIGRATION.md says more.

``pixlens.cli`` registers both (``import`` as a group, ``export`` as a command), and this module uses its helpers:
each imports the other at its end, so that either may be imported first.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.markup import escape
from rich.progress import Progress, TaskID

from pixlens import shapes
from pixlens.catalog.base import Catalog
from pixlens.migrate.dynamodb_import import EXAMPLES, Skip, TableSource, import_table
from pixlens.migrate.export import FORMATS, JSONL, ExportReport, output_file, write_export
from pixlens.migrate.legacy_labels import DEFAULT_CONFIDENCE_FOR_NAMES, LabelReader
from pixlens.record import ImageRecord

FORMAT_HELP = (
    " or ".join(FORMATS)
    + ': JSON lines as `pixlens show` prints records, or DynamoDB JSON (one {"Item": ...} per line) '
    "for a DynamoDB import from S3 and for pixlens import dynamodb."
)
import_app = typer.Typer(
    help="Bring analysed images in from elsewhere: the original AWS pipeline's DynamoDB table.", no_args_is_help=True
)


@import_app.command("dynamodb")
def import_dynamodb(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="The table the original pipeline wrote (items keyed by ImageName).")],
    region: Annotated[
        str | None, typer.Option(help="The table's AWS region (default: AWS_REGION, boto3's chain).")
    ] = None,
    segments: Annotated[int, typer.Option(min=1, max=64, help="Scan this many segments side by side.")] = 1,
    page_size: Annotated[
        int | None, typer.Option(min=1, help="Items per Scan request (default: DynamoDB's 1 MB pages).")
    ] = None,
    name_attribute: Annotated[
        str | None,
        typer.Option(help="The attribute that holds the image's name (default: ImageName or a usual spelling)."),
    ] = None,
    labels_attribute: Annotated[
        str | None, typer.Option(help="The attribute that holds the labels (default: Labels or a usual name).")
    ] = None,
    confidence_for_names: Annotated[
        float,
        typer.Option(
            min=0,
            max=100,
            help="Confidence recorded for labels stored as bare names (Rekognition's default MinConfidence: the "
            "least a label it returned had).",
        ),
    ] = DEFAULT_CONFIDENCE_FOR_NAMES,
    dry_run: Annotated[bool, typer.Option(help="Read and check every item; write nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a DynamoDB table written by the original pipeline (S3 -> Lambda -> Rekognition -> DynamoDB) into the
    catalog: each item becomes an analysed record, its labels mapped through pixlens's taxonomy where names match.

    Items that cannot be read are skipped and reported with the reason; images analysed here are not replaced.
    Reconcile re-analyses an imported image once it is in the store (docs/MIGRATION.md).
    Exits with status 1 when some items were skipped.

    Example: pixlens import dynamodb images --region eu-west-1 --dry-run
    """
    lens = _lens(ctx)
    reader = LabelReader(lens.taxonomy, name_attribute, labels_attribute, confidence_for_names)
    source = TableSource(table, region, segments, page_size)
    with _progress("skipped") as progress:
        task = progress.add_task("importing" if not dry_run else "checking", total=None, failed=0)
        skipped = 0

        def estimated(total: int | None) -> None:
            progress.update(task, total=total or None)

        def read(items: int) -> None:
            progress.advance(task, items)
            done = progress.tasks[0]
            if done.total is not None and done.completed > done.total:  # the count is DynamoDB's estimate
                progress.update(task, total=done.completed)

        def skip(found: Skip) -> None:
            nonlocal skipped
            skipped += 1
            progress.update(task, failed=skipped)
            if as_json:
                _emit(shapes.import_skip(found))
            elif skipped <= EXAMPLES:
                err.print(f"[yellow]skipped[/] {_shown(found.item)}: {_shown(found.reason)}", highlight=False)

        report = import_table(lens.catalog, source, reader, dry_run, estimated, read, skip)
    summary = shapes.import_summary(report)
    if as_json:
        _emit(summary)
    else:
        if skipped > EXAMPLES:
            err.print(f"... and {skipped - EXAMPLES} more skipped (--json lists every one)", highlight=False)
        reasons = ", ".join(f"{count} {kind}" for kind, count in sorted(report.skipped.items()))
        would = "would be " if dry_run else ""
        err.print(
            f"{report.scanned} items read from {escape(table)}: {report.imported} {would}imported, "
            f"{report.kept} kept as analysed here, {summary['Skipped']} skipped" + (f" ({reasons})" if reasons else ""),
            highlight=False,
        )
    if report.skipped:
        raise typer.Exit(1)


def export(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help=FORMAT_HELP)] = JSONL,
    output: Annotated[str, typer.Option("--output", "-o", help="A file, or - for standard output.")] = "-",
) -> None:
    """Write every record of the catalog out, one per line, streamed (progress and summary on stderr).

    A file is written under a temporary name and renamed when complete.

    Example: pixlens export --format dynamodb-json --output images.json
    """
    if format not in FORMATS:
        err.print(f"[red]error:[/] --format must be one of {', '.join(FORMATS)}, not {escape(format)!r}")
        raise typer.Exit(2)
    lens = _lens(ctx)
    catalog = lens.catalog
    total = sum(catalog.status_counts().values())
    with _progress("reduced") as progress:
        task = progress.add_task("exporting", total=total, failed=0)
        if output == "-":
            standard = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
            try:
                report = _write(catalog, format, standard, progress, task)
                standard.flush()
            except BrokenPipeError:  # the reader (head, a closed pipe) has what it wanted
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise typer.Exit(0) from None
            finally:
                standard.detach()
            where = "standard output"
        else:
            with output_file(Path(output)) as stream:
                report = _write(catalog, format, stream, progress, task)
            where = output
    err.print(
        f"{report.records} records written to {_shown(where)} ({format})"
        + (f"; {report.reduced} cut to their core to fit DynamoDB's 400 KB" if report.reduced else ""),
        highlight=False,
    )


def _write(catalog: Catalog, format: str, stream: TextIO, progress: Progress, task: TaskID) -> ExportReport:
    def written(record: ImageRecord) -> None:
        progress.advance(task)

    report = write_export(catalog, format, stream, written)
    progress.update(task, failed=report.reduced)
    return report


from pixlens.cli import JsonOption, _emit, _lens, _progress, _shown, err  # noqa: E402  (see the docstring)
