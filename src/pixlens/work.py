"""Does this image need work? The one decision, for every caller (ingest, uploads, reconcile, the watcher, the
catalog's pending ledger, the pipeline), from what the catalog holds (an ``ImageState``) and what the store says
now (the object's etag), with the analysers' current versions.

An image needs analysis when

- the catalog lacks it (``NEW``), or holds it with another etag, or none (``CHANGED``): every analyser runs;
- it is pending (``PENDING``): queued, or left so by a crash or a stop; every analyser runs;
- it failed and a retry was asked for (``RETRY``): it would fail the same way again, so only when asked (an
  ingest that names it, ``reconcile --retry-failed``); every analyser runs;
- it was analysed by other analyser versions (``STALE``): only the stale analysers run;
- a re-analysis was asked for (``FORCED``): every analyser runs, whatever the record holds.

The catalog records the first three (and ``FORCED``) as pending before the work starts (``marks_pending``), so
that what a crash interrupts is found again; a ``STALE`` or ``RETRY`` image keeps its status until its new
analysis is written.

Once the bytes are read, :func:`analyzers_to_run` says which analysers the content itself still needs: none for
content already analysed by these versions (a touched or re-delivered file).

A record brought in by ``pixlens import`` (:func:`imported`: every analyser version starts with ``imported:``) was
not analysed here: it has no etag and no content hash. When its image is in the store it is ``CHANGED`` like any
image seen with another etag, and every analyser runs on it (the imported labels stay searchable meanwhile);
when its image is not in the store, reconcile keeps it (there is nothing it could have lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from pixlens.catalog.base import ImageState
from pixlens.record import ImageRecord, Status


class Reason(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    PENDING = "pending"
    RETRY = "retry"
    STALE = "stale"
    FORCED = "forced"


IMPORTED = "imported:"  # the analyser version of what another system analysed ("imported:dynamodb")
MARKED = frozenset({Reason.NEW, Reason.CHANGED, Reason.FORCED})  # recorded as pending before the work starts


@dataclass(frozen=True)
class Need:
    """Why an image needs analysis, and which analysers (None: all of them)."""

    reason: Reason
    analyzers: tuple[str, ...] | None = None
    queued: bool = False  # the catalog holds it pending already: a job for it is queued (or a crash left it)

    @property
    def marks_pending(self) -> bool:
        """Whether the catalog must record the image as pending before the work starts."""
        return self.reason in MARKED

    @property
    def force(self) -> bool:
        return self.reason is Reason.FORCED


def needs_work(
    state: ImageState | None,
    etag: str | None,
    versions: Mapping[str, str] | None = None,
    *,
    retry_failed: bool = False,
    force: bool = False,
) -> Need | None:
    """Whether (and why) the image needs analysis; None when its record is up to date.

    ``etag`` is the object's etag in the store now (None: unknown, which counts as changed); ``versions`` the
    current analysers' versions (None: the versions are not judged, only content and status)."""
    queued = state is not None and state.status is Status.PENDING
    if force:
        return Need(Reason.FORCED, queued=queued)
    if state is None:
        return Need(Reason.NEW)
    if etag is None or state.etag != etag:
        return Need(Reason.CHANGED, queued=queued)
    if queued:
        return Need(Reason.PENDING, queued=True)
    if state.status is Status.FAILED:
        return Need(Reason.RETRY) if retry_failed else None
    stale = stale_analyzers(state.versions, versions) if versions is not None else ()
    return Need(Reason.STALE, stale) if stale else None


def imported(versions: Mapping[str, str]) -> bool:
    """Whether a record's analysis came from elsewhere (``pixlens import``), none of it from an analyser here."""
    return bool(versions) and all(version.startswith(IMPORTED) for version in versions.values())


def stale_analyzers(recorded: Mapping[str, str], current: Mapping[str, str]) -> tuple[str, ...]:
    """The current analysers that did not analyse an image, or did with another version: only they re-run."""
    return tuple(name for name, version in current.items() if recorded.get(name) != version)


def analysed_content(previous: ImageRecord | None, sha256: str | None) -> bool:
    """Whether the catalog's record (``previous``) analysed these very bytes, successfully."""
    return (
        previous is not None
        and previous.AnalyzedAt is not None
        and previous.Status is not Status.FAILED
        and previous.ContentSha256 == sha256
    )


def analyzers_to_run(
    previous: ImageRecord | None,
    sha256: str | None,
    versions: Mapping[str, str],
    asked: Iterable[str] | None = None,
    force: bool = False,
) -> list[str]:
    """The analysers (names, in ``versions``'s order) that the bytes just read need: all of them for new or changed
    content (or when forced); for content already analysed, those of ``asked`` (None: all) whose version the record
    lacks. Empty: nothing to do (a touched or re-delivered file)."""
    if force or previous is None or not analysed_content(previous, sha256):
        return list(versions)
    names = set(asked) if asked is not None else set(versions)
    return [
        name for name, version in versions.items() if name in names and previous.AnalyzerVersions.get(name) != version
    ]
