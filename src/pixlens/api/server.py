"""``pixlens serve``: one process with the API, the page, the workers, the watcher and the webhook sender."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn
from fastapi import FastAPI

from pixlens.access import active_keys, verify
from pixlens.api.app import create_app
from pixlens.api.auth import Verifier
from pixlens.api.connections import harden
from pixlens.api.runtime import Runtime
from pixlens.errors import ConfigError
from pixlens.service import Pixlens
from pixlens.store import is_folder
from pixlens.webhooks import Webhooks

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Stops on SIGINT or SIGTERM and returns, so that ``run_server`` finishes its own shutdown (uvicorn would
    raise the signal again once stopped, ending the process before the workers finish and the catalog closes)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's own loopback."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def key_verifier(lens: Pixlens) -> Verifier | None:
    """Checks keys once any exists (also on loopback); None while there are none."""
    if active_keys(lens.catalog) == 0:
        return None

    def check(presented: str | None) -> str | None:
        key = verify(lens.catalog, presented) if presented else None
        return key.scope.label if key is not None else None

    return check


def build(lens: Pixlens, verifier: Verifier | None, watch: bool) -> tuple[FastAPI, Runtime]:
    """The app and what runs behind it (workers, watcher, saved-search matching and webhook sending), not started."""
    runtime = Runtime(lens, watch=watch)
    hooks = Webhooks(lens)
    runtime.on_analyzed.append(hooks.match_waiting)
    runtime.also_run("pixlens-hooks", hooks.deliverer.run)
    return create_app(runtime, verifier), runtime


def run_server(lens: Pixlens, say: Callable[[str], None]) -> None:
    settings = lens.settings.api
    verifier = key_verifier(lens)
    if verifier is None and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} with no API key: anyone who can reach it could read and delete "
            "the images. Make a key first (pixlens keys create --scope admin), or listen on 127.0.0.1."
        )
    watch = settings.watch
    if watch and not is_folder(lens.store):
        every = lens.settings.reconcile_interval
        schedule = f"every {every:g} s" if every > 0 else "at start only (reconcile_interval = 0)"
        say(
            f"{lens.store.describe()} cannot be watched: it is reconciled {schedule}; send its event notifications "
            "to POST /v1/events/s3 (or pipe them to pixlens events -) to analyse new images at once"
        )
    app, runtime = build(lens, verifier, watch)
    runtime.start()
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    say(f"pixlens {lens.store.describe()} at http://{shown_host}:{settings.port} (API docs: /docs)")
    if verifier is None:
        say("open: no API keys exist, so anyone on this machine may use it (pixlens keys create to require keys)")
    config = harden({"host": settings.host, "port": settings.port, "log_level": "warning", "access_log": False})
    server = _Server(uvicorn.Config(app, **config))
    try:
        server.run()
    finally:
        say("stopping: finishing the images being analysed (the rest stay pending for the next start)")
        runtime.stop()
