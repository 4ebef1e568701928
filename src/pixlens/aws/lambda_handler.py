"""The Lambda function: ``pixlens.aws.lambda_handler.handler(event, context)``.

Invoked by S3 event notifications (directly, or through an SQS queue, which is the deployment to prefer: batches,
a dead-letter queue, partial batch responses), by EventBridge events from S3, or by S3's test message. The store
and the catalog are the settings' (``PIXLENS_STORE=s3://bucket/prefix``, ``PIXLENS_CATALOG=...``: any catalog), and
the store must be the bucket the events come from.

The container is set up once, when Lambda loads this module (its init phase), not on the first event: settings
from the environment (``PIXLENS_*``), the home under /tmp (the only writable place; ``PIXLENS_HOME`` to choose
another), the models loaded, the catalog opened. Every invocation of the container reuses them.

Answers: for an SQS batch, ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` naming the messages to
deliver again (a malformed one, one whose object could not be looked at, one left unfinished before the deadline);
for a direct invocation, a summary of the outcomes, or an exception when anything is to be done again, so that
Lambda's asynchronous retries (and then the function's on-failure destination) keep the event. See docs/AWS.md.

Run by hand (an event from a file, or ``-`` for standard input, against the settings of the environment)::

    python -m pixlens.aws.lambda_handler event.json
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pixlens.aws.batch import InvocationRun
from pixlens.aws.context import LocalContext
from pixlens.aws.deadline import Deadline, LambdaContext
from pixlens.aws.events import Source, parse_invocation
from pixlens.aws.logs import emit
from pixlens.config import Settings, load_settings
from pixlens.errors import PixlensError
from pixlens.events.notices import EventError
from pixlens.service import Pixlens

LAMBDA_HOME = Path("/tmp/pixlens")  # Lambda's file system is read-only but for /tmp
IN_LAMBDA = "AWS_LAMBDA_FUNCTION_NAME"  # set by the Lambda runtime in every function's environment

log = logging.getLogger(__name__)
if not os.environ.get("AWS_LAMBDA_LOG_LEVEL"):  # the runtime's root logger shows only warnings by default
    logging.getLogger("pixlens.aws").setLevel(logging.INFO)


class EventNotDoneError(PixlensError):
    """A direct invocation left something to do again (a malformed record, an error, unfinished work): raised so
    that Lambda retries the event and then hands it to the function's on-failure destination."""


class LambdaApp:
    """What a container keeps between invocations: the service with its models, store and catalog."""

    def __init__(self, lens: Pixlens) -> None:
        self.lens = lens
        self.events = lens.bucket_events()  # ConfigError unless the store is a bucket
        self.pipeline = lens.pipeline  # loads the models
        lens.catalog.status_counts()  # opens (and checks) the catalog now, not on the first event
        self.seconds_per_image = 0.0  # the slowest image of the last invocation: the deadline's first estimate

    @classmethod
    def from_environment(cls) -> LambdaApp:
        started = time.perf_counter()
        settings = settings_from_environment()
        app = cls(Pixlens(settings))
        if os.environ.get(IN_LAMBDA) and app.lens.settings.catalog_url.startswith("sqlite:"):
            log.warning(
                "the catalog is a SQLite file in %s: each Lambda container has its own, lost when it stops. Set "
                "PIXLENS_CATALOG to a catalog the containers share.",
                app.lens.settings.home,
            )
        emit(
            "cold_start",
            store=app.lens.store.describe(),
            analyzers=list(app.pipeline.versions),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return app

    def handle(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        started = time.perf_counter()
        request_id = str(getattr(context, "aws_request_id", ""))
        try:
            invocation = parse_invocation(event)
        except EventError as exc:
            emit("invocation", outcome="malformed", reason=str(exc), request_id=request_id)
            raise EventNotDoneError(f"not an event pixlens takes: {exc}") from None
        margin = self.lens.settings.aws_lambda.safety_margin_seconds
        deadline = Deadline(context, margin, self.seconds_per_image)
        run = InvocationRun(self.pipeline, self.events, deadline, self.lens.settings.batch_size, request_id)
        answer = run.run(invocation)
        self.seconds_per_image = deadline.slowest_per_image or self.seconds_per_image
        counts = answer.counts()
        emit(
            "invocation",
            source=invocation.source.value,
            deliveries=len(invocation.deliveries),
            failed=len(answer.failed),
            outcomes=counts,
            ms=round((time.perf_counter() - started) * 1000, 1),
            request_id=request_id,
        )
        if invocation.source is Source.SQS:
            return {"batchItemFailures": [{"itemIdentifier": delivery.message_id} for delivery in answer.failed]}
        if answer.failed:
            problems = [error for delivery in answer.failed for error in delivery.parsed.errors]
            problems += [f"{key}: {o.outcome}: {o.reason}" for key, o in answer.outcomes.items() if o.retried]
            raise EventNotDoneError(f"{len(problems)} part(s) of the event to do again: " + "; ".join(problems[:5]))
        return {"outcomes": counts}


def settings_from_environment() -> Settings:
    """The settings of ``PIXLENS_*`` (and the home's pixlens.toml), with the home under /tmp unless
    ``PIXLENS_HOME`` says otherwise: never the working folder's nor the user's, which Lambda cannot write."""
    return load_settings(os.environ.get("PIXLENS_HOME") or LAMBDA_HOME)


_app: LambdaApp | None = None
_app_lock = threading.Lock()


def app() -> LambdaApp:
    """The container's app, built on first use from the environment."""
    global _app
    with _app_lock:
        if _app is None:
            _app = LambdaApp.from_environment()
        return _app


def reset() -> None:
    """Drop the container's app (the next invocation builds it again from the environment): for tests and
    benchmarks, which change the environment between runs."""
    global _app
    with _app_lock:
        if _app is not None:
            _app.lens.close()
        _app = None


def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """The Lambda entry point."""
    return app().handle(event, context)


if os.environ.get(IN_LAMBDA):  # in Lambda: load everything during the init phase, before the first event
    app()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m pixlens.aws.lambda_handler EVENT.json (or - for standard input)\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    text = sys.stdin.read() if argv[0] == "-" else Path(argv[0]).read_text(encoding="utf-8")
    try:
        answer = handler(json.loads(text), LocalContext())
    except (PixlensError, ValueError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    return 1 if answer.get("batchItemFailures") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
