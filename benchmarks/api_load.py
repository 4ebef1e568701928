"""The HTTP API under load: requests/s and p50 / p95 / p99 of searches and record reads against ``pixlens serve``
at 1, 10 and 50 concurrent clients, while uploaded photos are being analysed.

    .venv/bin/python benchmarks/api_load.py [--records 100000] [--seconds 8] [--rounds 2] [--json]
    (or ./dev bench --only api)

The catalog is search_latency.py's synthetic one (cached in benchmarks/out/), copied into a home whose store also
holds the sample photos, analysed once by ``pixlens ingest`` (that home is cached too, keyed by VERSION). Each run
copies it to a temporary home and starts ``pixlens serve --no-watch`` there on 127.0.0.1 (the synthetic records
have no files: the watcher's reconcile would take them for deleted). wrk (scripts/install-bench-tools.sh) loads
each kind of request in turn with benchmarks/api_load.lua, cycling over its paths; the rounds are interleaved.
Meanwhile a thread uploads the sample JPEGs under new keys at a steady rate, faster than they can be analysed, so
the workers (every analyser, the default) never rest. Target: label search p95 < 50 ms at 50 clients.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import search_latency
from pixlens.analysis.taxonomy import Taxonomy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLES = ROOT / "samples"
OUT = HERE / "out"
LUA = HERE / "api_load.lua"
INSTALL = ROOT / "scripts" / "install-bench-tools.sh"
PIXLENS = Path(sys.executable).parent / "pixlens"
VERSION = "1"  # bump when the seeded home (catalog, samples, their analysis) is made differently
RECORDS = 100_000
CONNECTIONS = (1, 10, 50)
UPLOADS_PER_SECOND = 2.0  # above what the workers analyse on 2 cores under load: the queue never empties
READY_TIMEOUT = 600.0  # seconds for serve to load the models (and migrate the copied catalog)
SYNTHETIC_READS = 100  # synthetic records read beside the sample photos' records
LABEL_P95_MS = 50.0
DRAIN_TIMEOUT = 300.0  # seconds the server may take to finish what a run left it
SEED = 20261207


# -- the home ---------------------------------------------------------------------------------------------------
# 50 people at the web page pause between searches; wrk's clients ask again at once (closed loop: the p95 there
# is about clients / throughput, and 50 ms at 50 clients would take 1,000 answers a second).
PACED = "label search, facets, each client pausing 1 s"
PAUSES_MS = {PACED: 1000}


def seeded_home(records: int, taxonomy: Taxonomy) -> Path:
    """A home with the synthetic catalog and the sample photos analysed into its store, made on first use."""
    catalog = search_latency.catalog_path(records, taxonomy)
    home = OUT / f"api-v{VERSION}-{catalog.stem}"
    if (home / ".complete").is_file():
        return home
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copyfile(catalog, home / "catalog.db")
    started = time.perf_counter()
    ingest = [str(PIXLENS), "--home", str(home), "ingest", str(SAMPLES)]
    done = subprocess.run(ingest, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pixlens ingest of the samples failed ({done.returncode}): {done.stderr[-2000:]}")
    (home / ".complete").touch()
    print(f"  (analysed the samples into {home.name} in {time.perf_counter() - started:.0f} s)")
    return home


def sample_keys(home: Path) -> list[str]:
    """The keys of the sample photos in the home's store (the files ingest copied there)."""
    store = home / "images"
    return sorted(str(path.relative_to(store)) for path in store.rglob("*") if path.is_file())


# -- what is asked ----------------------------------------------------------------------------------------------
def search_path(query: str, facets: bool) -> str:
    return f"/v1/search?q={quote(query, safe='')}&facets={'true' if facets else 'false'}"


def request_kinds(taxonomy: Taxonomy, records: int, samples: list[str]) -> dict[str, list[str]]:
    """Kind of request -> the paths wrk cycles over: search_latency's queries, and records of both kinds."""
    queries = search_latency.queries(taxonomy).values()
    labels = [text for kind, text in queries if kind == "one label"]
    booleans = ["dog AND NOT cat", *(text for kind, text in queries if kind == "boolean")]
    rng = random.Random(SEED)
    synthetic = [search_latency_key(index) for index in rng.sample(range(records), SYNTHETIC_READS)]
    reads = [*samples, *synthetic]
    rng.shuffle(reads)
    return {
        "label search": [search_path(text, facets=False) for text in labels],
        "label search, facets": [search_path(text, facets=True) for text in labels],
        PACED: [search_path(text, facets=True) for text in labels],
        "boolean search": [search_path(text, facets=False) for text in booleans],
        "record read": [f"/v1/images/{quote(key)}" for key in reads],
    }


def search_latency_key(index: int) -> str:
    """The key search_latency.synthetic_records gives its ``index``-th record."""
    return f"photos/{index // 1000:03d}/{index:06d}.jpg"


# -- the server -------------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, timeout: float = 30.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"pixlens serve exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if get(base + "/readyz", timeout=5)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.5)
    raise RuntimeError(f"pixlens serve was not ready within {READY_TIMEOUT:.0f} s:\n{log.read_text()[-2000:]}")


@contextmanager
def serving(home: Path) -> Iterator[tuple[str, int]]:
    """``pixlens serve`` over ``home`` on a free loopback port: (its base URL, its process id)."""
    port = free_port()
    log = home / "serve.log"
    command = [str(PIXLENS), "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-watch"]
    with open(log, "wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, server, log)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGINT)  # as Ctrl-C: the workers finish their batch, the rest stays pending
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def analysed_so_far(base: str) -> int:
    """Images the server has analysed since it started (its Prometheus counter)."""
    text = get(base + "/metrics")[1].decode()
    found = re.search(r"^pixlens_images_analyzed_total (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


# -- uploads meanwhile ------------------------------------------------------------------------------------------
class Uploader(threading.Thread):
    """POSTs the sample JPEGs to /v1/images at a steady rate, each under a new key, until stopped."""

    def __init__(self, port: int, rate: float) -> None:
        super().__init__(name="uploads", daemon=True)
        self.port, self.rate = port, rate
        self.photos = [(path.name, path.read_bytes()) for path in sorted(SAMPLES.glob("*.jpg"))]
        self.stop = threading.Event()
        self.accepted = 0
        self.refused: list[str] = []

    def run(self) -> None:
        due = time.monotonic()
        while not self.stop.is_set():
            name, data = self.photos[(self.accepted + len(self.refused)) % len(self.photos)]
            self.post(f"bench/{self.accepted + len(self.refused):05d}-{name}", data)
            # steady: one every 1/rate s; a slow answer delays the next, it does not cause a burst after it
            due = max(due + 1 / self.rate, time.monotonic())
            self.stop.wait(due - time.monotonic())

    def post(self, key: str, data: bytes) -> None:
        boundary = f"pixlens-bench-{os.urandom(8).hex()}"
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\n{key}\r\n'.encode(),
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{key.rsplit("/", 1)[-1]}"'
                "\r\nContent-Type: image/jpeg\r\n\r\n".encode(),
                data,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(
                "POST", "/v1/images", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
            answer = connection.getresponse()
            answer.read()
            if answer.status == 202:
                self.accepted += 1
            else:
                self.refused.append(f"{answer.status}")
        except OSError as error:
            self.refused.append(str(error))
        finally:
            connection.close()


# -- the load ---------------------------------------------------------------------------------------------------
def wrk_binary() -> str:
    """wrk, installed by the project's script when missing (as root)."""
    found = shutil.which("wrk")
    if found is None:
        if os.geteuid() != 0:
            raise RuntimeError(f"wrk is missing: run sudo sh {INSTALL}")
        subprocess.run(["sh", str(INSTALL)], check=True, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
    if found is None:
        raise RuntimeError(f"{INSTALL} did not install wrk")
    return found


def load(wrk: str, base: str, paths: Path, connections: int, seconds: float, pause_ms: int = 0) -> dict[str, Any]:
    """One wrk run: ``connections`` clients asking the paths in turn for ``seconds``, each pausing ``pause_ms``
    between an answer and its next request; wrk's figures."""
    threads = min(2, connections)  # wrk needs a connection per thread at least
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "60s"]
    # A long timeout: wrk leaves answers slower than its timeout out of the latencies; they must count.
    done = subprocess.run(
        [*command, "-s", str(LUA), base, "--", str(paths), str(pause_ms)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if figures["requests"] == 0:  # every answer took longer than the run: no latency to give, not a zero one
        figures.update(p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None)
    return figures


def warm_up(base: str, kinds: dict[str, list[str]]) -> None:
    """Every path once, so that the first run does not pay for loading postings and label lists."""
    for paths in kinds.values():
        for path in paths:
            status, body = get(base + path)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")


def slowest_first_none(figures: dict[str, Any]) -> float:
    """A run's p95 for sorting; a run without any answer counts as the slowest."""
    return math.inf if figures["p95_ms"] is None else float(figures["p95_ms"])


def drained(base: str) -> float:
    """Seconds until the server has finished the requests wrk left unanswered at its end (a /healthz waits behind
    them for a request thread): else they would slow down the next run."""
    started = time.perf_counter()
    get(base + "/healthz", timeout=DRAIN_TIMEOUT)
    return round(time.perf_counter() - started, 2)


def median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The median round by p95 (as search_latency), with the spread of p95 and requests/s over the rounds."""
    by_p95 = sorted(rounds, key=slowest_first_none)
    median = dict(by_p95[len(by_p95) // 2])
    median["p95_rounds"] = [figures["p95_ms"] for figures in rounds]
    median["requests_per_second_rounds"] = [figures["requests_per_second"] for figures in rounds]
    median["backlog_seconds_rounds"] = [figures["backlog_seconds"] for figures in rounds]
    median["errors"] = sum(sum(figures["errors"].values()) for figures in rounds)
    return median


def measure(wrk: str, base: str, kinds: dict[str, list[str]], folder: Path, seconds: float, rounds: int) -> Any:
    """Kind -> clients -> the median round's figures; the rounds interleaved (every kind, every client count)."""
    files = {}
    for kind, paths in kinds.items():
        files[kind] = folder / f"{kind.replace(' ', '-').replace(',', '')}.paths"
        files[kind].write_text("\n".join(paths) + "\n")
    found: dict[str, dict[int, list[dict[str, Any]]]] = {kind: {n: [] for n in CONNECTIONS} for kind in kinds}
    for _ in range(rounds):
        for connections in CONNECTIONS:
            for kind in kinds:
                figures = load(wrk, base, files[kind], connections, seconds, PAUSES_MS.get(kind, 0))
                figures["backlog_seconds"] = drained(base)
                found[kind][connections].append(figures)
    return {kind: {str(n): median_round(each) for n, each in by_n.items()} for kind, by_n in found.items()}


def run(records: int = RECORDS, seconds: float = 8.0, rounds: int = 2) -> dict[str, Any]:
    wrk = wrk_binary()
    taxonomy = Taxonomy.load()
    seeded = seeded_home(records, taxonomy)
    kinds = request_kinds(taxonomy, records, sample_keys(seeded))
    with tempfile.TemporaryDirectory(prefix="pixlens-api-load-") as temporary:
        home = Path(temporary) / "home"
        shutil.copytree(seeded, home)
        with serving(home) as (base, _):
            warm_up(base, kinds)
            uploads = Uploader(int(base.rsplit(":", 1)[1]), UPLOADS_PER_SECOND)
            analysed_before, started = analysed_so_far(base), time.perf_counter()
            uploads.start()
            figures = measure(wrk, base, kinds, Path(temporary), seconds, rounds)
            uploads.stop.set()
            uploads.join()
            elapsed = time.perf_counter() - started
            analysed = analysed_so_far(base) - analysed_before
            queue = json.loads(get(base + "/v1/stats")[1])["QueueDepth"]
    return {
        "records": records,
        "samples": len(sample_keys(seeded)),
        "seconds_per_run": seconds,
        "rounds": rounds,
        "connections": list(CONNECTIONS),
        "queries": {kind: [unquote_query(path) for path in paths] for kind, paths in kinds.items() if "search" in kind},
        "reads": len(kinds["record read"]),
        "uploads": {
            "per_second": UPLOADS_PER_SECOND,
            "accepted": uploads.accepted,
            "refused": len(uploads.refused),
            "analysed": analysed,
            "seconds": round(elapsed, 1),
            "queue_left": queue,
        },
        "kinds": figures,
        "target_ms": LABEL_P95_MS,
        "verdicts": {
            kind: "PASS" if slowest_first_none(figures[kind]["50"]) < LABEL_P95_MS else "MISS"
            for kind in ("label search", "label search, facets", PACED)
        },
    }


def unquote_query(path: str) -> str:
    return parse_qs(urlsplit(path).query)["q"][0]


def report(results: dict[str, Any]) -> None:
    up = results["uploads"]
    print(
        f"HTTP API under load: {results['records']:,} synthetic records + {results['samples']} sample photos,"
        f" pixlens serve on 127.0.0.1, wrk {results['seconds_per_run']:g} s per run, {results['rounds']} rounds;"
        f" meanwhile {up['accepted']} uploads ({up['per_second']:g}/s), {up['analysed']} analysed,"
        f" {up['queue_left']} left in the queue, {up['refused']} refused"
    )
    print(f"  {'requests':22s} {'clients':>7s} {'req/s':>8s} {'p50':>8s} {'p95':>8s} {'p95 rounds':>24s} {'p99':>8s}")
    for kind, by_clients in results["kinds"].items():
        for clients, f in by_clients.items():
            spread = " ".join(shown(value) for value in f["p95_rounds"])
            errors = f"  {f['errors']} errors" if f["errors"] else ""
            errors += f"  busy {max(f['backlog_seconds_rounds']):.1f} s after"
            print(
                f"  {kind:22s} {clients:>7s} {f['requests_per_second']:8.1f} {shown(f['p50_ms']):>8s}"
                f" {shown(f['p95_ms']):>8s} {spread:>24s} {shown(f['p99_ms']):>8s}{errors}"
            )
    print("  (-: no request answered within the run)")
    for kind, verdict in results["verdicts"].items():
        p95 = shown(results["kinds"][kind]["50"]["p95_ms"])
        print(f"  {kind}, 50 clients: p95 {p95} ms (target < {results['target_ms']:.0f} ms): {verdict}")


def shown(milliseconds: float | None) -> str:
    return "-" if milliseconds is None else f"{milliseconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=RECORDS)
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    results = run(args.records, args.seconds, args.rounds)
    print(json.dumps(results, indent=1)) if args.json else report(results)


if __name__ == "__main__":
    main()
