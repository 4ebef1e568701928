"""The vector index (usearch HNSW via pixlens.vectors.VectorIndex) against brute-force NumPy, side by side.

    .venv/bin/python benchmarks/bench_vectors.py [--size 1000000] [--dtype f16] [--queries 500]

Data: synthetic 1,280-d vectors shaped like the real image embeddings rather than pure noise. Real embeddings are
non-negative (ReLU6 activations, pooled), have a low intrinsic dimension and a mean pairwise cosine around 0.2-0.4
(0.21 on the 30 sample photos). Here: ``relu(z @ W + bias) + noise``, z ~ N(0, I_64) in 64 latent dimensions,
with 1/4 of the points drawn around 20,000 "scene" centres (bursts, similar shots), then L2-normalised.
Isotropic Gaussian noise in 1,280-d (``--data normal``) is the worst case for any graph index (no structure,
every point about equally far away) and is available for comparison; it is not what a photo collection looks like.

Queries are fresh draws from the same distribution (an unseen photo asking "more like this"). Recall@10 is
measured against the exact top-10 of a float32 brute-force scan. Latency is per single query (k=10), one call at a
time, as the HTTP API would do it. The built index is cached in ``benchmarks/out/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.vectors import VectorIndex

OUT = Path(__file__).resolve().parent / "out"
DIM = 1280
LATENT = 64
K = 10
Matrix = np.ndarray[Any, np.dtype[np.float32]]


class Generator:
    """Deterministic synthetic embeddings, made in chunks (the same seed gives the same vectors)."""

    def __init__(self, kind: str, seed: int = 7) -> None:
        self.kind = kind
        rng = np.random.default_rng(seed)
        self.weights = (rng.normal(size=(LATENT, DIM)) / np.sqrt(LATENT)).astype(np.float32)
        self.bias = rng.normal(-0.3, 0.3, size=DIM).astype(np.float32)
        self.centres = rng.normal(size=(20_000, LATENT)).astype(np.float32)

    def chunk(self, start: int, count: int, salt: int = 0) -> Matrix:
        rng = np.random.default_rng([start, salt, 1])
        if self.kind == "normal":
            data = rng.normal(size=(count, DIM)).astype(np.float32)
        else:
            latent = rng.normal(size=(count, LATENT)).astype(np.float32)
            clustered = rng.random(count) < 0.25
            picks = rng.integers(0, len(self.centres), int(clustered.sum()))
            latent[clustered] = self.centres[picks] + 0.35 * latent[clustered]
            data = np.maximum(latent @ self.weights + self.bias, 0.0)
            data += np.abs(rng.normal(0, 0.05, size=data.shape)).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        return np.asarray(data, dtype=np.float32)

    def matrix(self, size: int, step: int = 50_000) -> Matrix:
        out = np.empty((size, DIM), dtype=np.float32)
        for start in range(0, size, step):
            out[start : start + step] = self.chunk(start, min(step, size - start))
        return out


def exact_top(data: Matrix, queries: Matrix, k: int = K, step: int = 100_000) -> np.ndarray[Any, Any]:
    """Exact top-k ids of each query (float32 scan in chunks)."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(data), step):
        scores = queries @ data[start : start + step].T
        ids = np.broadcast_to(np.arange(start, start + scores.shape[1]), scores.shape)
        scores = np.concatenate([best_scores, scores], axis=1)
        ids = np.concatenate([best_ids, ids], axis=1)
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores, best_ids = np.take_along_axis(scores, top, 1), np.take_along_axis(ids, top, 1)
    return best_ids


def brute_force_search(data: Matrix, query: Matrix, k: int = K) -> np.ndarray[Any, Any]:
    scores = data @ query
    top = np.argpartition(-scores, k - 1)[:k]
    return top[np.argsort(-scores[top])]


def percentiles(samples: list[float]) -> str:
    p50, p95, p99 = np.percentile(np.asarray(samples) * 1000, [50, 95, 99])
    return f"p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  p99 {p99:7.2f} ms"


def build(path: Path, data: Matrix, dtype: str, connectivity: int, expansion_add: int) -> tuple[VectorIndex, float]:
    if path.is_file():
        index = VectorIndex(path, DIM, dtype=dtype)
        if len(index) == len(data):
            return index, float("nan")
        path.unlink()
    index = VectorIndex(path, DIM, dtype=dtype, connectivity=connectivity, expansion_add=expansion_add)
    started = time.perf_counter()
    step = 100_000
    for begin in range(0, len(data), step):
        index.add(np.arange(begin, min(begin + step, len(data))), data[begin : begin + step])
        rate = (begin + step) / (time.perf_counter() - started)
        print(f"    built {min(begin + step, len(data)):>9,} ({rate:,.0f} vectors/s)", flush=True)
    seconds = time.perf_counter() - started
    index.save()
    return index, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--dtype", default="f16", choices=["f32", "f16", "i8"])
    parser.add_argument("--data", default="embedding-like", choices=["embedding-like", "normal"])
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=40)
    parser.add_argument("--expansion-search", type=int, default=320)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--brute-sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    print(
        f"{args.size:,} x {DIM} {args.data} vectors, usearch {args.dtype}, M={args.connectivity}, "
        f"ef_add={args.expansion_add}, ef_search={args.expansion_search}, {os.cpu_count()} CPUs"
    )
    generator = Generator(args.data)
    started = time.perf_counter()
    data = generator.matrix(args.size)
    queries = generator.chunk(10**9, args.queries, salt=1)
    print(
        f"  generated in {time.perf_counter() - started:.1f} s; "
        f"mean cosine of random pairs {float((data[:2000] @ data[2000:4000].T).mean()):.3f}"
    )

    name = f"vectors-{args.data}-{args.size}-{args.dtype}-M{args.connectivity}-ef{args.expansion_add}.usearch"
    index, seconds = build(OUT / name, data, args.dtype, args.connectivity, args.expansion_add)
    index = VectorIndex(OUT / name, DIM, expansion_search=args.expansion_search)  # reopen: what a service does
    print(
        "  index: "
        + ("loaded from cache" if seconds != seconds else f"built in {seconds:.0f} s")
        + f", file {(OUT / name).stat().st_size / 2**20:,.0f} MiB, in memory {index.memory_bytes() / 2**20:,.0f} MiB"
        f" (float32 matrix: {data.nbytes / 2**20:,.0f} MiB)"
    )

    truth = exact_top(data, queries)
    for query in queries[:20]:  # warm-up
        index.search(query, K)
    latencies, hits = [], 0
    for row, query in enumerate(queries):
        begin = time.perf_counter()
        found = index.search(query, K)
        latencies.append(time.perf_counter() - begin)
        hits += len({key for key, _ in found} & set(truth[row].tolist()))
    print(f"  usearch k={K}: {percentiles(latencies)}  recall@{K} {hits / (K * len(queries)):.3f}")

    for size in [int(s) for s in args.brute_sizes.split(",") if int(s) <= args.size]:
        subset = data[:size]
        count = max(10, min(len(queries), 2_000_000_000 // (size * DIM)))
        times = []
        for query in queries[:count]:
            begin = time.perf_counter()
            brute_force_search(subset, query)
            times.append(time.perf_counter() - begin)
        print(f"  numpy brute force at {size:>9,}: {percentiles(times)}  ({count} queries)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(f"  peak RSS of this process {rss:,.0f} MiB (includes the float32 matrix and the ground truth)")


if __name__ == "__main__":
    main()
