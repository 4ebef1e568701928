"""Saved searches with webhooks: when an image is analysed, every saved query runs against it; each match becomes a
delivery, an HTTP POST of the image's record to the hook's URL, retried until the receiver accepts it.

    hooks = Webhooks(lens)
    hooks.on_analyzed(["trips/beach.jpg"])     # from the pipeline's results: queues a delivery per match
    hooks.deliverer.run(stop)                  # a thread: sends what is due, retries with backoff

A match is exactly what ``pixlens search`` would find (the same Searcher, unsafe images hidden the same way),
restricted to the images just analysed. Deliveries are catalog rows: those not yet sent survive a restart, and a
crash while sending one only sends it again later (receivers tell repeats apart by ``X-Pixlens-Delivery``).

Each POST carries ``Content-Type: application/json``, ``X-Pixlens-Delivery`` (the delivery's id, the same on
every attempt), ``X-Pixlens-Hook``, ``User-Agent: pixlens/<version>`` and, when the hook has a secret,
``X-Pixlens-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``. A 2xx answer delivers it; anything
else, a redirect (not followed), a refused connection or no answer within ``hooks.timeout_seconds`` is retried
after 10 s * 2^(attempts - 1) (at most an hour, +-25% jitter); after ``hooks.max_attempts`` it is dead.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pixlens import __version__
from pixlens.catalog.base import Catalog, DeliveryRow, HookRow
from pixlens.config import HookSettings
from pixlens.errors import AccessError, PixlensError
from pixlens.record import utc_now
from pixlens.store.names import printable

if TYPE_CHECKING:
    from pixlens.pipeline import Result
    from pixlens.service import Pixlens

log = logging.getLogger(__name__)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
HOOK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # safe in a URL path and in a header
MAX_URL = 2048
BACKOFF_BASE = 10.0  # seconds before the first retry
BACKOFF_CAP = 3600.0
ERROR_SNIPPET = 200  # characters of a receiver's error answer kept in last_error


class HookExistsError(AccessError):
    """A hook with that name exists."""


class NoSuchHookError(AccessError):
    """No hook has that name."""


def iso(moment: float) -> str:
    """A time as fixed-width ISO 8601 UTC text (milliseconds), so that text order is time order."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def check_hook_name(name: str) -> str:
    if not HOOK_NAME.fullmatch(name):
        raise AccessError(
            f"invalid hook name {printable(name)!r}: 1 to 64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return name


def check_url(url: str) -> str:
    """A webhook URL: http:// or https://, with a host, no credentials, nothing that is not printable ASCII."""
    shown = printable(url[:100])
    if len(url) > MAX_URL or not url.isascii() or not url.isprintable() or " " in url:
        raise AccessError(
            f"invalid webhook URL {shown!r}: printable ASCII without spaces, at most {MAX_URL} characters "
            "(percent-encode the rest)"
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise AccessError(f"invalid webhook URL {shown!r}: only http:// and https:// URLs are sent to")
    try:
        port = parts.port  # raises for a port that is not a number from 0 to 65535
    except ValueError:
        raise AccessError(f"invalid webhook URL {shown!r}: its port is not a number from 1 to 65535") from None
    if not parts.hostname or port == 0:
        raise AccessError(f"invalid webhook URL {shown!r}: it names no host (or port 0)")
    if parts.username is not None or parts.password is not None:
        raise AccessError(f"invalid webhook URL {shown!r}: no user or password in it (sign with --secret instead)")
    return url


def signature(secret: str, body: bytes) -> str:
    """The ``X-Pixlens-Signature`` header's value for a body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Webhooks:
    """Saved searches with webhooks over one Pixlens: adding and removing them, and matching analysed images."""

    def __init__(self, lens: Pixlens) -> None:
        self.lens = lens

    @property
    def catalog(self) -> Catalog:
        return self.lens.catalog

    @cached_property
    def deliverer(self) -> Deliverer:
        return Deliverer(self.catalog, self.lens.settings.hooks)

    def add(self, name: str, query: str, url: str, secret: str | None = None) -> tuple[HookRow, dict[str, list[str]]]:
        """Save a hook: the hook, and the words of its query that match no label yet (with suggestions).

        QueryError for a malformed query (as ``pixlens search`` says it); AccessError for a bad name or URL, an
        empty secret or a name already taken."""
        check_hook_name(name)
        check_url(url)
        if secret is not None and not secret:
            raise AccessError("the secret is empty: give a non-empty one, or none")
        searcher = self.lens.searcher()
        unknown = searcher.unknown(query)
        hook = self.catalog.add_hook(name, query, url, secret, utc_now())
        if hook is None:
            raise HookExistsError(f"a hook named {name!r} exists (remove it first: pixlens hooks remove {name})")
        return hook, unknown

    def all(self) -> list[HookRow]:
        return self.catalog.hooks()

    def remove(self, name: str) -> None:
        """Remove a hook with its deliveries (sent or not). AccessError when there is no such hook."""
        if not self.catalog.remove_hook(name):
            raise NoSuchHookError(f"no hook named {printable(name)!r} (see: pixlens hooks list)")

    def log(self, name: str | None = None, limit: int = 100) -> list[DeliveryRow]:
        """The latest deliveries (of one hook), newest first. AccessError when there is no such hook."""
        if name is not None and all(hook.name != name for hook in self.catalog.hooks()):
            raise NoSuchHookError(f"no hook named {printable(name)!r} (see: pixlens hooks list)")
        return self.catalog.deliveries(name, limit)

    def on_results(self, results: Iterable[Result]) -> int:
        """:meth:`on_analyzed` for the images that a pipeline run analysed (not those unchanged, failed, gone)."""
        from pixlens.pipeline import Outcome

        return self.on_analyzed([result.key for result in results if result.outcome is Outcome.ANALYZED])

    def match_waiting(self, batch: int = 500) -> int:
        """Match the images the catalog holds as analysed but not yet matched (written in the same transaction as
        their records: none is missed across a crash); returns how many deliveries were queued."""
        queued = 0
        while keys := self.catalog.unmatched(batch):
            queued += self.on_analyzed(keys)
        return queued

    def on_analyzed(self, keys: list[str]) -> int:
        """Run every saved query against these newly (re-)analysed images; queue a delivery for each match, and
        mark them matched, in one transaction. Returns how many were queued. A hook whose query no longer parses
        is logged and skipped."""
        hooks = self.catalog.hooks() if keys else []
        if not hooks:
            self.catalog.add_deliveries([], matched=keys)
            return 0
        searcher = self.lens.searcher()
        records: dict[str, dict[str, Any]] = {}
        queued: list[DeliveryRow] = []
        now = time.time()
        for hook in hooks:
            try:
                node = searcher.parse(hook.query)
            except PixlensError as exc:
                log.error("hook %s: its query %r cannot be run: %s", hook.name, hook.query, exc)
                continue
            for key in sorted(self.catalog.matching(node, searcher.resolve, keys)):
                if key not in records:
                    record = self.catalog.get(key)
                    if record is None:  # deleted meanwhile
                        continue
                    records[key] = record.model_dump(mode="json")
                queued.append(_delivery(hook, key, records[key], now))
        self.catalog.add_deliveries(queued, matched=keys)
        if queued:
            self.deliverer.notify()
        return len(queued)


def _delivery(hook: HookRow, key: str, record: dict[str, Any], now: float) -> DeliveryRow:
    delivery_id = str(uuid.uuid4())
    body = json.dumps({"Hook": hook.name, "Query": hook.query, "DeliveryId": delivery_id, "Record": record})
    return DeliveryRow(
        id=delivery_id,
        hook_id=hook.id,
        hook=hook.name,
        image=key,
        body=body,
        status=PENDING,
        attempts=0,
        next_attempt_at=iso(now),
        last_error=None,
        created_at=iso(now),
        delivered_at=None,
    )


@dataclass
class PassCounts:
    """What one pass of the deliverer did."""

    delivered: int = 0
    retrying: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "dead": self.dead}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: the receiver's URL is the one the admin gave."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Deliverer:
    """Sends due deliveries, one pass at a time (``run_due``) or as a loop (``run``, for a thread)."""

    def __init__(
        self,
        catalog: Catalog,
        settings: HookSettings,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self.clock = clock
        self.jitter = jitter
        self._wake = threading.Event()
        self._opener = urllib.request.build_opener(_NoRedirects)

    def notify(self) -> None:
        """There is new work: wake ``run`` now rather than within a second."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send what is due until ``stop`` is set; wakes every second or when notified."""
        while not stop.is_set():
            self._wake.clear()
            try:
                self.run_due()
            except PixlensError as exc:  # the catalog busy or gone for a moment: try again on the next wake
                log.error("webhook deliveries: %s", exc)
            self._wake.wait(1.0)
            if stop.is_set():
                break

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after ``attempts`` failed ones."""
        delay = min(BACKOFF_BASE * 2.0 ** (attempts - 1), BACKOFF_CAP)
        return min(delay * (0.75 + 0.5 * self.jitter()), BACKOFF_CAP)

    def run_due(self, now: float | None = None) -> dict[str, int]:
        """One pass: send every delivery due by ``now`` (default: the clock), one at a time. Returns counts by
        outcome."""
        counts = PassCounts()
        moment = self.clock() if now is None else now
        lease = self.settings.timeout_seconds * 2 + 30  # a sender that dies mid-send gives its claim back then
        hooks: dict[int, HookRow] = {}
        while claimed := self.catalog.claim_deliveries(iso(moment), iso(moment + lease), 1):
            delivery = claimed[0]
            if delivery.hook_id not in hooks:  # first use, or added since this pass began
                hooks = {hook.id: hook for hook in self.catalog.hooks()}
            hook = hooks.get(delivery.hook_id)
            if hook is not None:  # else removed meanwhile, its deliveries with it
                self._attempt(hook, delivery, moment, counts)
        return counts.as_dict()

    def _attempt(self, hook: HookRow, delivery: DeliveryRow, moment: float, counts: PassCounts) -> None:
        attempts = delivery.attempts + 1
        error = self.send(hook, delivery)
        after = max(moment, self.clock())
        tried = replace(delivery, attempts=attempts, next_attempt_at=None, last_error=None)
        if error is None:
            self.catalog.update_delivery(replace(tried, status=DELIVERED, delivered_at=iso(after)))
            counts.delivered += 1
        elif attempts >= self.settings.max_attempts:
            self.catalog.update_delivery(replace(tried, status=DEAD, last_error=error))
            counts.dead += 1
            log.warning("webhook %s: delivery %s of %s is dead: %s", hook.name, delivery.id, delivery.image, error)
        else:
            due = iso(after + self.backoff(attempts))
            self.catalog.update_delivery(replace(tried, status=PENDING, next_attempt_at=due, last_error=error))
            counts.retrying += 1

    def send(self, hook: HookRow, delivery: DeliveryRow) -> str | None:
        """POST a delivery once: None when the receiver accepted it (2xx), else why not."""
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"pixlens/{__version__}",
            "X-Pixlens-Delivery": delivery.id,
            "X-Pixlens-Hook": hook.name,
        }
        if hook.secret is not None:
            headers["X-Pixlens-Signature"] = signature(hook.secret, body)
        request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.settings.timeout_seconds) as response:
                status = int(response.status)
                if 200 <= status < 300:
                    return None
                return f"HTTP {status}"  # 1xx: urllib hands those over too
        except urllib.error.HTTPError as exc:
            try:
                if 300 <= exc.code < 400:
                    where = printable(exc.headers.get("Location", "") or "")[:ERROR_SNIPPET]
                    return f"HTTP {exc.code}: redirects are not followed (to {where or 'nowhere'})"
                return f"HTTP {exc.code}: {_snippet(exc)}"
            finally:
                exc.close()
        except TimeoutError:
            return f"no answer within {self.settings.timeout_seconds:g} s"
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                return f"no answer within {self.settings.timeout_seconds:g} s"
            return f"cannot connect: {printable(str(getattr(reason, 'strerror', None) or reason))}"
        except (OSError, ValueError) as exc:  # a reset connection, a malformed answer, a URL urllib refuses
            return f"failed: {printable(str(exc) or type(exc).__name__)}"


def _snippet(exc: urllib.error.HTTPError) -> str:
    try:
        text = exc.read(ERROR_SNIPPET * 4).decode("utf-8", "replace")
    except (OSError, ValueError):
        text = ""
    return printable(" ".join(text.split()))[:ERROR_SNIPPET] or (exc.reason if isinstance(exc.reason, str) else "")
