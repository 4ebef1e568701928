"""Shared fixtures: real sample photos, real models, real SQLite."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from awsserver import AwsServer, start_aws_server
from pixlens.config import load_settings
from pixlens.service import Pixlens
from s3server import S3Server, aws_environment, start_s3_server

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


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS on 127.0.0.1), started once per session, stopped at its end."""
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A new, empty bucket of the test server; the credentials chain set to its test identity (and nothing of
    the developer's own AWS set-up: no profile, no config files)."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in aws_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role probe on a machine without one
    return s3_server.new_bucket()


@pytest.fixture(scope="session")
def aws_server() -> Iterator[AwsServer]:
    """A local AWS endpoint (moto's server mode on 127.0.0.1), started once per session."""
    server = start_aws_server()
    yield server
    server.stop()


@pytest.fixture
def aws(aws_server: AwsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsServer:
    """The local AWS endpoint, emptied, with the credentials chain and AWS_ENDPOINT_URL pointing at it (and nothing
    of the developer's own AWS set-up)."""
    aws_server.reset()
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in aws_server.environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return aws_server
