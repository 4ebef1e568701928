"""Shared fixtures: real sample photos, real models, real SQLite."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixlens.config import load_settings
from pixlens.service import Pixlens

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

# The user's data folder is where a home is looked for last: the tests (and the commands they start) never use
# the real one.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="pixlens-tests-data-")


def sample_files() -> list[str]:
    with (SAMPLES / "labels.csv").open(newline="") as handle:
        return [row["file"] for row in csv.DictReader(handle)]


def make_lens(home: Path, **overrides: object) -> Pixlens:
    return Pixlens(load_settings(home, **overrides))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    """A home whose store holds the 30 sample photos, all analysed (done once per test session; read-only)."""
    home = tmp_path_factory.mktemp("analysed")
    store = home / "images"
    store.mkdir()
    for name in sample_files():
        shutil.copy(SAMPLES / name, store / name)
    lens = make_lens(home)
    report = lens.ingest([store])
    assert len(report.results) == len(sample_files())
    yield lens
    lens.close()


@pytest.fixture
def lens(tmp_path: Path) -> Iterator[Pixlens]:
    """A fresh, empty home with the default settings."""
    instance = make_lens(tmp_path / "home")
    yield instance
    instance.close()
