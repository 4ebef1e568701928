"""What a Lambda invocation carries: the deliveries in it, each with the objects it names.

A delivery is what succeeds or fails as a whole, and is retried as a whole:

- an SQS batch (``{"Records": [{"eventSource": "aws:sqs", "messageId", "body"}, ...]}``): each message is one
  delivery, reported back by its ``messageId`` when it fails (``batchItemFailures``);
- anything invoked directly (an S3 notification with its ``Records``, an EventBridge event from S3, S3's test
  message): the whole event is one delivery, retried by Lambda's asynchronous invocation when the handler raises.

A message's body is read by :mod:`pixlens.events.notices` as every other notification is (S3 records, SNS-wrapped
or not, an EventBridge event sent on to SQS, the test message). A body that cannot be read, or a record of it that
cannot, is an error of that delivery: it fails, so that it is retried and, with SQS, reaches the dead-letter queue
after the queue's ``maxReceiveCount`` receives, where it is kept for a person to look at. Nothing is skipped
silently, even a body that no retry can mend: the retries cost a parse each, and the dead-letter queue is where
such a message is seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pixlens.events.notices import EventError, Parsed, parse_notification, parse_text

SQS_SOURCE = "aws:sqs"


class Source(StrEnum):
    SQS = "sqs"  # an SQS batch: partial batch responses
    DIRECT = "direct"  # an S3 notification or an EventBridge event invoking the function itself


@dataclass
class Delivery:
    """One unit that succeeds or fails as a whole: an SQS message (``message_id``) or a direct invocation (None)."""

    message_id: str | None
    parsed: Parsed = field(default_factory=Parsed)

    @property
    def malformed(self) -> bool:
        return bool(self.parsed.errors)


@dataclass
class Invocation:
    source: Source
    deliveries: list[Delivery]


def parse_invocation(event: Any) -> Invocation:
    """The deliveries of a Lambda event. EventError when a direct invocation is no notification at all, or when an
    SQS batch has a message without a ``messageId`` (it could not be reported on its own)."""
    if _is_sqs_batch(event):
        return Invocation(Source.SQS, [_sqs_message(index, record) for index, record in enumerate(event["Records"])])
    return Invocation(Source.DIRECT, [Delivery(None, parse_notification(event))])


def _is_sqs_batch(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(record, dict) and record.get("eventSource") == SQS_SOURCE for record in records)
    )


def _sqs_message(index: int, record: dict[str, Any]) -> Delivery:
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise EventError(f"SQS record {index} has no messageId: the batch cannot be answered message by message")
    delivery = Delivery(message_id)
    body = record.get("body")
    if not isinstance(body, str):
        delivery.parsed.errors.append(f"message {message_id}: no body (or not a string)")
        return delivery
    try:
        delivery.parsed = parse_notification(parse_text(body))
    except EventError as exc:
        delivery.parsed.errors.append(f"message {message_id}: {exc}")
        return delivery
    delivery.parsed.errors = [f"message {message_id}: {error}" for error in delivery.parsed.errors]
    return delivery
