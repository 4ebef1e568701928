"""Structured logs of the Lambda function: one JSON object per line, so that CloudWatch Logs Insights can filter
and count them (``filter outcome = "failed" | stats count() by reason``).

Every object an invocation names gets one line: ``key`` (the store's key, or the object's name in the bucket when
it is not the store's), ``outcome``, ``reason`` (why, when it is not plain success), ``ms``, and where it came from
(``message_id`` of the SQS message, ``request_id`` of the invocation). Each invocation ends with a summary line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

log = logging.getLogger("pixlens.aws")

WARNING_OUTCOMES = frozenset({"refused", "error", "unfinished", "malformed"})


def emit(event: str, **fields: Any) -> None:
    """One JSON line; problems (a refused object, an error, unfinished work) at WARNING, the rest at INFO."""
    line = json.dumps({"event": event, **fields}, ensure_ascii=False, sort_keys=False, default=str)
    level = logging.WARNING if fields.get("outcome") in WARNING_OUTCOMES else logging.INFO
    log.log(level, "%s", line)
