"""``pixlens serve``: one process with the API, the page, the workers, the watcher and the webhook sender."""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable

import uvicorn

from pixlens.access import active_keys, verify
from pixlens.api.app import create_app
from pixlens.api.auth import Verifier
from pixlens.api.runtime import Runtime
from pixlens.errors import ConfigError
from pixlens.service import Pixlens
from pixlens.webhooks import Webhooks

log = logging.getLogger(__name__)


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


def run_server(lens: Pixlens, say: Callable[[str], None]) -> None:
    settings = lens.settings.api
    verifier = key_verifier(lens)
    if verifier is None and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to listen on {settings.host} with no API key: anyone who can reach it could read and delete "
            "the images. Make a key first (pixlens keys create --scope admin), or listen on 127.0.0.1."
        )
    runtime = Runtime(lens, watch=settings.watch)
    hooks = Webhooks(lens)
    runtime.on_analyzed.append(hooks.on_analyzed)
    app = create_app(runtime, verifier)
    runtime.start()
    sender = threading.Thread(target=hooks.deliverer.run, args=(runtime.stop_event,), name="pixlens-hooks", daemon=True)
    sender.start()
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host
    say(f"pixlens {lens.store.describe()} at http://{shown_host}:{settings.port} (API docs: /docs)")
    if verifier is None:
        say("open: no API keys exist, so anyone on this machine may use it (pixlens keys create to require keys)")
    server = uvicorn.Server(
        uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)
    )
    try:
        server.run()
    finally:
        say("stopping: finishing the images being analysed (the rest stay pending for the next start)")
        runtime.stop()
        sender.join(timeout=15)
