"""`pixlens failures` lists failed images with their reasons; `pixlens retry` analyses them again."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import SAMPLES

PIXLENS = Path(sys.executable).with_name("pixlens")


def _pixlens(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(PIXLENS), "--home", str(home), "--features", "properties,thumbnail", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_failures_then_retry_after_the_file_is_fixed(tmp_path: Path) -> None:
    store = tmp_path / "home" / "images"
    store.mkdir(parents=True)
    shutil.copy(SAMPLES / "chelsea.png", store / "good.png")
    (store / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    first = _pixlens(tmp_path / "home", "ingest", str(store))
    assert first.returncode == 1

    listed = _pixlens(tmp_path / "home", "failures", "--json")
    assert listed.returncode == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["ImageName"] for row in rows] == ["bad.jpg"]
    assert rows[0]["Error"] and rows[0]["At"]
    assert "bad.jpg" in _pixlens(tmp_path / "home", "failures").stdout

    again = _pixlens(tmp_path / "home", "retry", "--json")  # still broken: fails again, says so
    assert again.returncode == 1
    assert json.loads(again.stdout) == {"Retried": 1, "Analyzed": 0, "Unchanged": 0, "Failed": 1, "Vanished": 0}

    shutil.copy(SAMPLES / "coffee.png", store / "bad.jpg")  # fixed (a PNG under a .jpg name: the content decides)
    fixed = _pixlens(tmp_path / "home", "retry", "bad.jpg", "good.png", "--json")
    assert fixed.returncode == 0, fixed.stderr
    assert json.loads(fixed.stdout)["Analyzed"] == 1  # good.png had not failed: not retried
    assert _pixlens(tmp_path / "home", "failures").stderr.strip() == "no failed images"


def test_no_wait_needs_a_shared_queue(tmp_path: Path) -> None:
    done = _pixlens(tmp_path / "home", "ingest", "--no-wait", str(SAMPLES / "chelsea.png"))
    assert done.returncode == 2
    assert "--no-wait needs PIXLENS_QUEUE=redis://" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "home" / "images").exists() or not any((tmp_path / "home" / "images").iterdir())
