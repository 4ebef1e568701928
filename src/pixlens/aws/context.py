"""A context object for running the handler outside Lambda (replaying an event by hand, tests, benchmarks): the
two things pixlens asks of the runtime's context, a request id and the time left, on this machine's clock."""

from __future__ import annotations

import time
import uuid


class LocalContext:
    def __init__(self, timeout_seconds: float = 900.0, request_id: str | None = None) -> None:
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = "pixlens-local"
        self.deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))
