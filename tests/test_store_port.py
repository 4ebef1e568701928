"""The ObjectStore port's conformance suite: the same tests on every adapter (a local folder, an S3 bucket on a
real SeaweedFS server), so that the pipeline, ingest and reconcile may rely on one behaviour."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES
from pixlens.config import S3Settings
from pixlens.errors import DecodeError, ObjectExistsError, StoreError
from pixlens.store.base import ObjectStore
from pixlens.store.local import LocalStore

MIB = 1024 * 1024
PAGE = 4  # keys per ListObjectsV2 page on S3: the listings below span several pages


def _local(tmp_path: Path, request: pytest.FixtureRequest) -> ObjectStore:
    store = LocalStore(tmp_path / "store")
    store.ensure()
    return store


def _s3(tmp_path: Path, request: pytest.FixtureRequest) -> ObjectStore:
    from pixlens.store.s3 import S3Store

    bucket = request.getfixturevalue("s3_bucket")
    server = request.getfixturevalue("s3_server")
    options = S3Settings(
        endpoint_url=server.endpoint, list_page_size=PAGE, multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB
    )
    return S3Store(bucket, "photos", options)


@pytest.fixture(params=[_local, _s3], ids=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    yield request.param(tmp_path, request)


def put(store: ObjectStore, key: str, data: bytes, overwrite: bool = True) -> Any:
    return store.put_stream(key, io.BytesIO(data), overwrite=overwrite)


def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key for info in store.list(prefix)]


def test_put_then_stat_read_and_stream_give_the_bytes(store: ObjectStore) -> None:
    data = (SAMPLES / "rocket.jpg").read_bytes()
    info = store.put_file("trips/rocket.jpg", SAMPLES / "rocket.jpg")
    assert (info.key, info.size) == ("trips/rocket.jpg", len(data)) and info.etag
    assert store.stat("trips/rocket.jpg") == info
    assert store.read("trips/rocket.jpg", len(data)) == data
    stream = store.stream("trips/rocket.jpg")
    assert stream is not None
    with stream:
        assert stream.read() == data


def test_list_gives_images_sorted_by_key_relative_to_the_store(store: ObjectStore) -> None:
    names = ["b.jpg", "a/x.jpg", "a.jpg", "a b.jpg", "A.png", "a+b.jpg", "z/y/w.webp", "é.jpg", "a-c.gif"]
    for name in names:
        put(store, name, b"not really an image")
    put(store, "notes.txt", b"just text")  # neither named nor made like an image
    put(store, ".hidden.jpg", b"x")
    put(store, "a/.hidden/in.jpg", b"x")

    listed = list(store.list())
    assert [info.key for info in listed] == sorted(names)
    assert all(info.size == len(b"not really an image") and info.etag for info in listed)


def test_list_under_a_prefix_is_that_folder_or_that_key_only(store: ObjectStore) -> None:
    for name in ["holiday/1.jpg", "holiday/deep/2.jpg", "holiday2/3.jpg", "holiday.jpg", "other/4.jpg"]:
        put(store, name, b"x")
    assert keys(store, "holiday") == ["holiday/1.jpg", "holiday/deep/2.jpg"]
    assert keys(store, "holiday/deep") == ["holiday/deep/2.jpg"]
    assert keys(store, "holiday.jpg") == ["holiday.jpg"]
    assert keys(store, "nothing") == []


def test_listing_more_keys_than_a_page_gives_each_once_in_order(store: ObjectStore) -> None:
    names = [f"many/{number:03d}.jpg" for number in range(6 * PAGE + 1)]
    for name in reversed(names):
        put(store, name, name.encode())
    assert keys(store) == names


def test_a_write_that_must_not_replace_finds_the_key_taken(store: ObjectStore) -> None:
    first = put(store, "k.jpg", b"first", overwrite=False)
    with pytest.raises(ObjectExistsError):
        put(store, "k.jpg", b"second", overwrite=False)
    assert store.read("k.jpg", 100) == b"first"
    assert store.stat("k.jpg") == first

    replaced = put(store, "k.jpg", b"second, longer", overwrite=True)
    assert store.read("k.jpg", 100) == b"second, longer"
    assert replaced.etag != first.etag and replaced.size == len(b"second, longer")


def test_two_writers_of_one_new_key_one_wins_and_the_other_is_told(store: ObjectStore) -> None:
    start = threading.Barrier(2)
    outcomes: dict[bytes, str] = {}

    def write(data: bytes) -> None:
        start.wait()
        try:
            put(store, "race.jpg", data, overwrite=False)
            outcomes[data] = "written"
        except ObjectExistsError:
            outcomes[data] = "exists"

    threads = [threading.Thread(target=write, args=(data,)) for data in (b"one" * 1000, b"two" * 1000)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes.values()) == ["exists", "written"]
    winner = next(data for data, outcome in outcomes.items() if outcome == "written")
    assert store.read("race.jpg", 10_000) == winner


def test_a_large_file_goes_in_whole_and_is_not_replaced_either(store: ObjectStore, tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    big.write_bytes(bytes(range(256)) * (6 * MIB // 256 + 7))  # past the 5 MiB multipart threshold
    info = store.put_file("big.jpg", big, overwrite=False)
    assert info.size == big.stat().st_size
    assert store.read("big.jpg", info.size) == big.read_bytes()
    with pytest.raises(ObjectExistsError):
        store.put_file("big.jpg", big, overwrite=False)


def test_delete_is_idempotent(store: ObjectStore) -> None:
    put(store, "gone.jpg", b"x")
    store.delete("gone.jpg")
    assert store.stat("gone.jpg") is None
    store.delete("gone.jpg")
    store.delete("never/was.jpg")
    assert keys(store) == []


def test_read_refuses_an_object_larger_than_max_bytes(store: ObjectStore) -> None:
    put(store, "huge.jpg", b"\xff" * (3 * MIB))
    with pytest.raises(DecodeError, match="too large"):
        store.read("huge.jpg", MIB)
    assert len(store.read("huge.jpg", 3 * MIB)) == 3 * MIB


ODD_KEYS = ["a b/c d.jpg", "plus+sign.jpg", "été/日本 写真.png", "100% & more #1.jpg", "x=y;z.jpg"]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_go_round_trip(store: ObjectStore, key: str) -> None:
    put(store, key, key.encode())
    assert keys(store) == [key]
    assert store.stat(key) is not None
    assert store.read(key, 1000) == key.encode()
    store.delete(key)
    assert store.stat(key) is None


def test_a_missing_key_is_none_or_a_store_error(store: ObjectStore) -> None:
    assert store.stat("missing.jpg") is None
    assert store.stream("missing.jpg") is None
    with pytest.raises(StoreError):
        store.read("missing.jpg", 100)


@pytest.mark.parametrize("key", ["../up.jpg", "a/../b.jpg", "a//b.jpg", "./a.jpg", ""])
def test_a_key_that_is_not_a_relative_path_is_refused(store: ObjectStore, key: str) -> None:
    with pytest.raises(StoreError, match="invalid key"):
        store.stat(key)
    with pytest.raises(StoreError, match="invalid key"):
        put(store, key, b"x")


def test_only_a_regular_file_is_copied_in(store: ObjectStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        store.put_file("folder.jpg", tmp_path)
    with pytest.raises(StoreError):
        store.put_file("nothing.jpg", tmp_path / "no-such-file.jpg")
    assert store.stat("folder.jpg") is None


def test_describe_says_where(store: ObjectStore) -> None:
    described = store.describe()
    assert "photos" in described or "store" in described
