"""Two ``pixlens ingest`` processes on one home at once give the catalog that one run after the other gives:
the same people (no two persons merged into one), the same label counts, the same answers to ``similar``."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from conftest import SAMPLES, sample_files

pytestmark = pytest.mark.slow

PIXLENS = Path(sys.executable).with_name("pixlens")


def start(home: Path, folder: Path) -> subprocess.Popen[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", PIXLENS_BATCH_SIZE="2")  # small batches: the two runs interleave
    command = [str(PIXLENS), "--home", str(home), "--store", str(home.parent / "store"), "ingest", str(folder)]
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> None:
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err


def two_halves(store: Path) -> tuple[Path, Path]:
    names = sample_files()
    halves = (store / "first", store / "second")
    for number, name in enumerate(names):
        folder = halves[number % 2]
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / name, folder / name)
    return halves


def catalog_facts(home: Path) -> dict[str, object]:
    with closing(sqlite3.connect(home / "catalog.db")) as conn:
        faces = conn.execute(
            "SELECT i.key, f.face_index, f.person_id FROM faces f JOIN images i ON i.id = f.image_id"
        ).fetchall()
        members: dict[int, set[tuple[str, int]]] = {}
        for key, face, person in faces:
            members.setdefault(person, set()).add((key, face))
        return {
            "people": sorted(sorted(group) for group in members.values()),  # who is with whom, whatever the numbers
            "people_rows": conn.execute("SELECT count(*) FROM people").fetchone()[0],
            "label_counts": dict(conn.execute("SELECT label, images FROM label_counts").fetchall()),
            "embeddings": conn.execute("SELECT count(*) FROM embeddings").fetchone()[0],
        }


def similar_answers(home: Path, keys: list[str]) -> dict[str, list[str]]:
    answers = {}
    for key in keys:
        done = subprocess.run(
            [str(PIXLENS), "--home", str(home), "similar", key, "--json", "--limit", "3"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        answers[key] = [json.loads(line)["ImageName"] for line in done.stdout.splitlines()]
    return answers


def test_two_ingests_at_once_equal_one_after_the_other(tmp_path: Path) -> None:
    together, apart = tmp_path / "together" / "home", tmp_path / "apart" / "home"
    for home in (together, apart):
        home.parent.mkdir()
    first, second = two_halves(together.parent / "store")
    two_halves(apart.parent / "store")

    both = [start(together, first), start(together, second)]
    for process in both:
        finish(process)
    for half in ("first", "second"):
        finish(start(apart, apart.parent / "store" / half))

    facts, expected = catalog_facts(together), catalog_facts(apart)
    assert expected["people_rows"] == len(expected["people"]) >= 5  # the samples' faces are of different people
    assert facts == expected
    keys = [f"first/{sample_files()[0]}", f"second/{sample_files()[1]}", "first/chelsea.png"]
    keys = [key for key in keys if (together.parent / "store" / key).exists()]
    assert similar_answers(together, keys) == similar_answers(apart, keys)
