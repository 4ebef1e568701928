"""The folder watcher: file-system events (watchdog) on the store -> jobs, and deletions -> catalog deletes.

Writers take time: a photo being copied fires many events. A key becomes a job only once its file has been quiet
for ``settle_seconds``; its etag is read then, so the job carries the finished file's token. Files that vanish
before settling leave the catalog. Hidden files (and pixlens's own ``.name.part`` copies) are ignored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from pixlens.catalog.base import Catalog
from pixlens.pipeline import Job
from pixlens.record import Status
from pixlens.store.base import ObjectStore, looks_like_image_name

log = logging.getLogger(__name__)

TICK = 0.1  # seconds between checks for settled files


class FolderWatcher:
    def __init__(
        self,
        store: ObjectStore,
        catalog: Catalog,
        settle_seconds: float = 1.0,
        on_event: Callable[[str, str], None] | None = None,
        reconcile: Callable[[], list[Job]] | None = None,
        reconcile_interval: float = 0.0,
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
        self._touched: dict[str, float] = {}
        self._folders: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._observer = Observer()

    # -- events in ----
    def start(self) -> None:
        self._observer.schedule(_Handler(self), str(self.root), recursive=True)
        self._observer.start()

    def stop(self) -> None:
        self._observer.stop()
        self._observer.join(timeout=5)

    def touched(self, path: str) -> None:
        key = self._key(path)
        if key is not None:
            with self._lock:
                self._touched[key] = time.monotonic()

    def folder_changed(self, path: str) -> None:
        key = self._key(path)
        if key is not None:
            self._folders.put(key)

    def _key(self, path: str) -> str | None:
        try:
            relative = Path(path).relative_to(self.root)
        except ValueError:
            return None
        if not relative.parts or any(part.startswith(".") for part in relative.parts):
            return None
        return relative.as_posix()

    # -- jobs out ----
    def jobs(self, stop: threading.Event) -> Iterator[Job]:
        """Jobs for settled files until ``stop`` is set; deletions are applied to the catalog on the way."""
        next_reconcile = time.monotonic() + self.reconcile_interval
        while not stop.is_set():
            yield from self._folder_jobs()
            yield from self._settled_jobs()
            if self.reconcile is not None and self.reconcile_interval and time.monotonic() >= next_reconcile:
                next_reconcile = time.monotonic() + self.reconcile_interval
                yield from self.reconcile()
            stop.wait(TICK)

    def _settled_jobs(self) -> Iterator[Job]:
        now = time.monotonic()
        with self._lock:
            settled = [key for key, at in self._touched.items() if now - at >= self.settle_seconds]
            for key in settled:
                del self._touched[key]
        for key in settled:
            job = self._job_for(key)
            if job is not None:
                yield job

    def _job_for(self, key: str) -> Job | None:
        info = self.store.stat(key)
        if info is None:
            if self.catalog.delete([key]):
                self.on_event("deleted", key)
            else:
                # A folder: its catalogued images are gone with it.
                gone = [s.key for s in self.catalog.states() if s.key.startswith(key + "/")]
                if gone and self.store.stat(gone[0]) is None:
                    self.catalog.delete(gone)
                    for each in gone:
                        self.on_event("deleted", each)
            return None
        if (self.root / key).is_dir():
            self._folders.put(key)
            return None
        if not looks_like_image_name(key) and not info.etag.startswith("unreadable"):
            from pixlens.store.local import _sniffs_as_image

            if not _sniffs_as_image(self.root / key):
                return None
        if self.catalog.mark_pending([(key, info.etag)]) == 0:
            return None  # already catalogued with this very etag
        self.on_event("queued", key)
        return Job(key, info.etag)

    def _folder_jobs(self) -> Iterator[Job]:
        while True:
            try:
                prefix = self._folders.get_nowait()
            except queue.Empty:
                return
            infos = list(self.store.list(prefix))
            known = {state.key: state for state in self.catalog.states(info.key for info in infos)}
            todo = [
                info
                for info in infos
                if info.key not in known
                or known[info.key].etag != info.etag
                or known[info.key].status is Status.PENDING
            ]
            self.catalog.mark_pending([(info.key, info.etag) for info in todo], force=True)
            for info in todo:
                self.on_event("queued", info.key)
                yield Job(info.key, info.etag)


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher) -> None:
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        for raw in paths:
            path = raw.decode() if isinstance(raw, bytes) else raw
            if not path:
                continue
            if (event.is_directory and event.event_type in ("created", "moved") and path != event.src_path) or (
                event.is_directory and event.event_type == "created"
            ):
                self.watcher.folder_changed(path)
            elif not event.is_directory or event.event_type in ("deleted", "moved"):
                self.watcher.touched(path)
