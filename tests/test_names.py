"""Odd file names and copy-ins: nothing overwritten, nothing dropped, keys lossless, names shown escaped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from conftest import SAMPLES, make_lens
from pixlens.record import Status
from pixlens.service import Pixlens
from pixlens.store.local import LocalStore
from pixlens.store.names import key_from_name, name_from_key, printable

PIXLENS = Path(sys.executable).with_name("pixlens")
BAD_UTF8 = b"caf\xe9 \xff.png"  # Latin-1 bytes: not UTF-8
ESCAPES = b"esc\x1b[31mred\x1b]0;title\x07[bold]x.png"  # colour, window title and Rich markup
LONG = b"L" * 246 + b".png"  # 250 bytes: a name that leaves no room for a longer temporary name


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment["COLUMNS"] = "500"
    return subprocess.run(
        [str(PIXLENS), *map(str, args)], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def put(folder: Path, name: bytes, sample: str = "chelsea.png") -> bytes:
    os.makedirs(os.fsencode(folder), exist_ok=True)
    path = os.path.join(os.fsencode(folder), name)
    shutil.copyfile(os.fsencode(SAMPLES / sample), path)
    return path


# -- keys ----
@given(st.lists(st.binary(min_size=1, max_size=40).filter(lambda b: b"/" not in b and b"\0" not in b), min_size=1))
def test_every_file_name_maps_to_a_text_key_and_back(parts: list[bytes]) -> None:
    name = os.fsdecode(b"/".join(parts))

    key = key_from_name(name)

    key.encode("utf-8")  # valid text for the catalog, JSON and HTTP
    assert os.fsencode(name_from_key(key)) == b"/".join(parts)


def test_a_printable_key_has_no_control_characters() -> None:
    shown = printable(key_from_name(os.fsdecode(ESCAPES + b"\n" + BAD_UTF8)))

    assert shown.isprintable()
    assert "\\x1b[31m" in shown and "\\xe9" in shown and "\\x0a" in shown


# -- odd files in one run ----
def test_odd_names_and_odd_files_each_end_as_a_record_or_a_named_failure(tmp_path: Path) -> None:
    source = tmp_path / "odd"
    for name in (BAD_UTF8, ESCAPES, LONG, b"plain.png"):
        put(source, name)
    os.mkfifo(source / "pipe.png")
    os.symlink(tmp_path / "nowhere.jpg", source / "vanished")
    (source / "a text file").write_bytes(b"x")
    home = tmp_path / "home"

    done = cli("--features", "properties", "--home", home, "ingest", source, "--json", cwd=tmp_path)

    assert done.returncode == 1, done.stderr  # two files could not be read
    assert "Traceback" not in done.stderr and "\x1b" not in done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    analysed = {line["ImageName"] for line in lines if line.get("Outcome") == "analyzed"}
    assert analysed == {f"odd/{key_from_name(os.fsdecode(name))}" for name in (BAD_UTF8, ESCAPES, LONG, b"plain.png")}
    failed = {Path(line["Path"]).name: line["Error"] for line in lines if "Path" in line}
    assert "not a regular file (a named pipe)" in failed["pipe.png"]
    assert "broken symbolic link (its target" in failed["vanished"]
    summary = lines[-1]
    assert summary["Copied"] == 4 and summary["NotBroughtIn"] == 2 and summary["Skipped"] == 1

    lens = make_lens(home, analyzers=["properties"])
    for key in analysed:
        record = lens.show(key)
        assert record is not None and record.Status is Status.ANALYZED
        assert lens.store.stat(key) is not None  # the key leads back to the very file
    assert lens.plan_reconcile().summary() == dict.fromkeys(
        ("new", "changed", "pending", "outdated", "retried", "deleted"), 0
    )
    lens.close()

    shown = cli("--home", home, "search", "color:gray OR NOT color:gray", cwd=tmp_path)
    assert "\x1b" not in shown.stdout + shown.stderr
    assert "esc\\x1b[31mred" in shown.stdout and "caf\\xe9 \\xff.png" in shown.stdout


def test_reconcile_analyses_a_store_with_odd_names(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["properties"])
    store = lens.settings.store_path
    for name in (BAD_UTF8, ESCAPES, LONG):
        put(store, name)

    plan = lens.reconcile()

    assert {result.outcome.value for result in plan.results} == {"analyzed"}
    assert len(plan.results) == 3
    assert lens.plan_reconcile().summary()["new"] == 0
    lens.close()


def test_watch_analyses_a_file_whose_name_is_not_utf8(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["properties"], watch_settle_seconds=0.2, reconcile_interval=0)
    store = lens.settings.store_path
    stop, errors = threading.Event(), []

    def watch() -> None:
        try:
            lens.watch(stop)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        time.sleep(1.0)
        put(store, BAD_UTF8)
        key = key_from_name(os.fsdecode(BAD_UTF8))
        deadline = time.monotonic() + 60
        while (record := lens.show(key)) is None or record.Status is not Status.ANALYZED:
            assert time.monotonic() < deadline, "the watcher did not analyse the file"
            assert not errors, errors
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    lens.close()


# -- copy-in ----
def test_the_same_name_from_two_folders_keeps_both_photos(tmp_path: Path) -> None:
    put(tmp_path / "a" / "holiday", b"photo.png", "chelsea.png")
    put(tmp_path / "b" / "holiday", b"photo.png", "coffee.png")
    lens = make_lens(tmp_path / "home", analyzers=["properties"])

    first = lens.ingest([tmp_path / "a" / "holiday"])
    second = lens.ingest([tmp_path / "b" / "holiday"])

    assert [info.key for info in first.collected.objects] == ["holiday/photo.png"]
    assert [info.key for info in second.collected.objects] == ["holiday/photo (2).png"]
    assert second.collected.renamed == [(str(tmp_path / "b" / "holiday" / "photo.png"), "holiday/photo (2).png")]
    store = lens.settings.store_path
    assert (store / "holiday" / "photo.png").read_bytes() == (SAMPLES / "chelsea.png").read_bytes()
    assert (store / "holiday" / "photo (2).png").read_bytes() == (SAMPLES / "coffee.png").read_bytes()
    assert lens.stats()["analyzed"] == 2

    again = lens.ingest([tmp_path / "a" / "holiday", tmp_path / "b" / "holiday"])

    assert again.collected.copied == 0 and again.collected.already_stored == 2
    assert again.skipped_unchanged == 2 and again.results == []
    lens.close()


def test_two_files_of_one_name_in_one_call_are_both_kept(tmp_path: Path) -> None:
    one = put(tmp_path / "a", b"photo.png", "chelsea.png")
    two = put(tmp_path / "b", b"photo.png", "coffee.png")
    lens = make_lens(tmp_path / "home", analyzers=["properties"])

    report = lens.ingest([Path(os.fsdecode(one)), Path(os.fsdecode(two))])

    assert sorted(info.key for info in report.collected.objects) == ["photo (2).png", "photo.png"]
    assert lens.stats()["analyzed"] == 2
    lens.close()


def test_a_renamed_copy_of_a_long_name_fits_the_file_system(tmp_path: Path) -> None:
    put(tmp_path / "a", LONG, "chelsea.png")
    put(tmp_path / "b", LONG, "coffee.png")
    lens = make_lens(tmp_path / "home", analyzers=["properties"])

    lens.ingest([tmp_path / "a" / os.fsdecode(LONG)])
    report = lens.ingest([tmp_path / "b" / os.fsdecode(LONG)])

    assert report.collected.failed == []
    (key,) = [info.key for info in report.collected.objects]
    assert key.endswith(" (2).png") and len(key.encode()) <= 255
    lens.close()


def test_a_copy_in_never_replaces_a_file_another_process_put_there_first(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.ensure()
    first = store.put_file("x.png", SAMPLES / "chelsea.png", overwrite=False)

    from pixlens.errors import ObjectExistsError

    with pytest.raises(ObjectExistsError):
        store.put_file("x.png", SAMPLES / "coffee.png", overwrite=False)
    assert (tmp_path / "store" / "x.png").read_bytes() == (SAMPLES / "chelsea.png").read_bytes()
    assert store.stat("x.png") == first
    assert [p.name for p in (tmp_path / "store").iterdir()] == ["x.png"]  # no temporary file left


def test_a_partial_copy_left_by_a_killed_ingest_is_swept_by_reconcile(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "home", analyzers=["properties"])
    store = lens.settings.store_path
    (store / "trip").mkdir(parents=True)
    stale = store / "trip" / f".pixlens-{2**22 + 12345}-abc.part"  # above Linux's largest process id
    live = store / "trip" / f".pixlens-{os.getpid()}-def.part"
    for partial in (stale, live):
        partial.write_bytes(b"half a photo")

    lens.reconcile()

    assert not stale.exists()
    assert live.exists()  # its copy may still be under way
    lens.close()


def test_a_file_replaced_with_the_same_size_and_time_is_analysed_again(lens: Pixlens) -> None:
    store = lens.settings.store_path
    store.mkdir(parents=True, exist_ok=True)
    path = store / "swatch.bmp"
    Image.new("RGB", (64, 64), (200, 20, 20)).save(path)
    lens.ingest([path])
    before = lens.show("swatch.bmp")
    assert before is not None and before.ContentSha256
    times = os.stat(path)
    replacement = store.parent / "other.bmp"
    Image.new("RGB", (64, 64), (20, 20, 200)).save(replacement)
    os.replace(replacement, path)
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert os.stat(path).st_size == times.st_size

    report = lens.ingest([path])

    after = lens.show("swatch.bmp")
    assert after is not None and after.ContentSha256 != before.ContentSha256
    assert [result.outcome.value for result in report.results] == ["analyzed"]


def test_a_named_non_image_stays_a_failed_record_through_reconcile(lens: Pixlens, tmp_path: Path) -> None:
    text = tmp_path / "a text file"
    text.write_bytes(b"x")

    (result,) = lens.ingest([text]).results

    assert result.outcome.value == "failed" and "not an image" in (result.error or "")
    assert lens.reconcile().summary()["deleted"] == 0
    record = lens.show("a text file")
    assert record is not None and record.Status is Status.FAILED


def test_new_bytes_at_a_source_path_already_copied_in_never_replace_the_stored_copy(tmp_path: Path) -> None:
    card = tmp_path / "card"
    put(card, b"IMG_0001.png", "chelsea.png")
    lens = make_lens(tmp_path / "home", analyzers=["properties"])
    lens.ingest([card])
    put(card, b"IMG_0001.png", "coffee.png")  # the card reformatted: the same name, another photo

    report = lens.ingest([card])

    store = lens.settings.store_path
    assert (store / "card" / "IMG_0001.png").read_bytes() == (SAMPLES / "chelsea.png").read_bytes()
    assert (store / "card" / "IMG_0001 (2).png").read_bytes() == (SAMPLES / "coffee.png").read_bytes()
    assert report.collected.renamed == [(str(card / "IMG_0001.png"), "card/IMG_0001 (2).png")]
    lens.close()


def test_hidden_files_and_linked_folders_are_named_as_skipped(tmp_path: Path) -> None:
    source = tmp_path / "src"
    put(source, b".cat.png")
    put(source / ".thumbs", b"c.png")
    put(source / "real", b"r.png")
    (source / "linked").symlink_to(source / "real")
    lens = make_lens(tmp_path / "home", analyzers=["properties"])

    report = lens.ingest([source])

    assert [info.key for info in report.collected.objects] == ["src/real/r.png"]
    reasons = {Path(path).name: reason for path, reason in report.collected.skipped}
    assert reasons[".cat.png"].startswith("hidden file")
    assert reasons[".thumbs"].startswith("hidden folder")
    assert reasons["linked"].startswith("link to a folder")
    lens.close()


def test_a_key_from_json_output_works_again_in_show_and_similar(tmp_path: Path) -> None:
    source = tmp_path / "odd"
    for name in (BAD_UTF8, "x\uf7a9y.png".encode()):
        put(source, name)
    home = tmp_path / "home"
    done = cli("--features", "properties,embedding", "--home", home, "ingest", source, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    keys = [json.loads(line)["ImageName"] for line in done.stdout.splitlines() if "ImageName" in json.loads(line)]
    assert len(keys) == 2

    for key in keys:
        shown = cli("--home", home, "show", key, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["ImageName"] == key
        assert cli("--home", home, "similar", key, "--json", cwd=tmp_path).returncode == 0
    typed = cli("--home", home, "show", os.fsdecode(b"odd/" + BAD_UTF8), cwd=tmp_path)  # raw bytes, as a shell has them
    assert typed.returncode == 0, typed.stderr


def test_a_malformed_query_is_echoed_escaped(tmp_path: Path) -> None:
    done = cli("--home", tmp_path / "home", "search", "c\x1b[31mat AND (", cwd=tmp_path)

    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "c\\x1b[31mat AND (" in done.stderr


def test_a_missing_store_folder_is_never_made_again_by_a_write(tmp_path: Path) -> None:
    """An unmounted disk leaves its mount point behind: a copy written there would hide under the disk."""
    from pixlens.errors import StoreMissingError
    from pixlens.store.local import LocalStore

    store = LocalStore(tmp_path / "store")
    store.ensure()
    source = tmp_path / "a.png"
    source.write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "store").rmdir()
    with pytest.raises(StoreMissingError, match="missing"):
        store.put_file("trip/a.png", source)
    assert not (tmp_path / "store").exists()
