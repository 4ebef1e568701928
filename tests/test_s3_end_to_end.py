"""pixlens on a bucket of a real S3 server (SeaweedFS), chosen by settings alone: ingest copies into the bucket and
analyses from it, search and show answer, reconcile follows objects put or deleted behind its back, the HTTP API
streams originals and thumbnails from the bucket and deletes from it. Thumbnails are kept in the bucket, under the
hidden prefix .pixlens-thumbnails/ that listings leave out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, make_lens
from s3server import S3Server
from serving import serve

PIXLENS = Path(sys.executable).with_name("pixlens")
PHOTOS = ("chelsea.png", "rocket.jpg", "coffee.png")
FEATURES = "labels,thumbnail"

pytestmark = pytest.mark.slow


def cli(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", **env)
    return subprocess.run([str(PIXLENS), *map(str, args)], env=environment, capture_output=True, text=True, timeout=300)


def thumbnails(bucket: Any, name: str) -> list[str]:
    listed = bucket.list_objects_v2(Bucket=name, Prefix="photos/.pixlens-thumbnails/").get("Contents", [])
    return sorted(item["Key"] for item in listed)


def test_a_bucket_store_from_ingest_to_reconcile_and_the_api(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trip = tmp_path / "trip"
    trip.mkdir()
    for name in PHOTOS:
        shutil.copy(SAMPLES / name, trip / name)
    home = tmp_path / "H"
    settings = {"PIXLENS_STORE": f"s3://{s3_bucket}/photos", "PIXLENS_S3__ENDPOINT_URL": s3_server.endpoint}
    env = {**settings, **{key: value for key, value in os.environ.items() if key.startswith("AWS_")}}
    bucket = s3_server.client()

    ingested = cli("--home", home, "--features", FEATURES, "ingest", trip, "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    in_bucket = sorted(item["Key"] for item in bucket.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert [key for key in in_bucket if "/.pixlens-" not in key] == [f"photos/trip/{name}" for name in sorted(PHOTOS)]
    assert len(thumbnails(bucket, s3_bucket)) == len(PHOTOS)
    assert not (home / "thumbnails").exists()
    assert json.loads((home / "home.json").read_text())["store"] == f"s3://{s3_bucket}/photos"

    found = cli("--home", home, "search", "cat", "--json", env=env)
    assert found.returncode == 0, found.stderr
    assert next(json.loads(line)["ImageName"] for line in found.stdout.splitlines()) == "trip/chelsea.png"
    shown = cli("--home", home, "show", "trip/chelsea.png", env=env)
    record = json.loads(shown.stdout)
    assert record["Status"] == "analyzed" and record["Size"] == (SAMPLES / "chelsea.png").stat().st_size
    assert f"photos/.pixlens-{record['Thumbnail']}" in thumbnails(bucket, s3_bucket)

    # Behind pixlens's back: one object deleted, one put.
    bucket.delete_object(Bucket=s3_bucket, Key="photos/trip/rocket.jpg")
    bucket.upload_file(str(SAMPLES / "rocket.jpg"), s3_bucket, "photos/new/rocket again.jpg")
    reconciled = cli("--home", home, "--features", FEATURES, "reconcile", "--json", env=env)
    assert reconciled.returncode == 0, reconciled.stderr
    summary = json.loads(reconciled.stdout)
    assert (summary["Deleted"], summary["New"]) == (1, 1), summary
    assert cli("--home", home, "show", "trip/rocket.jpg", env=env).returncode != 0
    assert json.loads(cli("--home", home, "show", "new/rocket again.jpg", env=env).stdout)["Status"] == "analyzed"

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    lens = make_lens(home, analyzers=FEATURES.split(","))
    with serve(lens) as served:
        original = served.client.get("/v1/images/trip/chelsea.png/original")
        assert original.status_code == 200
        assert original.content == (SAMPLES / "chelsea.png").read_bytes()
        assert original.headers["content-type"] == "image/png"
        assert (
            served.client.get("/v1/images/new/rocket again.jpg/original").content
            == (SAMPLES / "rocket.jpg").read_bytes()
        )
        small = served.client.get("/v1/images/trip/chelsea.png/thumbnail")
        assert small.status_code == 200 and small.headers["content-type"] == "image/webp"
        assert small.content.startswith(b"RIFF") and b"WEBP" in small.content[:16]
        assert served.client.delete("/v1/images/trip/coffee.png").status_code == 204
        left = sorted(item["Key"] for item in bucket.list_objects_v2(Bucket=s3_bucket)["Contents"])
        assert [key for key in left if "/.pixlens-" not in key] == [
            "photos/new/rocket again.jpg",
            "photos/trip/chelsea.png",
        ]
        assert len(thumbnails(bucket, s3_bucket)) == 2  # coffee's went with it
        assert served.client.get("/v1/images/trip/coffee.png").status_code == 404
