"""dynalite (a DynamoDB-protocol server on LevelDB, from npm) for the DynamoDB benchmark: installed from the project's
own ``benchmarks/dynalite/package.json`` and ``package-lock.json`` (exact versions) with ``npm ci`` into
``benchmarks/dynalite/node_modules`` (git-ignored) when it is missing, started on 127.0.0.1 on a free port over a
data folder, stopped at the end.

dynalite does what the catalog's reads need (global secondary indexes, Query on them with key conditions,
pagination, BatchGetItem, GetItem, ``ReturnConsumedCapacity`` computed from item sizes as DynamoDB counts them) and
BatchWriteItem and UpdateItem; it has no TransactWriteItems, so the catalog's own ``put`` cannot run on it: the
benchmark writes the catalog's items with BatchWriteItem.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "dynalite"
CLI = FOLDER / "node_modules" / "dynalite" / "cli.js"
START_TIMEOUT = 30.0  # seconds for the server to answer
STOP_TIMEOUT = 10.0


def version() -> str:
    """The dynalite version the lock file pins."""
    lock = json.loads((FOLDER / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/dynalite"]["version"])


def install() -> Path:
    """dynalite's command, installed from the lock file first when it is missing (or another version)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise RuntimeError("the DynamoDB benchmark needs Node.js and npm on the PATH (for dynalite)")
    installed = FOLDER / "node_modules" / "dynalite" / "package.json"
    if not installed.is_file() or json.loads(installed.read_text(encoding="utf-8"))["version"] != version():
        # --ignore-scripts: LevelDB's binding ships prebuilt for the common platforms; nothing is compiled
        command = [npm, "ci", "--prefix", str(FOLDER), "--ignore-scripts", "--no-audit", "--no-fund"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"npm ci for dynalite failed: {done.stderr[-2000:]}")
    return CLI


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Dynalite:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)

    def __enter__(self) -> Dynalite:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def start(data: Path, log: Path | None = None) -> Dynalite:
    """dynalite on 127.0.0.1 over the LevelDB folder ``data`` (made when missing), answering; its output in ``log``
    (default: beside the folder)."""
    cli = install()
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = log or data.with_name(data.name + ".log")
    node = shutil.which("node") or "node"
    command = [node, str(cli), "--host", "127.0.0.1", "--port", str(port), "--path", str(data)]
    command += ["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    server = Dynalite(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dynalite stopped at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(server.endpoint, timeout=2).close()
            return server
        except urllib.error.HTTPError:  # it answers (a request without a target is refused)
            return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"dynalite did not answer on {server.endpoint} within {START_TIMEOUT:.0f} s")
