"""The timeout guard: start a batch of images only while it can end before Lambda's deadline.

Lambda stops a function at its timeout wherever it is. The guard asks the runtime how long is left
(``context.get_remaining_time_in_millis()``) before each batch, and says no once that is under the safety margin
(``aws_lambda.safety_margin_seconds``) plus the time the batch is expected to take: the slowest image of this
invocation so far (before its first batch: of the container's previous invocation), times the batch's size. What
is not started is reported unfinished, and delivered again.
"""

from __future__ import annotations

from typing import Protocol


class LambdaContext(Protocol):
    """What pixlens uses of the context object the Lambda runtime passes to a handler."""

    @property
    def aws_request_id(self) -> str: ...

    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    def __init__(self, context: LambdaContext, margin_seconds: float, expected_per_image: float = 0.0) -> None:
        self.context = context
        self.margin = margin_seconds
        self.expected_per_image = expected_per_image  # before a batch of this invocation has run: an earlier one's
        self.slowest_per_image = 0.0  # the slowest image of this invocation so far

    def remaining(self) -> float:
        """Seconds left before the function is stopped."""
        return self.context.get_remaining_time_in_millis() / 1000.0

    def per_image(self) -> float:
        """Seconds one image is expected to take."""
        return self.slowest_per_image or self.expected_per_image

    def allows(self, images: int) -> bool:
        """Whether a batch of ``images`` may start now."""
        return self.remaining() - self.margin >= self.per_image() * images

    def took(self, images: int, seconds: float) -> None:
        """A batch of ``images`` took ``seconds``: later batches are expected to take as long per image, or longer."""
        if images > 0:
            self.slowest_per_image = max(self.slowest_per_image, seconds / images)
