"""What only the S3 store does: its URL, the home's record of it, multipart uploads, where objects go in the bucket,
and clear errors (no bucket, wrong keys, no server, no credentials) instead of botocore tracebacks."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from pixlens.config import S3Settings, Settings
from pixlens.errors import ConfigError, StoreError, StoreMissingError
from pixlens.home import bind
from pixlens.store import is_folder, open_store
from pixlens.store.s3 import S3Store
from pixlens.store.urls import canonical_store_url, parse_bucket_url
from s3server import S3Server, free_port

MIB = 1024 * 1024


def s3_store(server: S3Server, bucket: str, prefix: str = "photos", **options: object) -> S3Store:
    return S3Store(bucket, prefix, S3Settings(endpoint_url=server.endpoint, **options))  # type: ignore[arg-type]


# -- URLs and homes (no server needed) ----
def test_urls_have_one_spelling() -> None:
    assert canonical_store_url("S3://bucket//photos/2024/") == "s3://bucket/photos/2024"
    assert canonical_store_url("s3://bucket/") == "s3://bucket"
    assert parse_bucket_url("s3://b/a/b").prefix == "a/b"
    for bad in ("s3://", "s3:///prefix", "s3://b/../x", "s3://b/p?region=x"):
        with pytest.raises(ConfigError):
            parse_bucket_url(bad)


def test_a_home_records_its_bucket_and_refuses_another(tmp_path: Path) -> None:
    first = bind(Settings(home=tmp_path / "H", store="s3://bucket/photos/"))
    assert first.store == "s3://bucket/photos"
    assert '"store": "s3://bucket/photos"' in (tmp_path / "H" / "home.json").read_text()
    assert bind(Settings(home=tmp_path / "H")).store == "s3://bucket/photos"  # remembered
    assert bind(Settings(home=tmp_path / "H", store="S3://bucket//photos")).store == "s3://bucket/photos"
    with pytest.raises(ConfigError, match="belongs to the store s3://bucket/photos"):
        bind(Settings(home=tmp_path / "H", store="s3://bucket/other"))
    moved = bind(Settings(home=tmp_path / "H", store="s3://other"), move_store=True)
    assert moved.store == "s3://other"


def test_the_registry_opens_a_bucket_by_url_without_asking_the_server(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, store="s3://bucket/p", s3=S3Settings(endpoint_url="http://127.0.0.1:9"))
    store = open_store(settings)
    assert isinstance(store, S3Store) and not is_folder(store)
    assert store.describe() == "s3://bucket/p (http://127.0.0.1:9)"
    assert store.key_for(tmp_path / "a.jpg") is None


# -- against the server ----
def test_objects_live_under_the_prefix_and_others_are_not_listed(s3_server: S3Server, s3_bucket: str) -> None:
    store = s3_store(s3_server, s3_bucket)
    store.put_stream("trip/a.jpg", io.BytesIO(b"a"))
    client = s3_server.client()
    client.put_object(Bucket=s3_bucket, Key="elsewhere/b.jpg", Body=b"b")
    client.put_object(Bucket=s3_bucket, Key="photos/folder/", Body=b"")  # a folder marker some tools make
    listed = client.list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert {item["Key"] for item in listed} == {"photos/trip/a.jpg", "elsewhere/b.jpg", "photos/folder/"}
    assert [info.key for info in store.list()] == ["trip/a.jpg"]
    assert client.head_object(Bucket=s3_bucket, Key="photos/trip/a.jpg")["ContentType"] == "image/jpeg"
    whole = s3_store(s3_server, s3_bucket, prefix="")
    assert [info.key for info in whole.list()] == ["elsewhere/b.jpg", "photos/trip/a.jpg"]


def test_a_large_file_is_uploaded_in_parts(s3_server: S3Server, s3_bucket: str, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(os.urandom(11 * MIB))
    store = s3_store(s3_server, s3_bucket, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
    info = store.put_file("big.jpg", big, overwrite=False)
    assert info.etag.endswith("-3")  # a multipart ETag: three parts of 5, 5 and 1 MiB
    assert store.read("big.jpg", 11 * MIB) == big.read_bytes()


def test_a_missing_bucket_is_a_missing_store(s3_server: S3Server, s3_bucket: str) -> None:
    store = s3_store(s3_server, "no-such-bucket-here")
    with pytest.raises(StoreMissingError, match="bucket 'no-such-bucket-here' does not exist"):
        list(store.list())
    with pytest.raises(StoreMissingError, match=r"does not exist"):
        store.stat("a.jpg")  # a HEAD's bare 404 is not taken for a missing image
    with pytest.raises(StoreMissingError, match=r"does not exist"):
        store.read("a.jpg", 100)


def test_wrong_credentials_are_access_denied(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = s3_store(s3_server, s3_bucket)
    for attempt in (lambda: list(store.list()), lambda: store.stat("a.jpg"), lambda: store.read("a.jpg", 9)):
        with pytest.raises(StoreError, match=r"access denied \(\w+\) to s3://.*AWS_ACCESS_KEY_ID"):
            attempt()


def test_no_credentials_says_where_they_come_from(
    s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StoreError, match=r"no S3 credentials.*AWS_PROFILE"):
        s3_store(s3_server, s3_bucket).stat("a.jpg")


def test_an_unreachable_server_is_a_missing_store(s3_bucket: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    store = S3Store(s3_bucket, "", S3Settings(endpoint_url=closed, max_attempts=2))
    with pytest.raises(StoreMissingError, match=f"cannot reach the S3 endpoint {closed}"):
        store.stat("a.jpg")
    with pytest.raises(StoreMissingError, match="cannot reach"):
        store.put_stream("a.jpg", io.BytesIO(b"x"))


def test_without_boto3_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an environment without the s3 extra has
    monkeypatch.delitem(sys.modules, "pixlens.store.s3")
    with pytest.raises(ConfigError, match=r"needs the boto3 package: pip install 'pixlens\[s3\]'"):
        open_store(Settings(home=tmp_path, store="s3://bucket"))
