"""Reconcile: compare the store with the catalog, so that nothing stays unanalysed when events are lost.

An image needs work when the catalog lacks it, holds it with another etag, still has it pending (a crash), or
analysed it with other analyser versions (then only those analysers re-run). A catalogued image that the store
no longer has is deleted. Failed images are retried only when their content changes (or on request): they would
fail the same way again.

The store's listing says what is new; only the store's ``stat`` says what is gone. A catalogued key the listing
leaves out but that still exists (a named pipe analysed in place, which failed; a file whose content no longer
sniffs as an image) keeps its record, with its reason, for as long as it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixlens.catalog.base import Catalog
from pixlens.pipeline import Job, Result
from pixlens.record import Status
from pixlens.store.base import ObjectStore


@dataclass
class ReconcilePlan:
    new: list[Job] = field(default_factory=list)
    changed: list[Job] = field(default_factory=list)
    pending: list[Job] = field(default_factory=list)
    outdated: list[Job] = field(default_factory=list)
    retried: list[Job] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    catalogued: int = 0  # images in the catalog when the plan was made

    def jobs(self) -> list[Job]:
        return [*self.new, *self.changed, *self.pending, *self.outdated, *self.retried]

    def summary(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "pending": len(self.pending),
            "outdated": len(self.outdated),
            "retried": len(self.retried),
            "deleted": len(self.deleted),
        }


def plan_reconcile(
    store: ObjectStore, catalog: Catalog, versions: dict[str, str], retry_failed: bool = False
) -> ReconcilePlan:
    plan = ReconcilePlan()
    in_store = {info.key: info.etag for info in store.list()}
    for state in catalog.states():
        plan.catalogued += 1
        etag = in_store.pop(state.key, None)
        if etag is None:
            info = store.stat(state.key)
            if info is None:
                plan.deleted.append(state.key)
                continue
            etag = info.etag
        job = Job(state.key, etag)
        if state.etag != etag:
            plan.changed.append(job)
        elif state.status is Status.PENDING:
            plan.pending.append(job)
        elif state.status is Status.FAILED:
            if retry_failed:
                plan.retried.append(job)
        elif stale := stale_analyzers(state.versions, versions):
            plan.outdated.append(Job(state.key, etag, stale))
    plan.new = [Job(key, etag) for key, etag in sorted(in_store.items())]
    return plan


def stale_analyzers(recorded: dict[str, str], current: dict[str, str]) -> tuple[str, ...]:
    """The current analysers that did not analyse an image, or did with another version: only they re-run."""
    return tuple(name for name, version in current.items() if recorded.get(name) != version)
