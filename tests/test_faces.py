"""Faces: MTCNN + faceres on the sample photos, and people clustering on real face embeddings."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from pixlens.analysis.base import create_analyzers
from pixlens.analysis.faces import FaceAnalyzer
from pixlens.config import load_settings
from pixlens.imageio import decode
from pixlens.people import People
from pixlens.record import BoundingBox, ImageRecord, Instance, Label

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
WITH_FACE = ["astronaut.png", "000000519208.jpg", "000000229358.jpg", "000000000436.jpg"]  # one clear face each
WITHOUT_FACE = ["chelsea.png", "000000000285.jpg", "rocket.jpg"]


@pytest.fixture(scope="module")
def analyzer(tmp_path_factory: pytest.TempPathFactory) -> FaceAnalyzer:
    [faces] = create_analyzers(load_settings(tmp_path_factory.mktemp("home")), ["faces"])
    assert isinstance(faces, FaceAnalyzer)
    return faces


def run(analyzer: FaceAnalyzer, images: list[Image.Image | str]) -> list[dict[str, Any]]:
    decoded = []
    for image in images:
        if isinstance(image, str):
            data = (SAMPLES / image).read_bytes()
        else:
            buffer = io.BytesIO()
            image.save(buffer, "PNG")
            data = buffer.getvalue()
        decoded.append(analyzer.prepare(decode(data)))
    return analyzer.analyze(decoded)


@pytest.fixture(scope="module")
def results(analyzer: FaceAnalyzer) -> dict[str, dict[str, Any]]:
    names = WITH_FACE + WITHOUT_FACE
    return dict(zip(names, run(analyzer, list(names)), strict=True))


def inside(point: dict[str, Any], box: dict[str, float]) -> bool:
    return (
        box["Left"] <= point["X"] <= box["Left"] + box["Width"]
        and box["Top"] <= point["Y"] <= box["Top"] + box["Height"]
    )


def test_astronaut_face_shape(results: dict[str, dict[str, Any]]) -> None:
    result = results["astronaut.png"]
    assert set(result) == {"FaceDetails", "FaceEmbeddings"}
    [face] = result["FaceDetails"]
    box = face["BoundingBox"]
    # Eileen Collins's face: about x 180-265, y 60-170 of the 512 x 512 picture.
    assert 0.30 < box["Left"] < 0.40 and 0.08 < box["Top"] < 0.16
    assert 0.13 < box["Width"] < 0.22 and 0.17 < box["Height"] < 0.27
    assert face["Confidence"] > 99
    points = {p["Type"]: p for p in face["Landmarks"]}
    assert list(points) == ["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"]
    assert all(inside(p, box) for p in points.values())
    assert points["eyeLeft"]["X"] < points["nose"]["X"] < points["eyeRight"]["X"]
    assert points["mouthLeft"]["X"] < points["mouthRight"]["X"]
    assert max(points["eyeLeft"]["Y"], points["eyeRight"]["Y"]) < points["nose"]["Y"]
    assert points["nose"]["Y"] < min(points["mouthLeft"]["Y"], points["mouthRight"]["Y"])
    assert face["Gender"]["Value"] == "Female" and face["Gender"]["Confidence"] > 70
    assert 20 <= face["AgeRange"]["Low"] < 36 < face["AgeRange"]["High"] <= 55  # she was 36
    [embedding] = result["FaceEmbeddings"]
    assert len(embedding) == 1024 and all(isinstance(v, float) for v in embedding)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("name", WITH_FACE[1:])
def test_faces_in_coco_photos(results: dict[str, dict[str, Any]], name: str) -> None:
    result = results[name]
    [face] = result["FaceDetails"]  # one person with a visible face in each
    assert len(result["FaceEmbeddings"]) == 1
    assert face["Confidence"] >= 90
    assert all(inside(p, face["BoundingBox"]) for p in face["Landmarks"])
    assert face["Gender"]["Value"] == "Male"  # all three are men


@pytest.mark.parametrize("name", WITHOUT_FACE)
def test_no_faces(results: dict[str, dict[str, Any]], name: str) -> None:
    assert results[name] == {
        "FaceDetails": [],
        "FaceEmbeddings": [],
        "Skipped": {"faces.description": "no faces found"},
    }


def counting(full: FaceAnalyzer) -> dict[str, int]:
    """Wrap R-Net, O-Net and faceres: the returned dict counts the crops each one was run on."""
    calls = {"rnet": 0, "onet": 0, "faceres": 0}
    for stage, model in (("rnet", full.detector.rnet), ("onet", full.detector.onet), ("faceres", full.describer)):
        original = model.run

        def counted(batch: Any, outputs: Any = None, _stage: str = stage, _run: Any = original) -> Any:
            assert len(batch) > 0, f"{_stage} run on an empty batch"
            calls[_stage] += len(batch)
            return _run(batch, outputs)

        model.run = counted  # type: ignore[method-assign]
    return calls


def test_without_cascade_the_record_is_the_same(tmp_path: Path, results: dict[str, dict[str, Any]]) -> None:
    names = ["astronaut.png", "000000519208.jpg", "chelsea.png", "rocket.jpg"]
    full = FaceAnalyzer(load_settings(tmp_path, cascade=False))
    calls = counting(full)
    for name, result in zip(names, run(full, list(names)), strict=True):
        assert len(result["FaceDetails"]) == len(results[name]["FaceDetails"])
        for mine, theirs in zip(result["FaceDetails"], results[name]["FaceDetails"], strict=True):
            assert mine["BoundingBox"] == pytest.approx(theirs["BoundingBox"], abs=0.02)
            assert mine["Confidence"] == pytest.approx(theirs["Confidence"], abs=0.5)
        np.testing.assert_allclose(result["FaceEmbeddings"], results[name]["FaceEmbeddings"], atol=1e-3)
        assert result.get("Skipped") == results[name].get("Skipped")
    assert calls["faceres"] == 2 * 2  # the 2 faces, two crops each: nothing for the images without one
    assert calls["onet"] >= 2 and calls["rnet"] >= calls["onet"]


def test_without_cascade_an_image_without_faces_runs_no_faceres(tmp_path: Path) -> None:
    """The baseline that the cascade is measured against does no work for nobody: no faceres on a stand-in face,
    no R-Net or O-Net on boxes the stage before did not keep."""
    full = FaceAnalyzer(load_settings(tmp_path, cascade=False))
    calls = counting(full)
    flat = Image.new("RGB", (320, 240), (90, 140, 200))  # P-Net finds nothing in a flat picture
    (result,) = run(full, [flat])
    assert result["FaceDetails"] == []
    assert calls == {"rnet": 0, "onet": 0, "faceres": 0}
    for name in ("chelsea.png", "rocket.jpg"):
        (result,) = run(full, [name])
        assert result["FaceDetails"] == []
    assert calls["faceres"] == 0


def labelled(name: str, labels: list[Label]) -> ImageRecord:
    return ImageRecord(ImageName=name, Labels=labels, AnalyzerVersions={"labels": "test"})


def person(*boxes: tuple[float, float, float, float]) -> Label:
    instances = [
        Instance(BoundingBox=BoundingBox(Left=x, Top=y, Width=w, Height=h), Confidence=90) for x, y, w, h in boxes
    ]
    return Label(Name="Person", Confidence=95, Instances=instances)


def test_face_search_only_around_the_labelled_people(
    analyzer: FaceAnalyzer, results: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    # The labels' own person boxes for two photos, from the label analyser itself.
    [labels] = create_analyzers(load_settings(tmp_path), ["labels"])
    names = ["000000229358.jpg", "000000000785.jpg"]
    images = [decode((SAMPLES / name).read_bytes()) for name in names]
    found = labels.analyze([labels.prepare(image) for image in images])
    focused = [
        analyzer.focus(labelled(name, values["Labels"]), analyzer.prepare(image))
        for name, values, image in zip(names, found, images, strict=True)
    ]
    assert all(item.regions for item in focused)
    whole = run(analyzer, list(names))
    for result, reference in zip(analyzer.analyze(focused), whole, strict=True):
        assert result["Skipped"]["faces.detection"].startswith("face search only around 1 person box(es)")
        [face] = result["FaceDetails"]
        [theirs] = reference["FaceDetails"]
        assert face["BoundingBox"] == pytest.approx(theirs["BoundingBox"], abs=0.01)
        assert [p["X"] for p in face["Landmarks"]] == pytest.approx([p["X"] for p in theirs["Landmarks"]], abs=0.01)
        assert np.dot(result["FaceEmbeddings"][0], reference["FaceEmbeddings"][0]) > 0.95


def test_face_search_stays_whole_without_person_boxes(analyzer: FaceAnalyzer, tmp_path: Path) -> None:
    image = decode((SAMPLES / "astronaut.png").read_bytes())
    # A box elsewhere: the face is not searched for there (the cascade's price, when the detector misses a person).
    elsewhere = analyzer.focus(labelled("a", [person((0.7, 0.6, 0.2, 0.3))]), analyzer.prepare(image))
    assert elsewhere.regions is not None and analyzer.analyze([elsewhere])[0]["FaceDetails"] == []
    # No labels yet, a Person label without boxes, a box over most of the image, or no cascade: the whole image.
    unlabelled = ImageRecord(ImageName="a")
    without_boxes = labelled("a", [person()])
    big = labelled("a", [person((0.0, 0.0, 0.9, 0.9))])
    for record in (unlabelled, without_boxes, big):
        assert analyzer.focus(record, analyzer.prepare(image)).regions is None
    full = FaceAnalyzer(load_settings(tmp_path, cascade=False))
    assert full.focus(labelled("a", [person((0.7, 0.6, 0.2, 0.3))]), full.prepare(image)).regions is None


def astronaut_variants() -> dict[str, Image.Image]:
    astronaut = Image.open(SAMPLES / "astronaut.png").convert("RGB")
    width, height = astronaut.size
    return {
        "cropped": astronaut.crop((100, 0, 400, 300)),
        "60%": astronaut.resize((int(width * 0.6), int(height * 0.6)), Image.Resampling.LANCZOS),
        "brighter": ImageEnhance.Brightness(astronaut).enhance(1.4),
        "mirrored": astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "all at once": ImageEnhance.Brightness(
            astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((80, 20, 420, 360))
        )
        .enhance(0.7)
        .resize((204, 204)),
    }


def test_same_person_clusters_together_different_people_apart(
    analyzer: FaceAnalyzer, results: dict[str, dict[str, Any]]
) -> None:
    threshold = load_settings(Path("/nonexistent-home")).faces.cluster_similarity
    original = np.array(results["astronaut.png"]["FaceEmbeddings"][0])
    variants = astronaut_variants()
    embeddings: dict[str, np.ndarray] = {}
    for name, result in zip(variants, run(analyzer, list(variants.values())), strict=True):
        [embedding] = result["FaceEmbeddings"]
        embeddings[name] = np.array(embedding)
    same = {name: float(original @ e) for name, e in embeddings.items()}
    assert min(same.values()) >= max(threshold, 0.8), same  # seen: 0.89-0.998

    others = {name: np.array(results[name]["FaceEmbeddings"][0]) for name in WITH_FACE[1:]}
    different = [float(a @ b) for a, b in itertools.combinations([original, *others.values()], 2)]
    assert max(different) < threshold - 0.05, different  # seen: at most about 0.44

    people = People(threshold)
    astronaut = people.assign(original)
    assert {people.assign(e) for e in embeddings.values()} == {astronaut}
    strangers = [people.assign(e) for e in others.values()]
    assert astronaut not in strangers and len(set(strangers)) == len(strangers)
    assert people[astronaut].count == 1 + len(variants)
