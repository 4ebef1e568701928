"""The vector index's file beside the catalog, with the catalog generation it holds.

``<catalog>.vectors`` is the usearch file; ``<catalog>.vectors.json`` says which generation of the embeddings
table it holds (``{"generation": 12, "vectors": 3400}``). Both are written under an exclusive lock on
``<catalog>.vectors.lock`` and read under a shared one, so a reader never pairs a file with another save's
generation: a crash between the two renames leaves an older generation beside a newer file, which only makes
the reader replay changes it already has (adds and removals replayed twice give the same index).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pixlens.vectors import VectorIndex


class SavedIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sidecar = path.with_name(path.name + ".json")
        self.lock = path.with_name(path.name + ".lock")

    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        with self.lock.open("a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def generation(self) -> tuple[int, int] | None:
        """(generation, number of vectors) of the saved file, or None when unknown."""
        try:
            state = json.loads(self.sidecar.read_text())
            return int(state["generation"]), int(state["vectors"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self, dimensions: int) -> tuple[VectorIndex, int] | None:
        """The saved index and its generation; None when there is none, or it does not match its sidecar."""
        from pixlens.vectors import VectorIndex

        with self._locked(exclusive=False):
            saved = self.generation()
            if saved is None or not self.path.is_file():
                return None
            try:
                index = VectorIndex(self.path, dimensions)
            except (ValueError, RuntimeError, OSError):  # another dimension, a truncated or foreign file
                return None
        generation, vectors = saved
        if len(index) != vectors:  # a file that is not the one the sidecar describes
            return None
        return index, generation

    def save(self, index: VectorIndex, generation: int) -> None:
        """Write the index, then its generation."""
        with self._locked(exclusive=True):
            index.save()
            temporary = self.sidecar.with_name(f".{self.sidecar.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"generation": generation, "vectors": len(index)}))
            os.replace(temporary, self.sidecar)
