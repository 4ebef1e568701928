"""One invocation's work: the objects its deliveries name -> the bucket's truth -> analysis -> the catalog, with an
outcome for every object and a verdict for every delivery.

1. Every object named anywhere in the invocation is decided once (:meth:`BucketEvents.decide`): the same key in
   two messages of a batch, or twice in one, is looked at and analysed once. An object the bucket has, that the
   catalog lacks or holds with another etag, is marked pending and analysed; one the catalog holds pending is
   analysed too (the delivery is its job: a retry after a timeout or a crash); one it holds with this etag is
   unchanged, so a duplicate event writes nothing. An object the bucket no longer has leaves the catalog.
2. The jobs run through the pipeline in batches of ``batch_size``, each started only while the deadline allows.
3. Then the bucket is looked at again for every object whose record was written or forgotten: had the object
   changed meanwhile (a newer version put while an older one was analysed, or put back after a delete), the
   outcome written is not the newest, and the object is decided and analysed again. So the last writer of a key
   always checks what it wrote against the bucket: an older event that ends last cannot leave an older outcome
   in place. After ``SETTLE_ROUNDS`` such checks, an object still changing is reported unfinished.

A delivery fails (and is delivered again) when a record of it could not be read, or an object it names ended in
an error (the store or the catalog failing) or unfinished. A failed image (not an image, too large, corrupt) is an
outcome, not a failure: its record says why, and delivering it again would say the same.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from pixlens.aws.deadline import Deadline
from pixlens.aws.events import Delivery, Invocation
from pixlens.aws.logs import emit
from pixlens.errors import StoreMissingError
from pixlens.events.bucket import Action, BucketEvents, Decision, Ignored
from pixlens.pipeline import Job, Outcome, Pipeline, Result
from pixlens.store.names import printable

log = logging.getLogger(__name__)

SETTLE_ROUNDS = 2  # looks at the bucket after writing: a key still changing after these is delivered again
RETRIED = frozenset({"error", "unfinished"})  # outcomes that fail the deliveries naming the key
SETTLED = frozenset({Action.UNCHANGED, Action.KEPT, Action.ABSENT})  # a check that finds these changes nothing

DECISION_OUTCOMES = {
    Action.FORGOTTEN: ("forgotten", "the bucket no longer has it"),
    Action.UNCHANGED: ("unchanged", "the catalog holds this version already"),
    Action.ABSENT: ("absent", "neither the bucket nor the catalog has it"),
}
RESULT_OUTCOMES = {
    Outcome.ANALYZED: ("analyzed", None),
    Outcome.FAILED: ("failed", None),  # the record's Error says why
    Outcome.UNCHANGED: ("unchanged", "the same content was analysed already"),
    Outcome.VANISHED: ("forgotten", "deleted before it could be read"),
}


@dataclass
class KeyOutcome:
    key: str
    outcome: str
    reason: str | None = None
    ms: float = 0.0

    @property
    def retried(self) -> bool:
        return self.outcome in RETRIED

    @property
    def wrote(self) -> bool:
        """Whether the catalog was written (or forgotten) for the key: what the bucket holds is checked again."""
        return self.outcome in ("analyzed", "failed", "forgotten")


@dataclass
class Answer:
    """What an invocation did: each key's outcome, and the deliveries to be delivered again."""

    outcomes: dict[str, KeyOutcome] = field(default_factory=dict)
    failed: list[Delivery] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(outcome.outcome for outcome in self.outcomes.values()))


class InvocationRun:
    def __init__(
        self, pipeline: Pipeline, events: BucketEvents, deadline: Deadline, batch_size: int, request_id: str
    ) -> None:
        self.pipeline = pipeline
        self.events = events
        self.deadline = deadline
        self.batch_size = max(1, batch_size)
        self.request_id = request_id

    def run(self, invocation: Invocation) -> Answer:
        kinds: dict[str, set[str]] = {}
        named_by: dict[str, list[int]] = {}  # key -> the deliveries that name it
        failed: set[int] = set()
        for index, delivery in enumerate(invocation.deliveries):
            if not self._read(delivery):
                failed.add(index)
            for notice in delivery.parsed.notices:
                key = self.events.key_of(notice)
                if isinstance(key, Ignored):
                    self._emit_ignored(key, delivery)
                    continue
                kinds.setdefault(key, set()).add(notice.kind)
                named_by.setdefault(key, []).append(index)
        answer = Answer(outcomes=self._settle(kinds))
        for key, outcome in answer.outcomes.items():
            ids = sorted({d.message_id for i in named_by[key] if (d := invocation.deliveries[i]).message_id})
            emit(
                "object",
                key=printable(key),
                outcome=outcome.outcome,
                reason=outcome.reason,
                ms=round(outcome.ms, 1),
                message_ids=ids or None,
                request_id=self.request_id,
            )
            if outcome.retried:
                failed.update(named_by[key])
        answer.failed = [invocation.deliveries[index] for index in sorted(failed)]
        return answer

    # -- reading the deliveries ----
    def _read(self, delivery: Delivery) -> bool:
        """Log what a delivery holds that is not an object to look at; False when a record could not be read."""
        parsed = delivery.parsed
        if parsed.test_event:
            emit("test_event", outcome="ignored", message_id=delivery.message_id, request_id=self.request_id)
        for item in parsed.ignored:
            self._emit_ignored(item, delivery)
        for error in parsed.errors:
            where = {"message_id": delivery.message_id, "request_id": self.request_id}
            emit("record", outcome="malformed", reason=error, **where)
        return not parsed.errors

    def _emit_ignored(self, item: Ignored, delivery: Delivery) -> None:
        emit(
            "object",
            key=printable(item.key),
            outcome="refused" if item.refused else "ignored",
            reason=item.reason,
            message_id=delivery.message_id,
            request_id=self.request_id,
        )

    # -- deciding, analysing, checking again ----
    def _settle(self, kinds: Mapping[str, set[str]]) -> dict[str, KeyOutcome]:
        outcomes: dict[str, KeyOutcome] = {}
        todo = dict(kinds)
        for round_number in range(SETTLE_ROUNDS + 1):
            if not todo:
                break
            started = time.perf_counter()
            try:
                decisions = self.events.decide(todo, take_pending=True)
            except StoreMissingError as exc:  # the bucket or its server is away: every key is delivered again
                outcomes.update({key: KeyOutcome(key, "error", str(exc)) for key in todo})
                break
            each_ms = (time.perf_counter() - started) * 1000 / len(todo)
            jobs: list[Job] = []
            for key, decision in decisions.items():
                if decision.action is Action.QUEUED:
                    assert decision.job is not None
                    jobs.append(decision.job)
                elif round_number == 0 or decision.action not in SETTLED:
                    outcomes[key] = _decided(decision, each_ms)  # a check that found no change keeps the outcome
            if round_number == SETTLE_ROUNDS:
                reason = "the object changed again while it was analysed: delivered again"
                outcomes.update({job.key: KeyOutcome(job.key, "unfinished", reason) for job in jobs})
                break
            written = self._analyse(jobs, outcomes)
            forgotten = [key for key, decision in decisions.items() if decision.action is Action.FORGOTTEN]
            todo = {key: kinds[key] for key in [*written, *forgotten]}
        return outcomes

    def _analyse(self, jobs: list[Job], outcomes: dict[str, KeyOutcome]) -> list[str]:
        """Run the jobs in batches while the deadline allows; the keys whose records were written."""
        written: list[str] = []
        for start in range(0, len(jobs), self.batch_size):
            batch = jobs[start : start + self.batch_size]
            if not self.deadline.allows(len(batch)):
                reason = (
                    f"not started: {self.deadline.remaining():.1f} s left before the deadline, "
                    f"{self.deadline.margin:g} s kept as a margin, {self.deadline.per_image():.1f} s per image expected"
                )
                outcomes.update({job.key: KeyOutcome(job.key, "unfinished", reason) for job in jobs[start:]})
                break
            started = time.perf_counter()
            try:
                results = self.pipeline.process(batch, batch_size=len(batch))
            except Exception as exc:  # the catalog or the store failing: retried later rather than burning the time
                log.exception("a batch of %d images failed", len(batch))
                reason = f"{type(exc).__name__}: {exc}"
                outcomes.update({job.key: KeyOutcome(job.key, "error", reason) for job in batch})
                later = "not started: an earlier batch failed"
                rest = jobs[start + len(batch) :]
                outcomes.update({job.key: KeyOutcome(job.key, "unfinished", later) for job in rest})
                break
            seconds = time.perf_counter() - started
            self.deadline.took(len(batch), seconds)
            for result in results:
                outcome = _analysed(result, seconds * 1000 / len(batch))
                outcomes[result.key] = outcome
                if outcome.wrote:
                    written.append(result.key)
        return written


def _decided(decision: Decision, ms: float) -> KeyOutcome:
    if decision.action is Action.KEPT:
        return KeyOutcome(decision.key, "kept", decision.reason, ms)
    if decision.action is Action.ERROR:
        return KeyOutcome(decision.key, "error", decision.reason, ms)
    outcome, reason = DECISION_OUTCOMES[decision.action]
    return KeyOutcome(decision.key, outcome, reason, ms)


def _analysed(result: Result, ms: float) -> KeyOutcome:
    outcome, reason = RESULT_OUTCOMES[result.outcome]
    return KeyOutcome(result.key, outcome, result.error or reason, ms)
