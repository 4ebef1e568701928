"""The folder watcher: file-system events (watchdog) on the store -> jobs, and deletions -> catalog deletes.

Writers take time: a photo being copied fires many events, a folder being copied in fires events for files that
appear before the folder itself is watched. So a path is handled only once it, and everything below it, has been
quiet for ``settle_seconds``: a settled file becomes a job (with the finished file's etag), a settled folder is
scanned whole, a path that no longer exists takes its images out of the catalog. Hidden files (and pixlens's
own ``.name.part`` copies) are ignored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from pixlens.catalog.base import Catalog
from pixlens.errors import StoreError
from pixlens.pipeline import Job
from pixlens.store.base import ObjectStore, looks_like_image_name
from pixlens.store.names import key_from_name, name_from_key
from pixlens.work import needs_work

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between checks for settled paths
ROOT_CHECK = 1.0  # seconds between checks that the store folder is still the one being watched


class FolderWatcher:
    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        settle_seconds: float = 1.0,
        on_event: Callable[[str, str], None] | None = None,
        reconcile: Callable[[], list[Job]] | None = None,
        reconcile_interval: float = 0.0,
        forget: Callable[[list[str]], object] | None = None,
        may_forget: Callable[[int], bool] | None = None,
    ) -> None:
        root = getattr(store, "root", None)
        if root is None:
            raise TypeError("the folder watcher needs a local folder store")
        self.root = Path(root)
        self.store = store
        self.catalog = catalog
        self.settle_seconds = settle_seconds
        self.on_event = on_event or (lambda kind, key: None)
        self.reconcile = reconcile
        self.reconcile_interval = reconcile_interval
        self.forget = forget or catalog.delete  # the service's forget also removes what analysers kept
        self.may_forget = may_forget or (lambda count: True)  # the service's guard against mass deletion
        self.failure: StoreError | None = None  # why watching stopped early (the store went away)
        self._root_identity: tuple[int, int] | None = None
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()
        self._observer = Observer()

    # -- events in ----
    def start(self) -> None:
        self._root_identity = self._identity()
        self._observer.schedule(_Handler(self), str(self.root), recursive=True)
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def touched(self, path: str) -> None:
        """Note an event on a path; it is handled once the path and everything below it are quiet."""
        key = self._key(path)
        if key is None:
            return
        now = time.monotonic()
        with self._lock:
            self._touched[key] = now
            # A folder being filled stays unsettled while anything inside it changes.
            parts = key.split("/")
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent in self._touched:
                    self._touched[parent] = now

    def _key(self, path: str) -> str | None:
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            return None
        if not relative.parts or any(part.startswith(".") for part in relative.parts):
            return None
        return key_from_name(relative.as_posix())

    # -- jobs out ----
    def jobs(self, stop: threading.Event) -> Iterator[Job]:
        """Jobs for settled paths until ``stop`` is set; deletions are applied to the catalog on the way."""
        next_reconcile = time.monotonic() + self.reconcile_interval
        next_check = time.monotonic() + ROOT_CHECK
        while not stop.is_set():
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + ROOT_CHECK
                if self._identity() != self._root_identity:
                    # The events would come from wherever the folder went, or from nowhere: stop, and say so.
                    self.failure = StoreError(
                        f"the store folder {self.root} was moved, deleted or unmounted while it was watched; nothing "
                        "more was analysed or forgotten. Put it back (or point the home at its new place with "
                        "--store NEW --move-store), then run pixlens watch again."
                    )
                    return
            yield from self._settled_jobs()
            if self.reconcile is not None and self.reconcile_interval and time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + self.reconcile_interval
                yield from self.reconcile()
            stop.wait(TICK)

    def _settled_jobs(self) -> Iterator[Job]:
        now = time.monotonic()
        with self._lock:
            settled = sorted(key for key, at in self._touched.items() if now - at >= self.settle_seconds)
            for key in settled:
                del self._touched[key]
        for key in settled:
            if (self.root / name_from_key(key)).is_dir():
                yield from self._folder_jobs(key)
                continue
            job = self._job_for(key)
            if job is not None:
                yield job

    def _job_for(self, key: str) -> Job | None:
        info = self.store.stat(key)
        if info is None:
            self._forget(key)
            return None
        path = self.root / name_from_key(key)
        if not (looks_like_image_name(key) or info.etag.startswith("unreadable") or _sniffs(path)):
            return None
        if self.catalog.mark_pending([(key, info.etag)]) == 0:
            return None  # pixlens.work: catalogued with this very etag (or already pending for it): nothing new
        self.on_event("queued", key)
        return Job(key, info.etag)

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.root)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _forget(self, key: str) -> None:
        """A file or a folder is gone: so are its images (unless the service's guard says that is too many)."""
        gone = [key] if self.catalog.get(key) is not None else []
        if not gone:
            gone = [state.key for state in self.catalog.states() if state.key.startswith(key + "/")]
        if not gone or not self.may_forget(len(gone)):
            return
        self.forget(gone)
        for each in gone:
            self.on_event("deleted", each)

    def _folder_jobs(self, prefix: str) -> Iterator[Job]:
        """A folder appeared (created, or moved in whole): all its images, whatever events were missed."""
        infos = list(self.store.list(prefix))
        known = {state.key: state for state in self.catalog.states(info.key for info in infos)}
        todo = []
        for info in infos:
            need = needs_work(known.get(info.key), info.etag)
            # Pending ones are already queued (or, after a crash, found by the start-up reconcile).
            if need is not None and need.marks_pending and not need.queued:
                todo.append(info)
        if todo:
            self.catalog.mark_pending([(info.key, info.etag) for info in todo], force=True)
        for info in todo:
            self.on_event("queued", info.key)
            yield Job(info.key, info.etag)


def _sniffs(path: Path) -> bool:
    from pixlens.store.local import sniffs_as_image

    return sniffs_as_image(path)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = os.fsdecode(raw)
            if path:
                self.watcher.touched(path)
