"""Readers never wait on writers: a search from another process answers while a write transaction is open."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import make_lens

PIXLENS = Path(sys.executable).with_name("pixlens")


def test_a_search_answers_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    lens = make_lens(home, analyzers=["labels"])
    lens.ingest([Path(__file__).resolve().parent.parent / "samples" / "chelsea.png"])
    lens.close()
    writer = sqlite3.connect(home / "catalog.db", isolation_level=None, timeout=1)
    writer.execute("BEGIN IMMEDIATE")  # as an ingest does while it writes a batch
    writer.execute("UPDATE images SET updated_at = updated_at")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    try:
        done = subprocess.run(
            [str(PIXLENS), "--home", str(home), "search", "cat", "--json"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=25,  # SQLite's busy timeout is 30 s: a reader that waited for the writer would not finish
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()

    assert done.returncode == 0, done.stderr
    assert '"ImageName": "chelsea.png"' in done.stdout, done.stdout
