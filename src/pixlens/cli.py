"""The command line: a thin shell over :class:`pixlens.service.Pixlens`."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from pixlens import __version__, shapes
from pixlens.catalog import create_catalog
from pixlens.config import KNOWN_ANALYZERS, load_settings
from pixlens.errors import ConfigError, PixlensError, QueryError
from pixlens.home import HOME_FOLDER, describe
from pixlens.pipeline import Outcome, Result
from pixlens.service import Pixlens
from pixlens.store.names import key_from_argument, key_from_name, printable

MAX_OFFSET = 2**63 - 1  # SQLite's largest integer

app = typer.Typer(
    help="Make a pile of images searchable by what is in them: analyse, catalogue, search. Offline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output (JSON lines).")]
NoWaitOption = Annotated[
    bool,
    typer.Option(
        "--no-wait", help="Only queue the work for `pixlens worker` (a redis:// or amqp:// queue); do not wait for it."
    ),
]


class State:
    def __init__(
        self,
        home: Path | None,
        store: str | None,
        catalog: str | None,
        features: str | None,
        moves: tuple[bool, bool] = (False, False),
    ) -> None:
        self.home, self.store, self.catalog, self.moves = home, store, catalog, moves
        self.analyzers = [name.strip() for name in features.split(",") if name.strip()] if features else None
        self._lens: Pixlens | None = None

    def close(self) -> None:
        if self._lens is not None:
            self._lens.close()

    def lens(self) -> Pixlens:
        if self._lens is None:
            settings = load_settings(self.home, store=self.store, catalog=self.catalog, analyzers=self.analyzers)
            self._lens = Pixlens(settings, *self.moves)
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
        typer.Option(
            help="Folder for the catalog and pixlens.toml (env PIXLENS_HOME; default: the nearest .pixlens in or "
            "above the working folder, else ~/.local/share/pixlens)"
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(help="Folder of the images (env PIXLENS_STORE; default: the home's own, first <home>/images)"),
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(help="Catalog URL (env PIXLENS_CATALOG; default: the home's own, first <home>/catalog.db)"),
    ] = None,
    move_store: Annotated[
        bool, typer.Option(help="Point the home at the --store given, instead of the one it recorded.")
    ] = False,
    move_catalog: Annotated[
        bool, typer.Option(help="Point the home at the --catalog given, instead of the one it recorded.")
    ] = False,
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
    ctx.obj = State(home, store, catalog, features, (move_store, move_catalog))
    ctx.call_on_close(ctx.obj.close)  # saves the vector index, closes the catalog


def _print_pairs(rows: list[tuple[str, Any]], headers: tuple[str, str], value: str) -> None:
    """(name, value) rows as a table with ``headers`` (``value`` formats the second column)."""
    table = Table(*headers, box=None)
    for name, amount in rows:
        table.add_row(_shown(name), value.format(amount))
    out.print(table)


def _shown(key: str) -> str:
    """A key for the terminal: control characters and undecodable bytes escaped, no Rich markup."""
    return escape(printable(key))


def _shown_path(path: str) -> str:
    """A file path as the system gave it, for the terminal (as :func:`_shown`)."""
    return _shown(key_from_name(path))


def _pointer(exc: QueryError, width: int = 60) -> str:
    """The query error with a caret under the problem, the query shown escaped and cut to ``width`` around it."""
    message = printable(exc.message)
    if exc.position is None or not exc.query:
        return message
    shown = printable(exc.query)
    caret = len(printable(exc.query[: exc.position]))
    start = max(0, min(caret - width // 2, len(shown) - width))
    window = ("..." if start else "") + shown[start : start + width] + ("..." if start + width < len(shown) else "")
    return f"{message}\n  {window}\n  {' ' * (caret - start + (3 if start else 0))}^"


def _lens(ctx: typer.Context) -> Pixlens:
    state: State = ctx.obj
    return state.lens()


def _progress(counted: str = "failed") -> Progress:
    """A progress bar on stderr (none when stderr is not a terminal); its tasks carry a ``failed`` count, shown as
    ``counted`` ("failed", "skipped")."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} " + counted),
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
def init(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Make (or show) a home in the working folder, ./.pixlens: pixlens run here or in any folder below uses it.

    A DynamoDB catalog's table (PIXLENS_CATALOG=dynamodb://TABLE?region=...) is created when it is missing.

    Example: pixlens --store ~/Pictures init   (a home here for the photos in ~/Pictures, analysed in place)
    """
    state: State = ctx.obj
    if state.home is None:
        state.home = Path(os.environ.get("PIXLENS_HOME") or HOME_FOLDER)
    settings = state.lens().settings
    if create_catalog(settings.catalog_url):  # a DynamoDB table: an open never makes it
        err.print(f"created the catalog's table: {escape(settings.catalog_url)}", highlight=False)
    where = describe(settings)
    if as_json:
        print(json.dumps(shapes.pascal_keys(where)))
        return
    for name, place in where.items():
        out.print(f"{name:>13}: {escape(place)}", highlight=False)


@app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Image files or folders (recursive).")],
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Analyse images: files inside the store in place, others copied into it.

    A copy keeps its folder's name (ingest ~/a/holiday: holiday/...) and never replaces another file: a name
    taken by different content gets "name (2).jpg"; the same bytes are not copied twice.
    Exits with status 1 when some images failed or could not be read (each is named with its reason).

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
                _emit(shapes.outcome(result))

        report = lens.ingest(paths, on_collected=collected, on_result=done, wait=not no_wait)
        progress.update(task, completed=len(report.collected.objects))
    collected_ = report.collected
    counts = _summary(report.results)
    counts["unchanged"] += report.skipped_unchanged
    for path, reason in collected_.skipped:
        err.print(f"[yellow]skipped[/] {_shown_path(path)}: {_shown_path(reason)}", highlight=False)
    for path, key in collected_.renamed:
        err.print(f"copied {_shown_path(path)} as {_shown(key)}: its own name holds another file", highlight=False)
    for path, reason in collected_.failed:
        err.print(f"[red]failed[/] {_shown_path(path)}: {_shown_path(reason)}", highlight=False)
    if as_json:
        for path, reason in collected_.failed:
            _emit({"Path": key_from_name(path), "Outcome": "failed", "Error": key_from_name(reason)})
        _emit(
            {
                "Summary": shapes.pascal_keys(counts),
                "Copied": collected_.copied,
                "AlreadyInStore": collected_.already_stored,
                "Renamed": [{"Path": key_from_name(path), "ImageName": key} for path, key in collected_.renamed],
                "Skipped": len(collected_.skipped),
                "NotBroughtIn": len(collected_.failed),
                **({"Queued": report.queued} if no_wait else {}),
            }
        )
    else:
        for result in report.results:
            if result.outcome is Outcome.FAILED:
                err.print(f"[red]failed[/] {_shown(result.key)}: {_shown_path(result.error or '')}", highlight=False)
        queued = f"{report.queued} queued for the workers, " if no_wait else ""
        where = escape(lens.store.describe())
        err.print(
            f"{len(collected_.objects)} images: {queued}{counts['analyzed']} analysed, "
            f"{counts['unchanged']} unchanged, {counts['failed']} failed, {counts['vanished']} vanished; "
            f"{collected_.copied} copied into {where} ({collected_.already_stored} already there), "
            f"{len(collected_.failed)} could not be read, {len(collected_.skipped)} skipped (not images)",
            highlight=False,
        )
    if counts["failed"] or collected_.failed:
        raise typer.Exit(1)


@app.command()
def reconcile(
    ctx: typer.Context,
    retry_failed: Annotated[bool, typer.Option(help="Also retry images that failed before.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be done.")] = False,
    yes: Annotated[
        bool, typer.Option("--yes", help="Forget deleted images even when they are a large share of the catalog.")
    ] = False,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Analyse whatever the catalog lacks or has stale (new, changed, pending, older models); drop deleted images.

    Refuses to forget more than reconcile_max_delete (default half) of the catalog at once without --yes: a store
    that is unmounted or the wrong folder is not a reason to forget every image.

    Example: pixlens reconcile --dry-run
    """
    lens = _lens(ctx)
    plan = lens.plan_reconcile(retry_failed)
    queued: dict[str, int] = {}
    if not dry_run and no_wait:
        lens.apply_reconcile(plan, confirmed=yes)
        queued = {"queued": lens.enqueue(plan.jobs())}
    elif not dry_run:
        lens.apply_reconcile(plan, confirmed=yes)
        with _progress() as progress:
            task = progress.add_task("reconciling", total=len(plan.jobs()), failed=0)
            plan.results = lens.run(plan.jobs(), lambda result: progress.update(task, advance=1))
    refusal = lens.deletion_refusal(plan) if dry_run and not yes else None
    if refusal is not None:
        err.print(f"[yellow]warning:[/] {escape(refusal)}", highlight=False)
    outcomes = {} if dry_run or no_wait else _summary(plan.results)
    if as_json:
        _emit(shapes.pascal_keys({**plan.summary(), **queued, **({"outcomes": outcomes} if outcomes else {})}))
    else:
        err.print(", ".join(f"{key}: {value}" for key, value in {**plan.summary(), **queued, **outcomes}.items()))
    if not dry_run and any(result.outcome is Outcome.FAILED for result in plan.results):
        raise typer.Exit(1)


@app.command()
def failures(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, the latest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the images that failed, with the reason of each (pixlens retry tries them again).

    Example: pixlens failures --limit 20
    """
    rows = _lens(ctx).catalog.failures(limit)
    if as_json:
        for key, error, at in rows:
            _emit({"ImageName": key, "Error": error, "At": at})
        return
    if not rows:
        err.print("no failed images")
        return
    table = Table("image", "failed at", "reason", box=None)
    for key, error, at in rows:
        table.add_row(_shown(key), escape(at), _shown_path(error or ""))
    out.print(table)


@app.command()
def retry(
    ctx: typer.Context,
    keys: Annotated[list[str] | None, typer.Argument(help="Images to retry (default: every failed image).")] = None,
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Analyse the failed images again, with every analyser (after a fix, a new model, a bigger limit).

    Exits with status 1 when some fail again.

    Example: pixlens retry
    """
    lens = _lens(ctx)
    jobs = lens.failed_jobs(keys or None)
    if no_wait:
        counts = {"queued": lens.enqueue(jobs)}
    else:
        with _progress() as progress:
            task = progress.add_task("retrying", total=len(jobs), failed=0)
            results = lens.run(jobs, lambda result: progress.update(task, advance=1))
        counts = _summary(results)
    if as_json:
        _emit(shapes.pascal_keys({"retried": len(jobs), **counts}))
    else:
        err.print(", ".join(f"{key}: {value}" for key, value in {"retried": len(jobs), **counts}.items()))
    if counts.get("failed"):
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
    err.print(f"watching {escape(lens.store.describe())} (Ctrl-C to stop)", highlight=False)

    def event(kind: str, key: str) -> None:
        err.print(f"{kind} {_shown(key)}", highlight=False)

    def done(result: Result) -> None:
        detail = f": {escape(result.error)}" if result.error else ""
        err.print(f"{result.outcome.value} {_shown(result.key)}{detail}", highlight=False)

    lens.watch(stop, on_result=done, on_event=event)
    err.print("stopped")


@app.command()
def events(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="A file of notifications, one JSON object a line; - for stdin.")],
    no_wait: NoWaitOption = False,
    as_json: JsonOption = False,
) -> None:
    """Apply bucket event notifications: analyse the images created, forget those removed (never deleting them).

    Each line is one notification: S3 event records ({"Records": [...]}, as AWS S3, MinIO or Ceph RGW send them),
    an SNS envelope around them, or a SeaweedFS filer notification; a line that is a JSON string holding one (as
    jq -c .Body prints an SQS message's body) is read too. What the bucket holds now decides: replayed or
    reordered events change nothing. A bad line or record is reported and skipped, the rest applied; exits with
    status 1 when some were bad or some images failed.

    Example: aws sqs receive-message --queue-url URL --max-number-of-messages 10 | jq -c '.Messages[].Body' |
    pixlens events -
    """
    from pixlens.events.bucket import EventError, EventsReport

    lens = _lens(ctx)
    consumer = lens.bucket_events()
    total = EventsReport()
    results: list[Result] = []
    queued_for_workers = 0

    def done(result: Result) -> None:
        results.append(result)
        if as_json:
            _emit(shapes.outcome(result))
        elif result.outcome is Outcome.FAILED:
            err.print(f"[red]failed[/] {_shown(result.key)}: {_shown_path(result.error or '')}", highlight=False)

    lines = sys.stdin if source == "-" else Path(source).open(encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                report = consumer.apply_text(line)
            except EventError as exc:
                report = EventsReport(errors=[str(exc)])
            report.errors = [f"line {number}: {error}" for error in report.errors]
            for error in report.errors:
                err.print(f"[red]error[/] {escape(printable(error))}", highlight=False)
            if report.jobs and no_wait:
                queued_for_workers += lens.enqueue(report.jobs)
            elif report.jobs:
                lens.run(report.jobs, done)
            total.add(report)
    finally:
        if lines is not sys.stdin:
            lines.close()
    answer = total.answer()
    counts = {} if no_wait else _summary(results)
    if as_json:
        extra = {"QueuedForWorkers": queued_for_workers} if no_wait else {"Outcomes": shapes.pascal_keys(counts)}
        _emit({**answer, **extra})
    else:
        for item in total.ignored:
            err.print(f"ignored {_shown(item.key)}: {escape(item.reason)}", highlight=False)
        outcomes = ", ".join(f"{name} {count}" for name, count in counts.items() if count)
        err.print(
            f"{answer['Queued']} queued, {answer['Forgotten']} forgotten, {answer['Unchanged']} unchanged, "
            f"{len(total.ignored)} ignored, {len(total.errors)} errors" + (f"; {outcomes}" if outcomes else ""),
            highlight=False,
        )
    if total.errors or counts.get("failed"):
        raise typer.Exit(1)


@app.command(context_settings={"ignore_unknown_options": True})  # "-person" is a query (NOT person), not an option
def search(
    ctx: typer.Context,
    query: Annotated[
        str, typer.Argument(help='e.g. cars, "dog AND NOT cat", "teddy bear", dog>=80, -person ("": every image)')
    ],
    limit: Annotated[int, typer.Option(min=1, max=10000, help="At most this many hits.")] = 20,
    offset: Annotated[int, typer.Option(min=0, max=MAX_OFFSET, help="Skip this many hits (paging).")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Find images by what is in them, best match first. See docs/SEARCH.md for the query language.

    Example: pixlens search "(cat OR dog) AND NOT person" --limit 5
    """
    lens = _lens(ctx)
    try:
        result = lens.search(query, limit=limit, offset=offset)
    except QueryError as exc:
        err.print(f"[red]invalid query:[/] {escape(_pointer(exc))}", highlight=False)
        raise typer.Exit(2) from exc
    for word, suggestions in result.unknown.items():
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        err.print(f"[yellow]no label matches {escape(repr(word))}{escape(hint)}[/]", highlight=False)
    names = shapes.naming(result.hits, lens.catalog.person_names, lens.taxonomy.categories)
    if as_json:
        for hit in result.hits:
            print(json.dumps(shapes.hit(hit, names)))
        if not result.total:
            raise typer.Exit(1)
        return
    table = Table("image", "score", "matched", box=None)
    for hit in result.hits:
        table.add_row(_shown(hit.key), f"{hit.score:.1f}", escape(printable(_matched(shapes.hit(hit, names)))))
    out.print(table)
    showing = f" (showing {len(result.hits)})" if result.hits else ""
    err.print(f"{result.total} images match {escape(repr(query))}{showing}", highlight=False)
    if not result.total:
        raise typer.Exit(1)  # as grep: scripts can tell "found nothing" from "found"


def _matched(shaped: dict[str, Any]) -> str:
    """A hit's labels and other matched entries in a line: "Dog 93, color:green 31, person:Alice 99, faces 2"."""
    said = [f"{label['Name']} {label['Confidence']:.0f}" for label in shaped["Labels"]]
    for entry in shaped["Matched"]:
        name = entry.get("Name") or entry.get("PersonId")
        said.append(f"{entry['Kind'].lower()} {entry['Count']}" if "Count" in entry else
                    f"{entry['Kind'].lower()}:{name} {entry['Score']:.0f}")  # fmt: skip
    return ", ".join(said)


@app.command()
def show(ctx: typer.Context, key: Annotated[str, typer.Argument(help="The image's key (path in the store).")]) -> None:
    """Print an image's record as JSON.

    Example: pixlens show samples/chelsea.png
    """
    key = key_from_argument(key)
    record = _lens(ctx).show(key)
    if record is None:
        err.print(f"[red]no image '{_shown(key)}' in the catalog[/]", highlight=False)
        raise typer.Exit(1)
    print(json.dumps(shapes.record(record), indent=2, ensure_ascii=False))


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
    key = key_from_argument(key)
    if lens.show(key) is None:
        err.print(f"[red]no image '{_shown(key)}' in the catalog[/]", highlight=False)
        raise typer.Exit(1)
    found = lens.similar(key, limit)
    if as_json:
        for other, similarity in found:
            print(json.dumps(shapes.similar(other, similarity)))
        return
    _print_pairs(found, ("image", "similarity"), "{:.3f}")
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
            print(json.dumps(shapes.duplicate_group(group)))
        return
    for number, group in enumerate(groups, start=1):
        kind = "identical" if group.identical else "near duplicates"
        out.print(f"[bold]group {number}[/] ({len(group.keys)} images, {kind})")
        for key in group.keys:
            out.print(f"  {_shown(key)}", highlight=False)
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
            print(json.dumps(shapes.person(row)))
        return
    table = Table("person", "name", "faces", "images", box=None)
    for row in rows:
        table.add_row(str(row.id), escape(printable(row.name or "")), str(row.faces), str(row.images))
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
    found = _lens(ctx).labels()[:limit]
    if as_json:
        for name, count in found:
            print(json.dumps(shapes.label_count(name, count)))
        return
    _print_pairs(found, ("label", "images"), "{}")


@app.command()
def stats(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show how many images the catalog holds, by status, and its size.

    Example: pixlens stats --json
    """
    numbers = _lens(ctx).stats()
    if as_json:
        print(json.dumps(shapes.pascal_keys(numbers)))
        return
    for key, value in numbers.items():
        out.print(f"{key:>11}: {value}")


@app.command()
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check the whole catalog (every page, every index and count); exit 1 when something is wrong.

    Example: pixlens check
    """
    problems = _lens(ctx).check()
    if as_json:
        print(json.dumps({"Problems": problems}))
    else:
        for problem in problems:
            err.print(f"[red]problem:[/] {escape(problem)}", highlight=False)
        err.print(f"{len(problems)} problems found" if problems else "the catalog is sound")
    if problems:
        raise typer.Exit(1)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (api.host; default 127.0.0.1: this machine only).")
    ] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (api.port; default 8377).")] = None,
    watch_store: Annotated[
        bool | None, typer.Option("--watch/--no-watch", help="Also watch the store folder (api.watch; default on).")
    ] = None,
) -> None:
    """Run the HTTP API, the web page, the analysis workers and the folder watcher, until Ctrl-C.

    Open at http://127.0.0.1:8377 . On loopback with no API key, anyone on this machine may use it; on any other
    address it refuses to start until a key exists (pixlens keys create --scope admin).

    Example: pixlens serve --port 8080
    """
    from pixlens.api.server import run_server

    lens = _lens(ctx)
    overrides = {"host": host, "port": port, "watch": watch_store}
    lens.settings.api = lens.settings.api.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    run_server(lens, lambda line: err.print(escape(line), highlight=False))


@app.command()
def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes, each with its own models (celery.concurrency; default 1)."),
    ] = None,
) -> None:
    """Run analysis workers that take batches from the shared queue, until Ctrl-C or SIGTERM.

    The queue is PIXLENS_QUEUE (redis://host:6379/0 or amqp://user:pass@host:5672//); every worker and every
    command that sends work must use the same home settings (store, catalog, analysers). A worker stopped
    mid-batch gives the batch back: nothing is lost. With the default local:// queue there is nothing to run
    here: each command analyses in its own process.

    Example: PIXLENS_QUEUE=redis://127.0.0.1:6379/0 pixlens worker --concurrency 2
    """
    from pixlens.parts import require
    from pixlens.queue import QUEUES

    settings = _lens(ctx).settings
    if QUEUES.scheme_of(settings.queue) == "local":
        raise ConfigError(
            "pixlens worker takes its work from a shared queue: set PIXLENS_QUEUE=redis://... or amqp://... "
            "(with the default local:// queue each command analyses in its own process)"
        )
    require("celery", "celery", "pixlens worker")
    from pixlens.queue.celery import CeleryQueue, run_worker

    if concurrency is not None:
        settings.celery = settings.celery.model_copy(update={"concurrency": concurrency})
    where = CeleryQueue(settings).describe()
    err.print(f"pixlens worker: {settings.celery.concurrency} process(es), {escape(where)}", highlight=False)
    run_worker(settings)


def main() -> None:
    try:
        app()
    except (ConfigError, PixlensError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except OSError as exc:  # the machine said no (permissions, a full disk...): a message, not a traceback
        err.print(f"[red]error:[/] {escape(str(exc))} (pixlens -vv ... for details)", highlight=False)
        logging.getLogger(__name__).debug("error", exc_info=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


from pixlens.cli_access import hooks_app, keys_app  # noqa: E402  (it uses the helpers above)
from pixlens.cli_migrate import export, import_app  # noqa: E402  (it uses the helpers above)

app.add_typer(keys_app, name="keys")
app.add_typer(hooks_app, name="hooks")
app.add_typer(import_app, name="import")
app.command("export")(export)
