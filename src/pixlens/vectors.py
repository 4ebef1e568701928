"""The vector index behind "more like this" and near-duplicates: unit vectors keyed by the catalog's image ids.

Why usearch (HNSW) and not a NumPy matrix product: brute force reads every vector for every query, so its
latency grows with the collection (``benchmarks/bench_vectors.py`` measures both side by side: at 1,280
dimensions a float32 scan costs about 1 ms per 10,000 images on 2 cores, so around 100 ms at 1M and a 5 GB
matrix in memory); HNSW touches a few thousand vectors per query whatever the size: about 7 ms at 1M
(recall@10 0.72 with the defaults below, 0.89 at 100,000; docs/PERFORMANCE.md). usearch is one small wheel with
no dependencies of its own beyond NumPy, saves and loads (or memory-maps) one file, and supports f16/i8 storage.

Choices (measured by the benchmark):

- metric ``cos`` on L2-normalised vectors: similarity = 1 - distance, the same number the embeddings' dot
  product gives (up to the storage precision).
- storage ``f16`` by default: half the memory of f32, recall unchanged on image embeddings; ``i8`` halves it
  again (usearch scales unit vectors to [-127, 127]) at a small recall cost; both are parameters.
- connectivity 16, expansion 64 on add and 256 on search: recall@10 0.72 at 1M (p95 7 ms), 0.89 at 100,000;
  searching with 800 gives 0.89 at 1M in 19 ms. Building 1M x 1,280 takes about 21 minutes on 2 cores.
- ``add`` replaces an id that is already there (remove + add), ``remove`` leaves a tombstone that usearch
  skips in searches and reuses on later adds (``tombstones`` counts them; the catalog rebuilds an index whose
  tombstones pile up).

One writer and many readers: a lock serialises calls into the index (usearch itself parallelises inside a
batch, except while the index is small: ``SMALL_INDEX``). ``save`` writes a temporary file next to the target
and renames it over, so a reader or a crash never sees half a file. ``readonly=True`` memory-maps the file
instead of loading it (usearch ``view``): instant open, pages shared between processes, no
``add``/``remove``/``save``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Vectors = np.ndarray[Any, np.dtype[np.floating[Any]]]

DEFAULT_DIMENSIONS = 1280
DEFAULT_DTYPE = "f16"
DEFAULT_CONNECTIVITY = 16
DEFAULT_EXPANSION_ADD = 64
DEFAULT_EXPANSION_SEARCH = 256
# usearch's parallel insert into a (nearly) empty graph now and then leaves a vector that no search reaches
# (100 random 64-d vectors into an empty index: 6 of 90 runs lost one; added on one thread: 0 of 60 runs); below
# this size a batch is added on one thread, which costs nothing at that size
SMALL_INDEX = 1_000


def _usearch_index() -> Any:
    """usearch's ``Index`` class, imported only after ONNX Runtime.

    With usearch 2.26.6 and onnxruntime 1.31 on Linux, loading usearch's extension first makes the later import of
    onnxruntime crash the process (SIGSEGV in libstdc++ locale set-up); the other order is fine. Every process that
    uses pixlens may import both, so the index makes sure of the safe order.
    """
    import onnxruntime  # noqa: F401  (load order, see above)
    from usearch.index import Index

    return Index


def _keys(ids: Iterable[int] | np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    array = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64).reshape(-1)
    if array.size and int(array.min()) < 0:
        raise ValueError("vector ids must be non-negative")
    return array.astype(np.uint64)


class VectorIndex:
    """An HNSW index of ``dimensions``-long vectors (cosine), persisted at ``path`` (None: in memory only).

    The file at ``path`` is loaded unless ``load`` is False (a new index that will be saved over it).
    """

    def __init__(
        self,
        path: Path | str | None,
        dimensions: int = DEFAULT_DIMENSIONS,
        *,
        dtype: str = DEFAULT_DTYPE,
        connectivity: int = DEFAULT_CONNECTIVITY,
        expansion_add: int = DEFAULT_EXPANSION_ADD,
        expansion_search: int = DEFAULT_EXPANSION_SEARCH,
        readonly: bool = False,
        load: bool = True,
    ) -> None:
        index_class = _usearch_index()
        self.path = Path(path) if path is not None else None
        self.readonly = readonly
        self._lock = threading.RLock()
        self._index: Any = index_class(
            ndim=dimensions,
            metric="cos",
            dtype=dtype,
            connectivity=connectivity,
            expansion_add=expansion_add,
            expansion_search=expansion_search,
        )
        if load and self.path is not None and self.path.is_file():
            if readonly:
                self._index.view(str(self.path))
            else:
                self._index.load(str(self.path))
            if self._index.ndim != dimensions:
                raise ValueError(f"{self.path} holds {self._index.ndim}-d vectors, expected {dimensions}")
            # The loaded file's own settings (dtype, connectivity) win; the search expansion is ours.
            self._index.expansion_search = expansion_search
        elif readonly:
            raise FileNotFoundError(f"no vector index at {self.path}")
        self.dimensions = dimensions

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def __contains__(self, image_id: object) -> bool:
        if not isinstance(image_id, int | np.integer) or int(image_id) < 0:
            return False
        with self._lock:
            return bool(self._index.contains(int(image_id)))

    @property
    def tombstones(self) -> int:
        """Removed vectors whose slots the graph still holds (later adds reuse them)."""
        with self._lock:
            return max(0, int(self._index.stats.nodes) - len(self._index))

    @property
    def dtype(self) -> str:
        return str(self._index.dtype).rsplit(".", 1)[-1].lower()

    def _writable(self) -> None:
        if self.readonly:
            raise PermissionError(f"vector index {self.path} is open read-only")

    def add(self, ids: Sequence[int] | np.ndarray[Any, Any], vectors: Vectors | Sequence[Sequence[float]]) -> None:
        """Add vectors under ``ids``; an id already present gets the new vector."""
        self._writable()
        keys = _keys(ids)
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(keys), -1))
        if matrix.shape[1] != self.dimensions:
            raise ValueError(f"vectors have {matrix.shape[1]} dimensions, the index {self.dimensions}")
        if len(np.unique(keys)) != len(keys):
            # The last vector of a repeated id wins, as a sequence of single adds would do.
            _, last = np.unique(keys[::-1], return_index=True)
            keep = np.sort(len(keys) - 1 - last)
            keys, matrix = keys[keep], matrix[keep]
        if not len(keys):
            return
        with self._lock:
            present = np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)
            if present.any():
                self._index.remove(keys[present])
            self._index.add(keys, matrix, threads=1 if len(self._index) < SMALL_INDEX else 0)

    def remove(self, ids: Sequence[int] | np.ndarray[Any, Any]) -> int:
        """Remove ``ids`` (unknown ids are ignored); returns how many were removed."""
        self._writable()
        keys = _keys(ids)
        if not len(keys):
            return 0
        with self._lock:
            present = np.asarray(self._index.contains(keys), dtype=bool).reshape(-1)
            if not present.any():
                return 0
            self._index.remove(np.unique(keys[present]))
            return len(np.unique(keys[present]))

    def search(self, vector: Vectors | Sequence[float], k: int = 10) -> list[tuple[int, float]]:
        """The ``k`` nearest ids with their cosine similarity, best first."""
        return self.search_many(np.asarray(vector, dtype=np.float32).reshape(1, -1), k)[0]

    def search_many(self, vectors: Vectors | Sequence[Sequence[float]], k: int = 10) -> list[list[tuple[int, float]]]:
        """:meth:`search` for each row of ``vectors`` (one call: usearch spreads the batch over the cores)."""
        matrix = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions))
        if not len(matrix) or k <= 0:
            return [[] for _ in range(len(matrix))]
        with self._lock:
            if not len(self._index):
                return [[] for _ in range(len(matrix))]
            matches = self._index.search(matrix, min(k, len(self._index)))
        keys = np.asarray(matches.keys).reshape(len(matrix), -1)
        distances = np.asarray(matches.distances, dtype=np.float64).reshape(len(matrix), -1)
        # One query gives usearch's ``Matches`` (no ``counts``), several its ``BatchMatches``.
        counts = np.asarray(getattr(matches, "counts", [keys.shape[1]])).reshape(-1)
        return [
            [(int(key), 1.0 - float(distance)) for key, distance in zip(keys[row, :n], distances[row, :n], strict=True)]
            for row, n in enumerate(counts)
        ]

    def get(self, image_id: int) -> np.ndarray[Any, np.dtype[np.float32]] | None:
        """The stored vector of an id (at the storage precision), or None."""
        with self._lock:
            if image_id < 0 or not self._index.contains(image_id):
                return None
            return np.asarray(self._index.get(image_id, dtype=np.float32), dtype=np.float32).reshape(-1)

    def save(self) -> None:
        """Write the index to its path atomically (temporary file + rename)."""
        self._writable()
        if self.path is None:
            raise ValueError("this vector index has no file (it was made with path=None)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with self._lock:
                self._index.save(str(temporary))
            with temporary.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)

    def memory_bytes(self) -> int:
        """Bytes the index uses in memory (vectors + graph), as usearch counts them."""
        with self._lock:
            return int(self._index.memory_usage)
