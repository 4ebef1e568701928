"""The command line for access: ``pixlens keys`` (API keys) and ``pixlens hooks`` (saved searches with webhooks).

``pixlens.cli`` registers both sub-apps, and this module uses its helpers: each imports the other at its end, so
that either may be imported first.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from pixlens import shapes
from pixlens.access import Scope, create_key, list_keys, revoke_key
from pixlens.errors import AccessError, QueryError
from pixlens.store.names import printable
from pixlens.webhooks import Webhooks

keys_app = typer.Typer(help="API keys for the HTTP API (pixlens serve).", no_args_is_help=True)
hooks_app = typer.Typer(help="Saved searches with webhooks: matching new images are POSTed to a URL.",
                        no_args_is_help=True)  # fmt: skip


def _refuse(exc: AccessError) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
    return typer.Exit(1)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    scope: Annotated[str, typer.Option(help="What the key may do: read, write (and read) or admin (everything).")],
    name: Annotated[str | None, typer.Option(help="A name to recognise the key by (who or what uses it).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key and print it, once: only its hash is kept, so it cannot be shown again.

    Example: pixlens keys create --scope read --name dashboard
    """
    try:
        key, secret = create_key(_lens(ctx).catalog, Scope.parse(scope), name)
    except AccessError as exc:
        raise _refuse(exc) from exc
    if as_json:
        print(json.dumps({**shapes.api_key(key), "Key": secret}))
        return
    print(secret)
    err.print(
        f"key {key.id} ({key.scope.label}) made; it is shown only now: keep it. "
        f"Send it as 'Authorization: Bearer KEY'. Revoke it with: pixlens keys revoke {key.id}",
        highlight=False,
    )


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the API keys (never the keys themselves: their first characters).

    Example: pixlens keys list
    """
    keys = list_keys(_lens(ctx).catalog)
    if as_json:
        for key in keys:
            print(json.dumps(shapes.api_key(key)))
        return
    table = Table("id", "name", "scope", "prefix", "created", "last used", "revoked", box=None)
    for key in keys:
        table.add_row(
            str(key.id),
            escape(printable(key.name or "")),
            key.scope.label,
            key.prefix + "...",
            key.created_at,
            key.last_used_at or "never",
            key.revoked_at or "",
        )
    out.print(table)
    err.print(f"{len(keys)} keys, {sum(not key.revoked for key in keys)} in use")


@keys_app.command("revoke")
def keys_revoke(ctx: typer.Context, key_id: Annotated[int, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke an API key: it is refused from now on (the row stays, for the record).

    Example: pixlens keys revoke 3
    """
    try:
        key = revoke_key(_lens(ctx).catalog, key_id)
    except AccessError as exc:
        raise _refuse(exc) from exc
    err.print(f"key {key.id} ({key.prefix}...) is revoked since {key.revoked_at}", highlight=False)


@hooks_app.command("add", context_settings={"ignore_unknown_options": True})  # a query may start with '-'
def hooks_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The hook's name: letters, digits, '.', '_', '-'.")],
    query: Annotated[str, typer.Argument(help='A search query, as pixlens search takes it, e.g. "dog AND NOT cat".')],
    url: Annotated[str, typer.Argument(help="Where matches are POSTed (http:// or https://).")],
    secret: Annotated[
        str | None, typer.Option(help="Sign each body: X-Pixlens-Signature: sha256=HMAC-SHA256(secret, body).")
    ] = None,
) -> None:
    """Save a search: every image analysed from now on that it matches is POSTed to URL as JSON.

    Example: pixlens hooks add dogs "dog AND NOT cat" https://example.org/hooks/pixlens --secret s3cret
    """
    try:
        hook, unknown = Webhooks(_lens(ctx)).add(name, query, url, secret)
    except QueryError as exc:
        err.print(f"[red]invalid query:[/] {escape(_pointer(exc))}", highlight=False)
        raise typer.Exit(2) from exc
    except AccessError as exc:
        raise _refuse(exc) from exc
    for word, suggestions in unknown.items():
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        err.print(f"[yellow]no label matches {escape(repr(word))} yet{escape(hint)}[/]", highlight=False)
    signed = "signed" if hook.secret is not None else "unsigned"
    err.print(f"hook {hook.name} saved: matches of {hook.query!r} go to {hook.url} ({signed})", highlight=False)


@hooks_app.command("list")
def hooks_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the saved searches with their webhooks.

    Example: pixlens hooks list --json
    """
    hooks = Webhooks(_lens(ctx)).all()
    if as_json:
        for hook in hooks:
            print(json.dumps(shapes.hook(hook)))
        return
    table = Table("name", "query", "url", "signed", "created", box=None)
    for hook in hooks:
        table.add_row(hook.name, _shown(hook.query), _shown(hook.url), "yes" if hook.secret else "no", hook.created_at)
    out.print(table)
    err.print(f"{len(hooks)} hooks")


@hooks_app.command("remove")
def hooks_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The hook's name.")]) -> None:
    """Remove a hook, with its deliveries (those not sent yet are dropped).

    Example: pixlens hooks remove dogs
    """
    try:
        Webhooks(_lens(ctx)).remove(name)
    except AccessError as exc:
        raise _refuse(exc) from exc
    err.print(f"hook {name} removed", highlight=False)


@hooks_app.command("log")
def hooks_log(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this hook's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100000, help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show the latest deliveries: pending (with the next attempt), delivered or dead (with the last error).

    Example: pixlens hooks log dogs
    """
    try:
        deliveries = Webhooks(_lens(ctx)).log(name, limit)
    except AccessError as exc:
        raise _refuse(exc) from exc
    if as_json:
        for delivery in deliveries:
            print(json.dumps(shapes.delivery(delivery)))
        return
    table = Table(box=None)
    table.add_column("delivery", overflow="fold")
    table.add_column("hook", overflow="fold")
    table.add_column("image", overflow="fold")
    table.add_column("status", no_wrap=True, min_width=9)
    table.add_column("attempts", no_wrap=True)
    table.add_column("last error", overflow="fold")
    table.add_column("next attempt", overflow="fold")
    for delivery in deliveries:
        shape = shapes.delivery(delivery)
        table.add_row(
            delivery.id,
            delivery.hook,
            _shown(delivery.image),
            delivery.status,
            str(delivery.attempts),
            _shown(delivery.last_error or ""),
            str(shape["NextAttemptAt"] or ""),
        )
    out.print(table)
    err.print(f"{len(deliveries)} deliveries shown")


@hooks_app.command("deliver")
def hooks_deliver(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Send the deliveries that are due, once (for cron; pixlens serve sends them by itself).

    Example: pixlens hooks deliver
    """
    hooks = Webhooks(_lens(ctx))
    hooks.match_waiting()  # images analysed by ingest, watch or reconcile since the last look
    counts = hooks.deliverer.run_due()
    if as_json:
        _emit(shapes.pascal_keys(counts))
    else:
        err.print(", ".join(f"{key}: {value}" for key, value in counts.items()))


from pixlens.cli import JsonOption, _emit, _lens, _pointer, _shown, err, out  # noqa: E402  (see the docstring)
