"""Reconcile: compare the store with the catalog, so that nothing stays unanalysed when events are lost.

Whether an image needs work is ``pixlens.work``'s decision (the catalog lacks it, holds it with another etag,
still has it pending, analysed it with other analyser versions: then only those re-run; failed images only when
their content changes or on request); reconcile sorts the jobs by its reason. A catalogued image that the store
no longer has is deleted.

The store's listing says what is new; only the store's ``stat`` says what is gone. A catalogued key the listing
leaves out but that still exists (a named pipe analysed in place, which failed; a file whose content no longer
sniffs as an image) keeps its record, with its reason, for as long as it exists. A record that ``pixlens import``
brought in (``work.imported``) whose image the store does not hold is kept: it never came from the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pixlens.catalog.base import Catalog
from pixlens.pipeline import Job, Result
from pixlens.store.base import ObjectStore
from pixlens.work import Reason, imported, needs_work, stale_analyzers

__all__ = ["ReconcilePlan", "plan_reconcile", "stale_analyzers"]


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
    imported_only: int = 0  # imported records whose image is not in the store: kept as they are

    def by_reason(self, reason: Reason) -> list[Job]:
        """The jobs needed for that reason (a forced job is not reconcile's: it has none)."""
        return {
            Reason.NEW: self.new,
            Reason.CHANGED: self.changed,
            Reason.PENDING: self.pending,
            Reason.STALE: self.outdated,
            Reason.RETRY: self.retried,
        }[reason]

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
            **({"imported_only": self.imported_only} if self.imported_only else {}),
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
            if info is None and imported(state.versions):
                plan.imported_only += 1
                continue
            if info is None:
                plan.deleted.append(state.key)
                continue
            etag = info.etag
        need = needs_work(state, etag, versions, retry_failed=retry_failed)
        if need is not None:
            plan.by_reason(need.reason).append(Job(state.key, etag, need.analyzers))
    plan.new = [Job(key, etag) for key, etag in sorted(in_store.items())]
    return plan
