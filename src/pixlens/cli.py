"""The command line: a thin shell over :class:`pixlens.service.Pixlens`."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pixlens import __version__
from pixlens.config import KNOWN_ANALYZERS, load_settings
from pixlens.errors import ConfigError, PixlensError, QueryError
from pixlens.pipeline import Outcome, Result
from pixlens.service import Pixlens

app = typer.Typer(
    help="Make a pile of images searchable by what is in them: analyse, catalogue, search. Offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON lines).")]


class State:
    def __init__(self, home: Path | None, store: str | None, catalog: str | None, features: str | None) -> None:
        self.home, self.store, self.catalog = home, store, catalog
        self.analyzers = [name.strip() for name in features.split(",") if name.strip()] if features else None
        self._lens: Pixlens | None = None

    def close(self) -> None:
        if self._lens is not None:
            self._lens.close()

    def lens(self) -> Pixlens:
        if self._lens is None:
            settings = load_settings(self.home, store=self.store, catalog=self.catalog, analyzers=self.analyzers)
            self._lens = Pixlens(settings)
        return self._lens


def _print_version(value: bool) -> None:
    if value:
        print(f"pixlens {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(help="Folder for the catalog and pixlens.toml (env PIXLENS_HOME; default ./.pixlens)"),
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Folder of the images (env PIXLENS_STORE; default <home>/images)")
    ] = None,
    catalog: Annotated[
        str | None, typer.Option(help="Catalog URL (env PIXLENS_CATALOG; default sqlite:///<home>/catalog.db)")
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            help="What to analyse, comma-separated: " + ", ".join(KNOWN_ANALYZERS) + " (env PIXLENS_ANALYZERS)"
        ),
    ] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv: debug).")] = 0,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    ctx.obj = State(home, store, catalog, features)
    ctx.call_on_close(ctx.obj.close)  # saves the vector index, closes the catalog


def _print_pairs(
    rows: list[tuple[str, Any]], keys: tuple[str, str], headers: tuple[str, str], as_json: bool, value: str
) -> None:
    """(name, value) rows as JSON lines with ``keys``, or as a table with ``headers`` (``value`` formats the
    second column)."""
    if as_json:
        for name, amount in rows:
            print(json.dumps({keys[0]: name, keys[1]: amount}))
        return
    table = Table(*headers, box=None)
    for name, amount in rows:
        table.add_row(name, value.format(amount))
    out.print(table)


def _lens(ctx: typer.Context) -> Pixlens:
    state: State = ctx.obj
    return state.lens()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not err.is_terminal,
    )


def _emit(payload: dict[str, Any]) -> None:
    out.print_json(json.dumps(payload)) if out.is_terminal else print(json.dumps(payload), flush=True)


def _summary(results: list[Result]) -> dict[str, int]:
    counts = {outcome.value: 0 for outcome in Outcome}
    for result in results:
        counts[result.outcome.value] += 1
    return counts


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (recursive).")],
    as_json: JsonOption = False,
) -> None:
    """Analyse images: files inside the store in place, others copied into it.

    Exits with status 1 when some images failed (each failure is recorded with its reason).

    Example: pixlens ingest ~/Pictures/holiday
    """
    lens = _lens(ctx)
    with _progress() as progress:
        task = progress.add_task("collecting", total=None, failed=0)
        failed = 0

        def collected(total: int) -> None:
            progress.update(task, description="analysing", total=total)

        def done(result: Result) -> None:
            nonlocal failed
            failed += result.outcome is Outcome.FAILED
            progress.update(task, advance=1, failed=failed)
            if as_json:
                _emit({"ImageName": result.key, "Outcome": result.outcome.value, "Error": result.error})

        report = lens.ingest(paths, on_collected=collected, on_result=done)
        progress.update(task, completed=len(report.collected.objects))
    counts = _summary(report.results)
    counts["unchanged"] += report.skipped_unchanged
    for path, reason in report.collected.skipped:
        err.print(f"[yellow]skipped[/] {path}: {reason}")
    if as_json:
        _emit({"summary": counts, "copied": report.collected.copied, "skipped": len(report.collected.skipped)})
    else:
        for result in report.results:
            if result.outcome is Outcome.FAILED:
                err.print(f"[red]failed[/] {result.key}: {result.error}")
        err.print(
            f"{len(report.collected.objects)} images: {counts['analyzed']} analysed, {counts['unchanged']} unchanged, "
            f"{counts['failed']} failed, {counts['vanished']} vanished; {report.collected.copied} copied into "
            f"{lens.store.describe()}, {len(report.collected.skipped)} skipped"
        )
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def reconcile(
    ctx: typer.Context,
    retry_failed: Annotated[bool, typer.Option(help="Also retry images that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be done.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Analyse whatever the catalog lacks or has stale (new, changed, pending, older models); drop deleted images.

    Example: pixlens reconcile --dry-run
    """
    lens = _lens(ctx)
    plan = lens.plan_reconcile(retry_failed)
    if not dry_run:
        lens.apply_reconcile(plan)
        with _progress() as progress:
            task = progress.add_task("reconciling", total=len(plan.jobs()), failed=0)
            plan.results = lens.run(plan.jobs(), lambda result: progress.update(task, advance=1))
    summary: dict[str, Any] = {**plan.summary(), **({} if dry_run else {"outcomes": _summary(plan.results)})}
    if as_json:
        _emit(summary)
    else:
        err.print(", ".join(f"{key}: {value}" for key, value in summary.items()))
    if not dry_run and any(result.outcome is Outcome.FAILED for result in plan.results):
        raise typer.Exit(1)


@app.command()
def watch(ctx: typer.Context) -> None:
    """Watch the store: analyse images as they arrive or change, forget deleted ones. Reconciles first.

    Example: pixlens watch   (then copy photos into the store folder)
    """
    lens = _lens(ctx)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    err.print(f"watching {lens.store.describe()} (Ctrl-C to stop)")

    def event(kind: str, key: str) -> None:
        err.print(f"{kind} {key}")

    def done(result: Result) -> None:
        detail = f": {result.error}" if result.error else ""
        err.print(f"{result.outcome.value} {result.key}{detail}")

    lens.watch(stop, on_result=done, on_event=event)
    err.print("stopped")


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help='e.g. cars, "dog AND NOT cat", "teddy bear", dog>=80, animal')],
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many hits.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many hits (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Find images by what is in them, best match first. See docs/SEARCH.md for the query language.

    Example: pixlens search "(cat OR dog) AND NOT person" --limit 5
    """
    lens = _lens(ctx)
    try:
        result = lens.search(query, limit=limit, offset=offset)
    except QueryError as exc:
        err.print(f"[red]invalid query:[/] {exc.pointer()}", highlight=False)
        raise typer.Exit(2) from exc
    for word, suggestions in result.unknown.items():
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        err.print(f"[yellow]no label matches {word!r}{hint}[/]")
    if as_json:
        for hit in result.hits:
            print(
                json.dumps(
                    {
                        "ImageName": hit.key,
                        "Score": hit.score,
                        "Labels": [
                            {"Name": name, "Confidence": conf}
                            for name, conf in sorted(hit.matched.items(), key=lambda x: -x[1])
                        ],
                    }
                )
            )
        return
    table = Table("image", "score", "matched labels", box=None)
    for hit in result.hits:
        matched = ", ".join(f"{name} {conf:.0f}" for name, conf in sorted(hit.matched.items(), key=lambda x: -x[1]))
        table.add_row(hit.key, f"{hit.score:.1f}", matched)
    out.print(table)
    err.print(f"{result.total} images match {query!r}" + (f" (showing {len(result.hits)})" if result.hits else ""))


@app.command()
def show(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The image's key (path in the store).")]) -> None:
    """Print an image's record as JSON.

    Example: pixlens show samples/chelsea.png
    """
    record = _lens(ctx).show(key)
    if record is None:
        err.print(f"[red]no image {key!r} in the catalog[/]")
        raise typer.Exit(1)
    print(record.model_dump_json(indent=2))


@app.command()
def similar(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The image's key (path in the store).")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many similar images.")] = 10,
    as_json: JsonOption = False,
) -> None:
    """Images that look most like this one (embedding similarity, 0-1), best first.

    Example: pixlens similar samples/chelsea.png --limit 5
    """
    lens = _lens(ctx)
    if lens.show(key) is None:
        err.print(f"[red]no image {key!r} in the catalog[/]")
        raise typer.Exit(1)
    found = lens.similar(key, limit)
    _print_pairs(found, ("ImageName", "Similarity"), ("image", "similarity"), as_json, "{:.3f}")
    if not found and not as_json:
        err.print("no similar images (is the embedding analyser enabled? see --features)")


@app.command()
def duplicates(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Groups of duplicate images: identical files, and resized, recompressed, rotated or mirrored copies.

    Example: pixlens duplicates --json
    """
    groups = _lens(ctx).duplicates()
    if as_json:
        for group in groups:
            links = [{"Images": [a, b], "HashDistance": bits, "Similarity": sim} for a, b, bits, sim in group.links]
            print(json.dumps({"Images": group.keys, "Identical": group.identical, "Links": links}))
        return
    for number, group in enumerate(groups, start=1):
        kind = "identical" if group.identical else "near duplicates"
        out.print(f"[bold]group {number}[/] ({len(group.keys)} images, {kind})")
        for key in group.keys:
            out.print(f"  {key}")
    err.print(f"{len(groups)} groups of duplicates")


people_app = typer.Typer(help="People: the faces found, grouped by person.", invoke_without_command=True)
app.add_typer(people_app, name="people")


@people_app.callback()
def people(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List people with how many faces and images each; name one with 'pixlens people name ID NAME'.

    Example: pixlens people
    """
    if ctx.invoked_subcommand is not None:
        return
    rows = _lens(ctx).people()
    if as_json:
        for row in rows:
            print(json.dumps({"PersonId": row.id, "Name": row.name, "Faces": row.faces, "Images": row.images}))
        return
    table = Table("person", "name", "faces", "images", box=None)
    for row in rows:
        table.add_row(str(row.id), row.name or "", str(row.faces), str(row.images))
    out.print(table)
    err.print(f"{len(rows)} people; search one with: pixlens search person:<name or number>")


@people_app.command("name")
def name_person(
    ctx: typer.Context,
    person: Annotated[int, typer.Argument(help="The person's number (see 'pixlens people').")],
    name: Annotated[str, typer.Argument(help="The name to give (empty to remove it).")],
) -> None:
    """Name a person, then search for them with person:NAME.

    Example: pixlens people name 3 "Alice"
    """
    if not _lens(ctx).name_person(person, name.strip() or None):
        err.print(f"[red]no person {person}[/] (see: pixlens people)")
        raise typer.Exit(1)
    err.print(f"person {person} is now {name.strip()!r}" if name.strip() else f"person {person} has no name now")


@app.command()
def labels(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="At most this many labels.")] = 1000,
    as_json: JsonOption = False,
) -> None:
    """List the labels in the catalog (parents included) with how many images have each.

    Example: pixlens labels --limit 20
    """
    _print_pairs(_lens(ctx).labels()[:limit], ("Name", "Images"), ("label", "images"), as_json, "{}")


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show how many images the catalog holds, by status, and its size.

    Example: pixlens stats --json
    """
    numbers = _lens(ctx).stats()
    if as_json:
        print(json.dumps(numbers))
        return
    for key, value in numbers.items():
        out.print(f"{key:>11}: {value}")


def main() -> None:
    try:
        app()
    except (ConfigError, PixlensError) as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
