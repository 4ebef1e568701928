"""End to end: real sample photos -> ingest / reconcile -> real models -> real SQLite catalog.

Each test works in a fresh home (``tmp_path``); images come from ``samples/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

import badfiles
from conftest import SAMPLES, make_lens
from pixlens.config import load_settings
from pixlens.pipeline import Job, Outcome, Result
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.service import Pixlens

CAT, BEAR, BUS = "chelsea.png", "000000000285.jpg", "000000423617.jpg"
PIXLENS = Path(sys.executable).with_name("pixlens")


# -- helpers ---------------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put_samples(folder: Path, *names: str, rename: dict[str, str] | None = None) -> list[Path]:
    """Copy sample photos into ``folder`` (made if needed); ``rename`` maps a sample to another file name."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        target = folder / (rename or {}).get(name, name)
        shutil.copyfile(SAMPLES / name, target)
        paths.append(target)
    return paths


def record(lens: Pixlens, key: str) -> ImageRecord:
    found = lens.show(key)
    assert found is not None, f"{key} is not in the catalog"
    return found


def label_names(rec: ImageRecord) -> set[str]:
    return {label.Name for label in rec.Labels}


def outcomes(results: list[Result]) -> dict[str, Outcome]:
    return {result.key: result.outcome for result in results}


def wait_next_second(stamp: str | None) -> None:
    """AnalyzedAt has a resolution of one second: make sure a redo would show as a different time."""
    deadline = time.monotonic() + 2
    while utc_now() == stamp and time.monotonic() < deadline:
        time.sleep(0.05)


def store_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def assert_analysed(lens: Pixlens, key: str, source: Path) -> ImageRecord:
    """The record of ``key`` describes ``source`` (the file as it was ingested) and is analysed."""
    rec = record(lens, key)
    assert rec.Status is Status.ANALYZED, rec.Error
    assert rec.Error is None
    assert rec.ImageName == key
    assert rec.ContentSha256 == sha256(source)
    assert rec.Size == source.stat().st_size
    with Image.open(source) as im:
        assert (rec.Width, rec.Height) == im.size
        assert im.format is not None
        assert rec.ContentType == Image.MIME[im.format]
    assert rec.AnalyzedAt
    assert rec.LabelModelVersion
    assert rec.AnalyzerVersions == lens.versions
    assert rec.AnalyzerVersions["labels"].startswith(rec.LabelModelVersion)
    info = lens.store.stat(key)
    assert info is not None
    assert rec.ETag == info.etag
    for label in rec.Labels:
        assert 0 <= label.Confidence <= 100
    return rec


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def lenses() -> Iterator[list[Pixlens]]:
    """Lenses made by a test, closed at the end."""
    made: list[Pixlens] = []
    yield made
    for each in made:
        each.close()


def open_lens(lenses: list[Pixlens], home: Path, **overrides: object) -> Pixlens:
    lens = make_lens(home, **overrides)
    lenses.append(lens)
    return lens


# -- ingest ----------------------------------------------------------------------------------------------------
def test_ingest_copies_files_from_outside_into_the_store_and_analyses_them(lens: Pixlens, tmp_path: Path) -> None:
    trip = tmp_path / "outside" / "trip"
    sources = put_samples(trip, CAT, BEAR, BUS)

    report = lens.ingest([trip])

    assert report.collected.skipped == []
    assert report.collected.copied == 3
    assert report.skipped_unchanged == 0
    keys = {f"trip/{name}" for name in (CAT, BEAR, BUS)}
    assert outcomes(report.results) == dict.fromkeys(keys, Outcome.ANALYZED)
    store = lens.settings.home / "images"
    assert lens.settings.store_path == store
    assert store_files(store) == keys
    for source in sources:
        key = f"trip/{source.name}"
        assert (store / key).read_bytes() == source.read_bytes()
        assert source.exists()  # copied, not moved
        assert_analysed(lens, key, source)

    cat = record(lens, f"trip/{CAT}")
    cats = [label for label in cat.Labels if label.Name == "Cat"]
    assert cats, label_names(cat)
    assert "Animal" in {parent.Name for parent in cats[0].Parents}

    assert "Bear" in label_names(record(lens, f"trip/{BEAR}"))

    bus = record(lens, f"trip/{BUS}")
    vehicles = [label for label in bus.Labels if label.Name in ("Bus", "Car")]
    assert vehicles, label_names(bus)
    instances = [instance for label in vehicles for instance in label.Instances]
    assert instances, "a detected vehicle has boxes"
    for instance in instances:
        box = instance.BoundingBox
        assert 0 <= instance.Confidence <= 100
        for value in (box.Left, box.Top, box.Width, box.Height):
            assert 0.0 <= value <= 1.0
        assert box.Width > 0 and box.Height > 0
        assert box.Left + box.Width <= 1.0 + 1e-3
        assert box.Top + box.Height <= 1.0 + 1e-3

    # and the catalog answers questions about them
    assert {hit.key for hit in lens.search("animal").hits} >= {f"trip/{CAT}", f"trip/{BEAR}"}
    assert f"trip/{BUS}" in {hit.key for hit in lens.search("vehicle").hits}


def test_files_inside_the_store_are_analysed_in_place_with_subfolder_keys(lens: Pixlens) -> None:
    store = lens.settings.store_path
    sources = put_samples(store / "album" / "2024 summer", CAT, BEAR)
    single = put_samples(store, BUS)[0]
    before = store_files(store)

    report = lens.ingest([store / "album", single])

    assert report.collected.copied == 0
    assert report.collected.skipped == []
    assert store_files(store) == before  # nothing copied, nothing moved
    expected = {f"album/2024 summer/{CAT}", f"album/2024 summer/{BEAR}", BUS}
    assert outcomes(report.results) == dict.fromkeys(expected, Outcome.ANALYZED)
    for source in [*sources, single]:
        assert_analysed(lens, source.relative_to(store).as_posix(), source)
    assert lens.plan_reconcile().jobs() == []


def test_reingesting_the_same_files_does_no_analysis(lens: Pixlens, tmp_path: Path) -> None:
    outside = put_samples(tmp_path / "trip", CAT, BEAR)
    inside = put_samples(lens.settings.store_path / "kept", BUS)[0]
    first = lens.ingest([tmp_path / "trip", inside])
    assert len(first.results) == 3
    keys = [f"trip/{CAT}", f"trip/{BEAR}", f"kept/{BUS}"]
    before = {key: record(lens, key) for key in keys}
    wait_next_second(max(rec.AnalyzedAt or "" for rec in before.values()))

    again = lens.ingest([tmp_path / "trip", inside])

    assert again.results == []  # not even read
    assert again.skipped_unchanged == 3
    assert {info.key for info in again.collected.objects} == set(keys)
    for key in keys:
        assert record(lens, key) == before[key]  # AnalyzedAt, etag, labels: all as they were
    assert outside[0].exists()


def test_a_modified_file_is_analysed_again(lens: Pixlens) -> None:
    source = put_samples(lens.settings.store_path / "trip", BEAR, rename={BEAR: "photo.jpg"})[0]
    lens.ingest([lens.settings.store_path / "trip"])
    old = record(lens, "trip/photo.jpg")
    assert "Bear" in label_names(old)
    wait_next_second(old.AnalyzedAt)

    shutil.copyfile(SAMPLES / BUS, source)  # new content under the same name, in the store
    report = lens.ingest([lens.settings.store_path / "trip"])

    assert outcomes(report.results) == {"trip/photo.jpg": Outcome.ANALYZED}
    new = assert_analysed(lens, "trip/photo.jpg", source)
    assert new.ContentSha256 == sha256(SAMPLES / BUS) != old.ContentSha256
    assert new.AnalyzedAt != old.AnalyzedAt
    assert "Bear" not in label_names(new)
    assert label_names(new) & {"Bus", "Car"}
    # the label index follows the record: the old labels are gone from search
    assert "trip/photo.jpg" not in {hit.key for hit in lens.search("bear").hits}
    assert "trip/photo.jpg" in {hit.key for hit in lens.search("bus").hits}


def test_a_touched_file_is_not_analysed_again_but_its_etag_is_updated(lens: Pixlens) -> None:
    path = put_samples(lens.settings.store_path / "album", CAT)[0]
    key = f"album/{CAT}"
    lens.ingest([path])
    old = record(lens, key)
    wait_next_second(old.AnalyzedAt)

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    new_etag = lens.store.stat(key).etag  # type: ignore[union-attr]
    assert new_etag != old.ETag
    report = lens.ingest([path])

    assert outcomes(report.results) == {key: Outcome.UNCHANGED}
    new = record(lens, key)
    assert new.Status is Status.ANALYZED
    assert new.ETag == new_etag
    assert new.ContentSha256 == old.ContentSha256
    assert new.AnalyzedAt == old.AnalyzedAt
    assert new.Labels == old.Labels
    assert lens.plan_reconcile().jobs() == []


# -- reconcile -------------------------------------------------------------------------------------------------
def test_reconcile_finds_new_changed_pending_failed_and_deleted_images(lens: Pixlens) -> None:
    store = lens.settings.store_path
    put_samples(store / "r", CAT, BEAR, rename={CAT: "same.png", BEAR: "changed.jpg"})
    put_samples(store / "r", BUS, rename={BUS: "deleted.jpg"})
    lens.ingest([store])
    same = record(lens, "r/same.png")
    wait_next_second(same.AnalyzedAt)

    put_samples(store / "r" / "new", BUS, rename={BUS: "added.jpg"})  # written straight into the store
    shutil.copyfile(SAMPLES / CAT, store / "r" / "changed.jpg")  # a PNG under a .jpg name: content decides
    (store / "r" / "deleted.jpg").unlink()
    pending = put_samples(store / "r", BEAR, rename={BEAR: "pending.jpg"})[0]
    pending_etag = lens.store.stat("r/pending.jpg").etag  # type: ignore[union-attr]
    lens.catalog.mark_pending([("r/pending.jpg", pending_etag)])  # queued, then the process died
    badfiles.make_empty(store / "r")  # r/empty.jpg

    plan = lens.plan_reconcile()

    etag = {info.key: info.etag for info in lens.store.list()}
    assert plan.new == [Job("r/empty.jpg", etag["r/empty.jpg"]), Job("r/new/added.jpg", etag["r/new/added.jpg"])]
    assert plan.changed == [Job("r/changed.jpg", etag["r/changed.jpg"])]
    assert plan.pending == [Job("r/pending.jpg", pending_etag)]
    assert plan.deleted == ["r/deleted.jpg"]
    assert plan.outdated == [] and plan.retried == []
    assert plan.results == []
    assert record(lens, "r/deleted.jpg").Status is Status.ANALYZED  # planning changes nothing

    done = lens.reconcile()

    assert done.summary() == plan.summary()
    assert outcomes(done.results) == {
        "r/empty.jpg": Outcome.FAILED,
        "r/new/added.jpg": Outcome.ANALYZED,
        "r/changed.jpg": Outcome.ANALYZED,
        "r/pending.jpg": Outcome.ANALYZED,
    }
    assert lens.show("r/deleted.jpg") is None
    assert_analysed(lens, "r/new/added.jpg", store / "r" / "new" / "added.jpg")
    assert_analysed(lens, "r/pending.jpg", pending)
    changed = assert_analysed(lens, "r/changed.jpg", store / "r" / "changed.jpg")
    assert changed.ContentType == "image/png"
    assert "Cat" in label_names(changed)
    assert record(lens, "r/same.png") == same  # untouched
    failed = record(lens, "r/empty.jpg")
    assert failed.Status is Status.FAILED
    assert failed.Error is not None and failed.Error.startswith("empty file (0 bytes)")
    assert {state.key for state in lens.catalog.states()} == set(etag)
    assert "r/deleted.jpg" not in {hit.key for hit in lens.search("bus").hits}

    # Converged: failed images are retried only on request (they would fail the same way).
    assert lens.plan_reconcile().jobs() == []
    assert [job.key for job in lens.plan_reconcile(retry_failed=True).retried] == ["r/empty.jpg"]


def test_reconcile_reanalyses_only_images_analysed_with_other_analyser_settings(
    home: Path, lenses: list[Pixlens]
) -> None:
    old_lens = open_lens(lenses, home)
    store = old_lens.settings.store_path
    put_samples(store / "old", BUS, CAT)
    old_lens.ingest([store / "old"])
    old_bus = record(old_lens, f"old/{BUS}")
    assert any(label.Confidence < 70 for label in old_bus.Labels)
    old_lens.close()

    strict = open_lens(lenses, home, labels={"min_confidence": 70})
    assert strict.versions["labels"] != old_lens.versions["labels"]
    put_samples(store / "new", BEAR)
    strict.ingest([store / "new"])
    bear = record(strict, f"new/{BEAR}")
    wait_next_second(bear.AnalyzedAt)

    plan = strict.plan_reconcile()
    assert sorted(job.key for job in plan.outdated) == [f"old/{BUS}", f"old/{CAT}"]
    assert plan.new == plan.changed == plan.pending == plan.retried == []
    assert plan.deleted == []

    done = strict.reconcile()

    assert outcomes(done.results) == {f"old/{BUS}": Outcome.ANALYZED, f"old/{CAT}": Outcome.ANALYZED}
    bus = assert_analysed(strict, f"old/{BUS}", store / "old" / BUS)
    assert bus.AnalyzerVersions == strict.versions
    assert bus.Labels and all(label.Confidence >= 70 for label in bus.Labels)
    assert len(bus.Labels) < len(old_bus.Labels)
    assert record(strict, f"new/{BEAR}") == bear  # analysed with these settings already: left alone
    assert strict.plan_reconcile().jobs() == []


# -- EXIF ------------------------------------------------------------------------------------------------------
def test_exif_date_camera_and_gps_end_up_in_the_record(lens: Pixlens, tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x010F] = "PixCam"  # Make
    exif[0x0110] = "Model 7"  # Model
    exif.get_ifd(0x8769)[0x9003] = "2024:07:01 10:11:12"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 22.0, 12.0), 3: "W", 4: (4.0, 53.0, 24.0)})
    folder = tmp_path / "camera"
    folder.mkdir()
    (folder / "shot.jpg").write_bytes(badfiles.image_bytes(badfiles.photo((640, 480)), "JPEG", exif=exif))

    lens.ingest([folder])

    rec = assert_analysed(lens, "camera/shot.jpg", folder / "shot.jpg")
    assert rec.Exif["DateTimeOriginal"] == "2024-07-01T10:11:12"
    assert rec.Exif["Make"] == "PixCam"
    assert rec.Exif["Model"] == "Model 7"
    assert rec.Exif["GPS"]["Latitude"] == pytest.approx(52 + 22 / 60 + 12 / 3600, abs=1e-4)
    assert rec.Exif["GPS"]["Longitude"] == pytest.approx(-(4 + 53 / 60 + 24 / 3600), abs=1e-4)


# -- settings --------------------------------------------------------------------------------------------------
def clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    env.update(COLUMNS="500", **extra)
    return env


def pixlens(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PIXLENS), *map(str, args)], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=120
    )


def test_pixlens_home_from_the_environment_and_pixlens_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "somewhere" / "home"
    home.mkdir(parents=True)
    (home / "pixlens.toml").write_text("[labels]\nmax_labels = 2\n")
    put_samples(tmp_path / "in", BUS, CAT)
    work = tmp_path / "cwd"
    work.mkdir()

    done = pixlens("ingest", tmp_path / "in", cwd=work, PIXLENS_HOME=str(home))
    assert done.returncode == 0, done.stderr
    shown = pixlens("show", f"in/{BUS}", cwd=work, PIXLENS_HOME=str(home))
    assert shown.returncode == 0, shown.stderr

    rec = ImageRecord.model_validate_json(shown.stdout)
    assert rec.Status is Status.ANALYZED
    assert 1 <= len(rec.Labels) <= 2  # 7 labels with the default max_labels = 10
    assert (home / "catalog.db").is_file()
    assert (home / "images" / "in" / BUS).is_file()
    assert not (work / ".pixlens").exists()  # the default home was not used

    monkeypatch.setenv("PIXLENS_HOME", str(home))
    monkeypatch.chdir(work)
    settings = load_settings()
    assert settings.home == home
    assert settings.labels.max_labels == 2


def test_store_elsewhere_is_analysed_in_place(tmp_path: Path) -> None:
    home, store = tmp_path / "home", tmp_path / "photos"
    put_samples(store / "2024", BEAR, CAT)

    done = pixlens("--home", home, "--store", store, "ingest", store / "2024", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "0 copied" in done.stderr

    shown = pixlens("--home", home, "--store", store, "show", f"2024/{BEAR}", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    rec = ImageRecord.model_validate_json(shown.stdout)
    assert rec.Status is Status.ANALYZED
    assert rec.ContentSha256 == sha256(store / "2024" / BEAR)
    assert "Bear" in label_names(rec)
    assert not (home / "images").exists() or store_files(home / "images") == set()
    assert store_files(store) == {f"2024/{BEAR}", f"2024/{CAT}"}

    listed = pixlens("--home", home, "--store", store, "search", "cat", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [json.loads(line)["ImageName"] for line in listed.stdout.splitlines()] == [f"2024/{CAT}"]


def test_process_is_the_handler_a_remote_worker_calls(home: Path, lenses: list[Pixlens]) -> None:
    """Pipeline.process: jobs in, records in the catalog, outcomes out; a redelivered job does nothing."""
    lens = open_lens(lenses, home, analyzers=["labels"])
    put_samples(lens.settings.store_path, "chelsea.png", "000000000285.jpg")
    (lens.settings.store_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    jobs = [Job("chelsea.png"), Job("000000000285.jpg"), Job("broken.jpg"), Job("gone.jpg")]
    first = outcomes(lens.pipeline.process(jobs, batch_size=2))
    assert first == {
        "chelsea.png": Outcome.ANALYZED,
        "000000000285.jpg": Outcome.ANALYZED,
        "broken.jpg": Outcome.FAILED,
        "gone.jpg": Outcome.VANISHED,
    }
    assert "Cat" in label_names(record(lens, "chelsea.png"))
    assert record(lens, "broken.jpg").Status is Status.FAILED
    assert lens.show("gone.jpg") is None
    again = outcomes(lens.pipeline.process(jobs[:2]))
    assert set(again.values()) == {Outcome.UNCHANGED}
