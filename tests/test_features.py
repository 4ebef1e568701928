"""End-to-end: the full analysis as a user meets it, on real images, through the library API and the CLI.

Text (OCR) search, faces and people, colours and quality, thumbnails, unsafe content and the hide-unsafe filter,
"more like this" and duplicates, per-analyser re-analysis, and the CLI commands over them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance

from conftest import SAMPLES, make_lens, sample_files
from pixlens.errors import QueryError
from pixlens.record import ImageRecord, Label, Status, utc_now
from pixlens.service import Pixlens
from textimages import render, sign_on_photo

PIXLENS = Path(sys.executable).with_name("pixlens")


def cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    env["COLUMNS"] = "500"
    return subprocess.run(
        [str(PIXLENS), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def found(lens: Pixlens, query: str) -> set[str]:
    result = lens.search(query, limit=1000)
    assert result.total == len(result.hits)
    return {hit.key for hit in result.hits}


def save(image: Image.Image, path: Path, **params: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)
    return path


def sample(name: str) -> Image.Image:
    with Image.open(SAMPLES / name) as opened:
        return opened.convert("RGB")


# -- 1. text ------------------------------------------------------------------------------------------------------
SIGN, CAT_SIGN, INVOICE, RED = "sign.png", "cat-sign.png", "invoice.png", "red.png"
PLAIN = ["chelsea.png", "000000000285.jpg"]  # photos without text (the bear is the one under the sign)


@pytest.fixture(scope="module")
def texts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    """A fresh home: two signs pasted on photos, an invoice, a solid red square and two photos without text."""
    home = tmp_path_factory.mktemp("texts")
    store = home / "images"
    save(sign_on_photo("OPEN 24 HOURS").image, store / SIGN)
    save(sign_on_photo("HAPPY HOURS", photo="chelsea.png").image, store / CAT_SIGN)
    lines = ["INVOICE", "Invoice number 1047", "Total amount due 42.50"]
    save(render("invoice", lines, size=40, canvas=(900, 400)).image, store / INVOICE)
    save(Image.new("RGB", (256, 256), (210, 20, 25)), store / RED)
    for name in PLAIN:
        shutil.copyfile(SAMPLES / name, store / name)
    lens = make_lens(home)
    report = lens.ingest([store])
    assert {result.outcome.value for result in report.results} == {"analyzed"}
    yield lens
    lens.close()


def test_text_search_finds_exactly_the_images_with_that_text(texts: Pixlens) -> None:
    assert found(texts, "text:invoice") == {INVOICE}
    assert found(texts, 'text:"open 24 hours"') == {SIGN}
    assert found(texts, "text:hours") == {SIGN, CAT_SIGN}
    assert found(texts, "text:hours AND NOT cat") == {SIGN}
    assert found(texts, 'text:"total amount due"') == {INVOICE}
    assert found(texts, "text:receipt") == set()


def test_text_records_have_lines_and_words(texts: Pixlens) -> None:
    record = texts.show(SIGN)
    assert record is not None
    lines = [d for d in record.TextDetections if d["Type"] == "LINE"]
    words = [d for d in record.TextDetections if d["Type"] == "WORD"]
    assert [d["DetectedText"] for d in lines] == ["OPEN 24 HOURS"]
    assert [d["DetectedText"] for d in words] == ["OPEN", "24", "HOURS"]
    assert all(word["ParentId"] == lines[0]["Id"] for word in words)
    for detection in record.TextDetections:
        assert 0 <= detection["Confidence"] <= 100
        box = detection["Geometry"]["BoundingBox"]
        assert 0 <= box["Left"] <= 1 and 0 <= box["Top"] <= 1 and 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
    invoice = texts.show(INVOICE)
    assert invoice is not None
    assert next(d["DetectedText"] for d in invoice.TextDetections if d["Type"] == "LINE") == "INVOICE"


def test_a_photo_without_text_skips_work_only_with_the_cascade(texts: Pixlens, tmp_path: Path) -> None:
    for name in PLAIN:
        record = texts.show(name)
        assert record is not None
        assert record.TextDetections == []
        # No candidate at all, or the full detector looked only at a part of the photo: either way, recorded.
        skipped = {key: why for key, why in record.Skipped.items() if key.startswith("text.")}
        assert skipped in ({"text.recognition": "no text regions found"},) or "text.detection" in skipped, skipped
    sign = texts.show(SIGN)
    assert sign is not None and "text.recognition" not in sign.Skipped

    store = tmp_path / "home" / "images"
    store.mkdir(parents=True)
    shutil.copyfile(SAMPLES / "chelsea.png", store / "chelsea.png")
    full = make_lens(tmp_path / "home", cascade=False, analyzers=["text"])
    try:
        full.ingest([store])
        record = full.show("chelsea.png")
    finally:
        full.close()
    assert record is not None and record.Status is Status.ANALYZED
    assert record.TextDetections == []
    assert not any(key.startswith("text.") for key in record.Skipped), record.Skipped


# -- 3. colours, quality, thumbnails -------------------------------------------------------------------------------
def test_a_solid_red_image_is_found_by_its_colour(texts: Pixlens) -> None:
    record = texts.show(RED)
    assert record is not None and record.ImageProperties is not None
    assert record.ImageProperties["DominantColors"][0]["SimplifiedColor"] == "red"
    assert RED in found(texts, "color:red")
    assert RED not in found(texts, "color:blue")
    assert RED not in found(texts, "color:green")


def _colour_names(record: ImageRecord) -> set[str]:
    colours = (record.ImageProperties or {}).get("DominantColors", [])
    return {str(c.get(key, "")).lower() for c in colours for key in ("SimplifiedColor", "CSSColor")}


def test_color_search_matches_the_dominant_colours(analysed: Pixlens) -> None:
    records = {name: analysed.show(name) for name in sample_files()}
    greens = {name for name, record in records.items() if record is not None and "green" in _colour_names(record)}
    assert "000000000309.jpg" in greens  # a dog on a lawn
    assert found(analysed, "color:green") == greens
    reds = {name for name, record in records.items() if record is not None and "red" in _colour_names(record)}
    assert found(analysed, "color:red") == reds
    assert found(analysed, "color:chartreusepurple") == set()


def test_quality_and_thumbnails(analysed: Pixlens) -> None:
    home = analysed.settings.home
    for name in sample_files():
        record = analysed.show(name)
        assert record is not None and record.ImageProperties is not None
        quality = record.ImageProperties["Quality"]
        assert set(quality) >= {"Brightness", "Sharpness", "Contrast"}
        assert all(0 <= value <= 100 for value in quality.values()), (name, quality)
        assert record.Thumbnail is not None and not Path(record.Thumbnail).is_absolute()
        path = home / record.Thumbnail
        assert path.is_file(), path
        with Image.open(path) as thumbnail:
            assert thumbnail.format == "WEBP"
            assert max(thumbnail.size) <= analysed.settings.thumbnails.size


# -- 2. faces and people -------------------------------------------------------------------------------------------
WITH_FACES = {
    "astronaut.png",
    "camera.png",
    "000000000885.jpg",
    "000000519208.jpg",
    "000000229358.jpg",
    "000000000872.jpg",
    "000000000785.jpg",
    "000000000436.jpg",
}


def test_face_counts_are_searchable(analysed: Pixlens) -> None:
    with_faces = found(analysed, "faces>=1")
    assert with_faces == WITH_FACES
    assert "chelsea.png" not in with_faces
    assert found(analysed, "faces>=2") == {"000000000885.jpg"}  # the player and the umpire
    assert found(analysed, "faces") == WITH_FACES
    assert found(analysed, "NOT faces") == set(sample_files()) - WITH_FACES


def test_every_face_belongs_to_a_listed_person(analysed: Pixlens) -> None:
    people = {row.id: row for row in analysed.people()}
    faces_of: dict[int, int] = {}
    images_of: dict[int, set[str]] = {}
    for name in sample_files():
        record = analysed.show(name)
        assert record is not None
        assert len(record.FaceDetails) == len(record.FaceEmbeddings)
        for face in record.FaceDetails:
            person = face["PersonId"]
            assert person in people
            faces_of[person] = faces_of.get(person, 0) + 1
            images_of.setdefault(person, set()).add(name)
    assert set(faces_of) == set(people)
    for person, row in people.items():
        assert (row.faces, row.images) == (faces_of[person], len(images_of[person]))
        assert found(analysed, f"person:{person}") == images_of[person]
    assert sum(row.faces for row in people.values()) == 9


def astronaut_variant() -> Image.Image:
    """The astronaut resized, brightened and cropped."""
    image = sample("astronaut.png").crop((20, 0, 480, 460)).resize((380, 380), Image.Resampling.LANCZOS)
    return ImageEnhance.Brightness(image).enhance(1.25)


@pytest.fixture(scope="module")
def crowd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    """A fresh home: the astronaut, a transformed copy of her, and the cameraman."""
    home = tmp_path_factory.mktemp("crowd")
    store = home / "images"
    store.mkdir()
    shutil.copyfile(SAMPLES / "astronaut.png", store / "astronaut.png")
    save(astronaut_variant(), store / "again" / "astronaut.jpg", quality=85)
    shutil.copyfile(SAMPLES / "camera.png", store / "camera.png")
    lens = make_lens(home, analyzers=["labels", "faces"])
    lens.ingest([store])
    yield lens
    lens.close()


def _persons(lens: Pixlens, key: str) -> list[int]:
    record = lens.show(key)
    assert record is not None
    return [face["PersonId"] for face in record.FaceDetails]


def test_the_same_person_in_two_photos_is_one_person(crowd: Pixlens) -> None:
    [astronaut] = _persons(crowd, "astronaut.png")
    assert _persons(crowd, "again/astronaut.jpg") == [astronaut]
    [cameraman] = _persons(crowd, "camera.png")
    assert cameraman != astronaut
    rows = {row.id: row for row in crowd.people()}
    assert set(rows) == {astronaut, cameraman}
    assert (rows[astronaut].faces, rows[astronaut].images) == (2, 2)
    assert (rows[cameraman].faces, rows[cameraman].images) == (1, 1)
    assert crowd.people()[0].id == astronaut  # most faces first


def test_a_named_person_is_found_by_name(crowd: Pixlens) -> None:
    [astronaut] = _persons(crowd, "astronaut.png")
    assert found(crowd, "person:Eileen") == set()
    assert crowd.name_person(astronaut, "Eileen")
    assert not crowd.name_person(9999, "Nobody")
    assert found(crowd, "person:eileen") == {"astronaut.png", "again/astronaut.jpg"}
    assert found(crowd, f"person:{astronaut}") == {"astronaut.png", "again/astronaut.jpg"}
    assert found(crowd, "person:Eileen AND NOT camera") <= {"astronaut.png", "again/astronaut.jpg"}
    assert {row.name for row in crowd.people()} == {"Eileen", None}


# -- 4. unsafe content ---------------------------------------------------------------------------------------------
def test_all_samples_are_safe(analysed: Pixlens) -> None:
    assert found(analysed, "is:safe") == set(sample_files())
    assert found(analysed, "is:unsafe") == set()
    assert found(analysed, "is:SAFE") == set(sample_files())
    for name in sample_files():
        record = analysed.show(name)
        assert record is not None
        assert [label["Name"] for label in record.ModerationLabels] == ["Explicit Nudity"]
        assert record.ModerationLabels[0]["Confidence"] < analysed.settings.moderation.min_confidence
    with pytest.raises(QueryError, match="is:bogus"):
        analysed.search("is:bogus")


def _record(key: str, unsafe: float) -> ImageRecord:
    return ImageRecord(
        ImageName=key,
        Status=Status.ANALYZED,
        AnalyzedAt=utc_now(),
        ContentSha256=key.encode().hex(),
        Labels=[Label(Name="Dog", Confidence=90.0, Parents=[{"Name": "Animal"}])],
        ModerationLabels=[{"Name": "Explicit Nudity", "Confidence": unsafe, "ParentName": "", "TaxonomyLevel": 1}],
    )


def test_unsafe_images_are_hidden_unless_asked_for(lens: Pixlens) -> None:
    lens.catalog.put([_record("beach.jpg", 97.0), _record("park.jpg", 2.0)])
    assert found(lens, "dog") == {"park.jpg"}
    assert found(lens, "animal") == {"park.jpg"}
    assert found(lens, "NOT cat") == {"park.jpg"}
    assert found(lens, "dog is:unsafe") == {"beach.jpg"}
    assert found(lens, "is:unsafe") == {"beach.jpg"}
    assert found(lens, "dog is:safe") == {"park.jpg"}
    assert found(lens, "dog OR is:unsafe") == {"park.jpg", "beach.jpg"}

    shown = make_lens(lens.settings.home, moderation={"hide_unsafe": False})
    try:
        assert found(shown, "dog") == {"park.jpg", "beach.jpg"}
        assert found(shown, "dog is:safe") == {"park.jpg"}
    finally:
        shown.close()


# -- 5. similar and duplicates -------------------------------------------------------------------------------------
ORIGINALS = ["chelsea.png", "coffee.png", "astronaut.png", "000000000072.jpg", "rocket.jpg"]
COPIES = {"chelsea.png": "copies/chelsea-small.jpg", "coffee.png": "copies/coffee-turned.png"}
IDENTICAL = ("astronaut.png", "copies/astronaut.png")


@pytest.fixture(scope="module")
def lookalikes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pixlens]:
    home = tmp_path_factory.mktemp("lookalikes")
    store = home / "images"
    store.mkdir()
    for name in ORIGINALS:
        shutil.copyfile(SAMPLES / name, store / name)
    chelsea = sample("chelsea.png")
    small = chelsea.resize((chelsea.width // 2, chelsea.height // 2), Image.Resampling.LANCZOS)
    save(small, store / COPIES["chelsea.png"], quality=60)
    save(sample("coffee.png").transpose(Image.Transpose.ROTATE_90), store / COPIES["coffee.png"])
    shutil.copyfile(SAMPLES / IDENTICAL[0], store / IDENTICAL[1])
    lens = make_lens(home, analyzers=["properties", "embedding"])
    lens.ingest([store])
    yield lens
    lens.close()


def test_similar_ranks_the_copy_first(lookalikes: Pixlens) -> None:
    for original, copy in [*COPIES.items(), IDENTICAL]:
        ranked = lookalikes.similar(original, k=5)
        assert ranked[0][0] == copy, (original, ranked)
        assert original not in [key for key, _ in ranked]
        assert all(-1 <= similarity <= 1.0001 for _, similarity in ranked)
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert lookalikes.similar(IDENTICAL[0], k=1)[0][1] == pytest.approx(1.0, abs=1e-3)
    assert lookalikes.similar("no/such.png") == []


def test_duplicates_group_each_copy_with_its_original_only(lookalikes: Pixlens) -> None:
    groups = lookalikes.duplicates()
    expected = [{original, copy} for original, copy in COPIES.items()] + [set(IDENTICAL)]
    assert sorted(map(sorted, (set(g.keys) for g in groups))) == sorted(map(sorted, expected))
    by_members = {frozenset(g.keys): g for g in groups}
    assert by_members[frozenset(IDENTICAL)].identical
    for original, copy in COPIES.items():
        group = by_members[frozenset((original, copy))]
        assert not group.identical and group.links


def test_cli_similar_and_duplicates_json(lookalikes: Pixlens, tmp_path: Path) -> None:
    home = lookalikes.settings.home
    lookalikes.catalog.vectors.save()  # what close() would write; the CLI opens the same catalog
    done = cli("--home", home, "similar", "chelsea.png", "--limit", "3", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert rows[0]["ImageName"] == COPIES["chelsea.png"] and len(rows) == 3
    assert all(set(row) == {"ImageName", "Similarity"} for row in rows)

    done = cli("--home", home, "duplicates", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    groups = json_lines(done.stdout)
    assert {frozenset(g["Images"]) for g in groups} == {
        *(frozenset(pair) for pair in COPIES.items()),
        frozenset(IDENTICAL),
    }
    assert all(isinstance(g["Identical"], bool) and isinstance(g["Links"], list) for g in groups)

    done = cli("--home", home, "similar", "no/such.png", "--json", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr


# -- 6. per-analyser re-analysis -----------------------------------------------------------------------------------
TWO = ["000000000885.jpg", "astronaut.png"]  # faces, and text on the tennis court


def test_changing_label_settings_re_runs_only_labels(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = home / "images"
    store.mkdir(parents=True)
    for name in TWO:
        shutil.copyfile(SAMPLES / name, store / name)
    first = make_lens(home)
    try:
        first.ingest([store])
        before = {name: first.show(name) for name in TWO}
        old_versions = first.versions
    finally:
        first.close()

    lens = make_lens(home, labels={"min_confidence": 70})
    try:
        assert lens.versions["labels"] != old_versions["labels"]
        assert {k: v for k, v in lens.versions.items() if k != "labels"} == {
            k: v for k, v in old_versions.items() if k != "labels"
        }
        plan = lens.plan_reconcile()
        assert plan.summary() == {"new": 0, "changed": 0, "pending": 0, "outdated": 2, "retried": 0, "deleted": 0}
        assert sorted(job.key for job in plan.outdated) == TWO
        assert {job.analyzers for job in plan.outdated} == {("labels",)}

        done = lens.reconcile()
        assert sorted((r.key, r.outcome.value) for r in done.results) == [(name, "analyzed") for name in TWO]
        assert lens.plan_reconcile().jobs() == []
        dropped = [label.Name for name in TWO for label in before[name].Labels if label.Confidence < 70]
        assert dropped, "the new setting should drop some labels"
        for name in TWO:
            old, new = before[name], lens.show(name)
            assert old is not None and new is not None
            assert new.AnalyzerVersions == {**old.AnalyzerVersions, "labels": lens.versions["labels"]}
            assert new.Labels and all(label.Confidence >= 70 for label in new.Labels)
            assert new.TextDetections == old.TextDetections
            assert new.ImageEmbedding == old.ImageEmbedding
            assert new.Thumbnail == old.Thumbnail
            assert new.ImageProperties == old.ImageProperties
            assert new.ModerationLabels == old.ModerationLabels
            assert new.FaceEmbeddings == old.FaceEmbeddings
            assert [_without_person(f) for f in new.FaceDetails] == [_without_person(f) for f in old.FaceDetails]
    finally:
        lens.close()


def _without_person(face: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in face.items() if key != "PersonId"}


def test_re_analysing_labels_keeps_people_and_their_names(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = home / "images"
    store.mkdir(parents=True)
    shutil.copyfile(SAMPLES / "astronaut.png", store / "astronaut.png")
    first = make_lens(home, analyzers=["labels", "faces"])
    try:
        first.ingest([store])
        [person] = _persons(first, "astronaut.png")
        assert first.name_person(person, "Eileen")
    finally:
        first.close()
    lens = make_lens(home, analyzers=["labels", "faces"], labels={"min_confidence": 70})
    try:
        lens.reconcile()
        assert found(lens, "person:Eileen") == {"astronaut.png"}
        assert _persons(lens, "astronaut.png") == [person]
    finally:
        lens.close()


# -- 6b and 7. the command line ------------------------------------------------------------------------------------
def test_cli_features_then_all_adds_the_missing_analysers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(SAMPLES / "astronaut.png", folder / "astronaut.png")

    done = cli("--home", home, "--features", "labels", "ingest", folder, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lens = make_lens(home)
    try:
        first = lens.catalog.get("in/astronaut.png")
        assert first is not None and first.Status is Status.ANALYZED
        assert list(first.AnalyzerVersions) == ["labels"]
        assert first.Labels and first.FaceDetails == [] and first.TextDetections == []
        assert first.ImageProperties is None and first.Thumbnail is None and first.ImageEmbedding is None
        assert [job.analyzers for job in lens.plan_reconcile().outdated] == [
            tuple(name for name in lens.versions if name != "labels")
        ]
    finally:
        lens.close()

    done = cli("--home", home, "ingest", folder, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[-1]["Summary"]["Analyzed"] == 1
    lens = make_lens(home)
    try:
        full = lens.show("in/astronaut.png")
        assert full is not None
        assert set(full.AnalyzerVersions) == set(lens.versions)
        assert full.AnalyzerVersions["labels"] == first.AnalyzerVersions["labels"]
        assert full.Labels == first.Labels  # not redone
        assert len(full.FaceDetails) == 1 and full.Thumbnail and full.ImageEmbedding
        assert full.ContentSha256 == first.ContentSha256
        assert full.AnalyzedAt is not None and first.AnalyzedAt is not None and full.AnalyzedAt >= first.AnalyzedAt
        assert found(lens, "faces>=1") == {"in/astronaut.png"}
        assert lens.plan_reconcile().jobs() == []
    finally:
        lens.close()

    done = cli("--home", home, "ingest", folder, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json_lines(done.stdout)[-1]["Summary"]["Unchanged"] == 1


def test_cli_people_name_and_search(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = home / "images"
    store.mkdir(parents=True)
    for name in ("astronaut.png", "camera.png"):
        shutil.copyfile(SAMPLES / name, store / name)
    save(astronaut_variant(), store / "again.jpg", quality=85)
    lens = make_lens(home, analyzers=["labels", "faces"])
    try:
        lens.ingest([store])
        [astronaut] = _persons(lens, "astronaut.png")
    finally:
        lens.close()

    done = cli("--home", home, "people", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [(row["Faces"], row["Images"], row["Name"]) for row in rows] == [(2, 2, None), (1, 1, None)]
    assert rows[0]["PersonId"] == astronaut

    done = cli("--home", home, "people", "name", str(astronaut), "Eileen Collins", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = cli("--home", home, "search", 'person:"eileen collins"', "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert {row["ImageName"] for row in json_lines(done.stdout)} == {"astronaut.png", "again.jpg"}
    done = cli("--home", home, "people", "--json", cwd=tmp_path)
    assert json_lines(done.stdout)[0]["Name"] == "Eileen Collins"

    done = cli("--home", home, "people", "name", "999", "Nobody", cwd=tmp_path)
    assert done.returncode == 1 and "no person 999" in done.stderr and "Traceback" not in done.stderr


def test_cli_unknown_feature_is_a_clear_error(tmp_path: Path) -> None:
    shutil.copyfile(SAMPLES / "chelsea.png", tmp_path / "photo.png")
    done = cli("--home", tmp_path / "home", "--features", "nope", "ingest", tmp_path / "photo.png", cwd=tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert "nope" in done.stderr and "labels" in done.stderr  # names the bad one and the known ones


def test_re_analysing_with_fewer_analysers_keeps_the_others_results(tmp_path: Path) -> None:
    home, store = tmp_path / "home", tmp_path / "home" / "images"
    store.mkdir(parents=True)
    sign_on_photo().image.save(store / "sign.png")
    first = make_lens(home, analyzers=["labels", "text"])
    first.ingest([store])
    before = first.show("sign.png")
    first.close()
    assert before is not None and before.TextDetections
    stricter = make_lens(home, analyzers=["labels"], labels={"min_confidence": 70})
    plan = stricter.reconcile()
    after = stricter.show("sign.png")
    stricter.close()
    assert [job.analyzers for job in plan.outdated] == [("labels",)]
    assert after is not None
    assert after.TextDetections == before.TextDetections
    assert after.AnalyzerVersions["text"] == before.AnalyzerVersions["text"]
    assert all(label.Confidence >= 70 for label in after.Labels)
