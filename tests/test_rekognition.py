"""The Amazon Rekognition backend, against botocore's Stubber on a real boto3 client: every request checked
against what it must send, every response shaped (and validated by the Stubber) as botocore's service model says.
No call leaves the machine."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from PIL import Image

from conftest import SAMPLES
from pgserver import fresh_database
from pixlens.analysis import rekognition, rekognition_image
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.rekognition import REKOGNITION_ACTIONS, Rekognition
from pixlens.analysis.rekognition_analyzers import (
    RekognitionFaces,
    RekognitionLabels,
    RekognitionModeration,
    RekognitionProperties,
    RekognitionText,
)
from pixlens.config import Settings, load_settings
from pixlens.errors import ConfigError
from pixlens.imageio import DecodedImage, DecodeLimits, decode
from pixlens.pipeline import Job, Outcome
from pixlens.record import Status
from pixlens.service import Pixlens
from pixlens.store.base import BucketObject
from pixlens.work import stale_analyzers
from s3server import S3Server

PHOTO = SAMPLES / "000000000072.jpg"  # a JPEG photo
PNG = SAMPLES / "coffee.png"


# -- responses as Rekognition sends them ---------------------------------------------------------------------------
def box(left: float, top: float, width: float, height: float) -> dict[str, float]:
    return {"Width": width, "Height": height, "Left": left, "Top": top}


def labels_response(*extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "Labels": [
            {
                "Name": "Giraffe",
                "Confidence": 99.21843719482422,
                "Instances": [
                    {"BoundingBox": box(0.1, 0.2, 0.3, 0.7), "Confidence": 98.7},
                    {"BoundingBox": box(0.6, 0.25, 0.2, 0.6), "Confidence": 51.0},  # below MinConfidence 55
                    {"BoundingBox": box(0.5, 0.3, 0.2, 0.5), "Confidence": 97.15},
                ],
                "Parents": [{"Name": "Animal"}, {"Name": "Mammal"}],
                "Aliases": [],
                "Categories": [{"Name": "Animals and Pets"}],
            },
            {
                "Name": "Gazebo",  # a label pixlens's taxonomy does not know
                "Confidence": 88.4,
                "Instances": [],
                "Parents": [{"Name": "Architecture"}, {"Name": "Building"}],
                "Aliases": [{"Name": "Pavilion"}],
                "Categories": [{"Name": "Buildings and Architecture"}],
            },
            {
                "Name": "Outdoors",
                "Confidence": 93.0,
                "Instances": [],
                "Parents": [],
                "Aliases": [],
                "Categories": [{"Name": "Travel and Adventure"}],
            },
            *extra,
        ],
        "LabelModelVersion": "3.0",
    }


PROPERTIES_RESPONSE = {
    "ImageProperties": {
        "Quality": {"Brightness": 62.58, "Sharpness": 86.6, "Contrast": 71.2},
        "DominantColors": [
            {"Red": 80, "Blue": 66, "Green": 120, "HexCode": "#507842", "CSSColor": "darkolivegreen",
             "SimplifiedColor": "green", "PixelPercent": 40.11},
            {"Red": 135, "Blue": 235, "Green": 206, "HexCode": "#87CEEB", "CSSColor": "skyblue",
             "SimplifiedColor": "blue", "PixelPercent": 35.5},
        ],
        "Foreground": {
            "Quality": {"Brightness": 55.0, "Sharpness": 90.1},
            "DominantColors": [{"Red": 180, "Blue": 60, "Green": 140, "HexCode": "#B48C3C", "CSSColor": "peru",
                                "SimplifiedColor": "brown", "PixelPercent": 12.0}],
        },
        "Background": {
            "Quality": {"Brightness": 70.0, "Sharpness": 80.0},
            "DominantColors": [{"Red": 135, "Blue": 235, "Green": 206, "HexCode": "#87CEEB", "CSSColor": "skyblue",
                                "SimplifiedColor": "blue", "PixelPercent": 55.0}],
        },
    },
    "LabelModelVersion": "3.0",
}  # fmt: skip


def geometry(left: float, top: float, width: float, height: float) -> dict[str, Any]:
    corners = [(left, top), (left + width, top), (left + width, top + height), (left, top + height)]
    return {"BoundingBox": box(left, top, width, height), "Polygon": [{"X": x, "Y": y} for x, y in corners]}


TEXT_RESPONSE = {
    "TextDetections": [
        {"DetectedText": "OPEN 24 HOURS", "Type": "LINE", "Id": 0, "Confidence": 99.52,
         "Geometry": geometry(0.1, 0.1, 0.5, 0.08)},
        {"DetectedText": "blurry", "Type": "LINE", "Id": 1, "Confidence": 31.0,
         "Geometry": geometry(0.1, 0.8, 0.2, 0.05)},
        {"DetectedText": "OPEN", "Type": "WORD", "Id": 2, "ParentId": 0, "Confidence": 99.8,
         "Geometry": geometry(0.1, 0.1, 0.15, 0.08)},
        {"DetectedText": "24", "Type": "WORD", "Id": 3, "ParentId": 0, "Confidence": 99.1,
         "Geometry": geometry(0.27, 0.1, 0.06, 0.08)},
        {"DetectedText": "HOURS", "Type": "WORD", "Id": 4, "ParentId": 0, "Confidence": 99.6,
         "Geometry": geometry(0.35, 0.1, 0.25, 0.08)},
        {"DetectedText": "blurry", "Type": "WORD", "Id": 5, "ParentId": 1, "Confidence": 60.0,
         "Geometry": geometry(0.1, 0.8, 0.2, 0.05)},
    ],
    "TextModelVersion": "3.0",
}  # fmt: skip

FACES_RESPONSE = {
    "FaceDetails": [
        {
            "BoundingBox": box(0.41, 0.18, 0.12, 0.2),
            "AgeRange": {"Low": 25, "High": 35},
            "Gender": {"Value": "Female", "Confidence": 99.1},
            "Emotions": [{"Type": "HAPPY", "Confidence": 92.0}, {"Type": "CALM", "Confidence": 5.0}],
            "Landmarks": [
                {"Type": "eyeLeft", "X": 0.45, "Y": 0.25},
                {"Type": "eyeRight", "X": 0.5, "Y": 0.25},
                {"Type": "nose", "X": 0.47, "Y": 0.29},
            ],
            "Pose": {"Roll": 1.5, "Yaw": -4.0, "Pitch": 6.2},
            "Quality": {"Brightness": 80.0, "Sharpness": 78.6},
            "Confidence": 99.99,
        },
        {"BoundingBox": box(0.9, 0.9, 0.05, 0.05), "Confidence": 60.0},  # below faces.min_confidence (90)
    ],
    "OrientationCorrection": "ROTATE_0",
}

MODERATION_RESPONSE = {
    "ModerationLabels": [
        {"Confidence": 87.5, "Name": "Swimwear or Underwear", "ParentName": "", "TaxonomyLevel": 1},
        {"Confidence": 87.5, "Name": "Female Swimwear or Underwear", "ParentName": "Swimwear or Underwear",
         "TaxonomyLevel": 2},
    ],
    "ModerationModelVersion": "7.0",
    "ContentTypes": [],
}  # fmt: skip


# -- a real client, stubbed --------------------------------------------------------------------------------------
def stubbed_client() -> tuple[Any, Stubber]:
    client = boto3.client(
        "rekognition", region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return client, Stubber(client)


def quick(**overrides: Any) -> Settings:
    """Settings for the Rekognition backend that never wait long between attempts, with calls made in order."""
    rekognition_options = {"backoff_seconds": 0.001, "backoff_max_seconds": 0.005, "concurrent_calls": 1}
    rekognition_options.update(overrides.pop("rekognition", {}))
    return Settings(analysis={"backend": "rekognition"}, rekognition=rekognition_options, **overrides)


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    """The Stubber of the client every Rekognition analyser built from settings shares; all its responses used."""
    client, stubber = stubbed_client()
    monkeypatch.setattr(rekognition, "make_client", lambda options: client)
    monkeypatch.setattr(Rekognition, "_shared", {})
    with stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def decoded(path: Path, origin: BucketObject | None = None) -> DecodedImage:
    data = path.read_bytes()
    return DecodedImage(**{**decode(data).__dict__, "data": data, "sha256": path.name, "origin": origin})


def photo() -> Image.Image:
    with Image.open(PHOTO) as picture:
        picture.load()
        return picture


def bytes_of(path: Path) -> dict[str, Any]:
    return {"Bytes": path.read_bytes()}


# -- the calls and their mapping onto the record -----------------------------------------------------------------
def test_detect_labels_sends_the_settings_and_fills_labels_as_the_bundled_models_do(stub: Stubber) -> None:
    settings = quick(labels={"min_confidence": 55, "max_labels": 2, "exclude_categories": ["Weapons and Military"]})
    (analyzer,) = create_analyzers(settings, ["labels"])
    assert isinstance(analyzer, RekognitionLabels)
    stub.add_response(
        "detect_labels",
        labels_response(),
        {
            "Image": bytes_of(PHOTO),
            "MaxLabels": 2,
            "MinConfidence": 55.0,
            "Features": ["GENERAL_LABELS"],
            "Settings": {"GeneralLabels": {"LabelCategoryExclusionFilters": ["Weapons and Military"]}},
        },
    )
    (fields,) = analyzer.analyze([analyzer.prepare(decoded(PHOTO))])
    assert fields["LabelModelVersion"] == "rekognition-3.0"
    giraffe, outdoors = fields["Labels"]  # best first, MaxLabels 2
    assert (giraffe.Name, giraffe.Confidence, outdoors.Name) == ("Giraffe", 99.22, "Outdoors")
    assert [instance.Confidence for instance in giraffe.Instances] == [98.7, 97.15]  # best first, >= 55
    assert giraffe.Instances[0].BoundingBox.model_dump() == {"Left": 0.1, "Top": 0.2, "Width": 0.3, "Height": 0.7}
    assert [p.Name for p in giraffe.Parents] == ["Animal", "Mammal"]
    assert [c.Name for c in giraffe.Categories] == ["Animals and Pets"]


def test_label_filters_keep_the_bundled_meaning_a_parent_name_takes_its_children(stub: Stubber) -> None:
    settings = quick(labels={"include_labels": ["building"]})
    (analyzer,) = create_analyzers(settings, ["labels"])
    stub.add_response(
        "detect_labels",
        labels_response(),
        {"Image": ANY, "MaxLabels": 10, "MinConfidence": 55.0, "Features": ["GENERAL_LABELS"],
         "Settings": {"GeneralLabels": {"LabelInclusionFilters": ["building"]}}},
    )  # fmt: skip
    (fields,) = analyzer.analyze([analyzer.prepare(decoded(PHOTO))])
    gazebo = fields["Labels"][0]
    assert [label.Name for label in fields["Labels"]] == ["Gazebo"]
    assert [a.Name for a in gazebo.Aliases] == ["Pavilion"]


def test_a_filter_rekognition_would_refuse_is_a_settings_error() -> None:
    with pytest.raises(ConfigError, match="at most 50 characters"):
        create_analyzers(quick(labels={"exclude_labels": ["x" * 51]}), ["labels"])


def test_no_region_is_a_settings_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setattr(Rekognition, "_shared", {})
    with pytest.raises(ConfigError, match=r"needs a region: set rekognition\.region"):
        create_analyzers(quick(), ["text"])


def test_image_properties_map_onto_colours_and_quality(stub: Stubber) -> None:
    (analyzer,) = create_analyzers(quick(properties={"max_colors": 3}), ["properties"])
    assert isinstance(analyzer, RekognitionProperties)
    stub.add_response(
        "detect_labels",
        PROPERTIES_RESPONSE,
        {"Image": bytes_of(PHOTO), "Features": ["IMAGE_PROPERTIES"],
         "Settings": {"ImageProperties": {"MaxDominantColors": 3}}},
    )  # fmt: skip
    (fields,) = analyzer.analyze([analyzer.prepare(decoded(PHOTO))])
    properties = fields["ImageProperties"]
    assert properties["Quality"] == {"Brightness": 62.58, "Sharpness": 86.6, "Contrast": 71.2}
    first = properties["DominantColors"][0]
    assert first == {"Red": 80, "Green": 120, "Blue": 66, "HexCode": "#507842", "CSSColor": "darkolivegreen",
                     "SimplifiedColor": "green", "PixelPercent": 40.11}  # fmt: skip
    assert properties["Background"]["DominantColors"][0]["SimplifiedColor"] == "blue"
    assert len(fields["PerceptualHash"]) == 16  # computed here, for near-duplicates, as the bundled analyser does


def test_text_faces_and_moderation(stub: Stubber) -> None:
    settings = quick(rekognition={"face_attributes": ["DEFAULT", "AGE_RANGE", "EMOTIONS"]})
    text, faces, moderation = create_analyzers(settings, ["text", "faces", "moderation"])
    assert isinstance(text, RekognitionText) and isinstance(faces, RekognitionFaces)
    assert isinstance(moderation, RekognitionModeration)
    image = decoded(PHOTO)
    stub.add_response("detect_text", TEXT_RESPONSE, {"Image": ANY, "Filters": {"WordFilter": {"MinConfidence": 50.0}}})
    stub.add_response(
        "detect_faces", FACES_RESPONSE, {"Image": ANY, "Attributes": ["DEFAULT", "AGE_RANGE", "EMOTIONS"]}
    )
    stub.add_response("detect_moderation_labels", MODERATION_RESPONSE, {"Image": ANY, "MinConfidence": 50.0})

    (found,) = text.analyze([text.prepare(image)])
    lines = [(d["DetectedText"], d["Type"]) for d in found["TextDetections"]]
    assert lines == [("OPEN 24 HOURS", "LINE"), ("OPEN", "WORD"), ("24", "WORD"), ("HOURS", "WORD")]  # no "blurry"
    assert found["TextDetections"][1]["ParentId"] == 0
    assert found["TextDetections"][0]["Geometry"]["Polygon"][2] == {"X": 0.6, "Y": 0.18}

    (found,) = faces.analyze([faces.prepare(image)])
    (face,) = found["FaceDetails"]
    assert face["AgeRange"] == {"Low": 25, "High": 35} and face["Landmarks"][0]["Type"] == "eyeLeft"
    assert "FaceEmbeddings" not in found  # Rekognition gives none: no people from this backend

    (found,) = moderation.analyze([moderation.prepare(image)])
    assert found["ModerationLabels"][1] == {
        "Name": "Female Swimwear or Underwear", "Confidence": 87.5, "ParentName": "Swimwear or Underwear",
        "TaxonomyLevel": 2,
    }  # fmt: skip


# -- how the image travels -------------------------------------------------------------------------------------------
def test_an_image_in_a_bucket_is_sent_as_its_s3_object(stub: Stubber) -> None:
    (analyzer,) = create_analyzers(quick(), ["labels"])
    image = decoded(PHOTO, BucketObject("photos", "trips/giraffe.jpg"))
    stub.add_response(
        "detect_labels",
        labels_response(),
        {"Image": {"S3Object": {"Bucket": "photos", "Name": "trips/giraffe.jpg"}}, "MaxLabels": 10,
         "MinConfidence": 55.0, "Features": ["GENERAL_LABELS"]},
    )  # fmt: skip
    analyzer.analyze([analyzer.prepare(image)])


def test_s3_objects_can_be_turned_off() -> None:
    image = decoded(PHOTO, BucketObject("photos", "giraffe.jpg"))
    assert rekognition_image.image_parameter(image, s3_objects=False) == bytes_of(PHOTO)


def test_a_png_within_the_limits_is_sent_as_it_is() -> None:
    assert rekognition_image.image_parameter(decoded(PNG)) == bytes_of(PNG)


def sent_picture(parameter: dict[str, Any]) -> Image.Image:
    data = parameter["Bytes"]
    assert len(data) <= rekognition_image.BYTES_MAX
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.format == "JPEG"
        picture.load()
        return picture


def test_a_webp_is_sent_as_a_jpeg_re_encoded_even_from_a_bucket(tmp_path: Path) -> None:
    webp = tmp_path / "giraffe.webp"
    photo().save(webp, "WEBP", quality=90)
    parameter = rekognition_image.image_parameter(decoded(webp, BucketObject("photos", "giraffe.webp")))
    assert sent_picture(parameter).size == photo().size


def test_a_big_image_is_sent_as_a_resized_jpeg_within_5_mb(tmp_path: Path) -> None:
    big = tmp_path / "big.png"
    photo().resize((6400, 4270), Image.Resampling.BICUBIC).save(big, compress_level=1)
    assert big.stat().st_size > rekognition_image.S3_OBJECT_MAX_BYTES  # too big for Rekognition both ways
    image = decode(big.read_bytes(), DecodeLimits())
    image = DecodedImage(
        **{**image.__dict__, "data": big.read_bytes(), "sha256": "big", "origin": BucketObject("b", "k")}
    )
    parameter = rekognition_image.image_parameter(image, max_side=4096)
    assert sent_picture(parameter).size == (4096, 2733)  # from the file itself, not the 1024-px working copy


def test_a_small_image_is_scaled_up_to_80_pixels_and_a_thin_strip_cannot_be_sent(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    photo().resize((60, 40)).save(small)
    limits = DecodeLimits(min_side=1)
    image = DecodedImage(**{**decode(small.read_bytes(), limits).__dict__, "data": small.read_bytes()})
    assert sent_picture(rekognition_image.image_parameter(image)).size == (120, 80)
    strip = tmp_path / "strip.png"
    Image.new("RGB", (4000, 20), "white").save(strip)
    image = DecodedImage(**{**decode(strip.read_bytes(), limits).__dict__, "data": strip.read_bytes()})
    with pytest.raises(Exception, match="cannot be sent to Amazon Rekognition: 4000 x 20 pixels"):
        rekognition_image.image_parameter(image)


# -- throttling and refusals ------------------------------------------------------------------------------------------
def test_throttling_is_retried_with_backoff_then_succeeds(stub: Stubber) -> None:
    (analyzer,) = create_analyzers(quick(), ["moderation"])
    for code in ("ThrottlingException", "ProvisionedThroughputExceededException", "LimitExceededException"):
        stub.add_client_error("detect_moderation_labels", code, "Rate exceeded", 400)
    stub.add_response("detect_moderation_labels", MODERATION_RESPONSE, {"Image": ANY, "MinConfidence": 50.0})
    (fields,) = analyzer.analyze([analyzer.prepare(decoded(PHOTO))])
    assert fields["ModerationLabels"][0]["Name"] == "Swimwear or Underwear"


def test_backoff_doubles_with_full_jitter_up_to_its_bound() -> None:
    options = Settings().rekognition.model_copy(update={"backoff_seconds": 0.5, "backoff_max_seconds": 4.0})
    waits = Rekognition(None, options).backoff
    assert all(0 <= waits(1) <= 0.5 for _ in range(50)) and all(0 <= waits(10) <= 4.0 for _ in range(50))
    assert max(waits(4) for _ in range(200)) > 2.0  # 0.5 * 2**3 = 4: the ceiling has grown


def test_throttling_past_the_bound_fails_the_record_with_its_reason(stub: Stubber) -> None:
    (analyzer,) = create_analyzers(quick(rekognition={"max_attempts": 3}), ["text"])
    for _ in range(3):
        stub.add_client_error("detect_text", "ThrottlingException", "Rate exceeded", 400)
    (fields,) = analyzer.analyze([analyzer.prepare(decoded(PHOTO))])
    assert fields == {"Failed": "rekognition:DetectText: still ThrottlingException after 3 attempts; retry later "
                      "(pixlens reconcile --retry-failed)"}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("InvalidImageFormatException", "cannot read the image format"),
        ("ImageTooLargeException", "larger than Rekognition takes"),
        ("InvalidS3ObjectException", "could not read the object from S3"),
        ("AccessDeniedException", "may not call Rekognition"),
    ],
)
def test_a_refusal_fails_only_that_image(stub: Stubber, code: str, reason: str) -> None:
    (analyzer,) = create_analyzers(quick(), ["labels"])
    stub.add_client_error("detect_labels", code, "nope", 400)
    stub.add_response("detect_labels", labels_response())
    first, second = analyzer.analyze([analyzer.prepare(decoded(PHOTO)), analyzer.prepare(decoded(PNG))])
    assert first["Failed"].startswith(f"rekognition:DetectLabels: {code}: ") and reason in first["Failed"]
    assert second["Labels"][0].Name == "Giraffe"


def test_calls_on_a_batch_run_several_at_once(stub: Stubber) -> None:
    (analyzer,) = create_analyzers(quick(rekognition={"concurrent_calls": 3}), ["text"])
    for _ in range(3):
        stub.add_response(
            "detect_text", TEXT_RESPONSE, {"Image": ANY, "Filters": {"WordFilter": {"MinConfidence": 50.0}}}
        )
    found = analyzer.analyze([analyzer.prepare(decoded(path)) for path in (PHOTO, PNG, PHOTO)])
    assert [fields["TextDetections"][0]["DetectedText"] for fields in found] == ["OPEN 24 HOURS"] * 3


def test_every_aws_call_is_listed() -> None:
    assert REKOGNITION_ACTIONS == (
        "rekognition:DetectLabels",
        "rekognition:DetectText",
        "rekognition:DetectFaces",
        "rekognition:DetectModerationLabels",
    )
    with pytest.raises(ValueError, match="not one of the Rekognition operations"):
        Rekognition(None, Settings().rekognition).call("index_faces")


# -- the backend by settings, end to end -----------------------------------------------------------------------------
def test_versions_name_the_backend_so_a_switch_re_analyses(stub: Stubber) -> None:
    names = ["labels", "text", "faces", "moderation", "properties"]
    bundled_versions = {"labels": "efficientnet_lite2+centernet/...", "text": "rapidocr/..."}
    versions = {a.name: a.version for a in create_analyzers(quick(), names)}
    assert versions["labels"].startswith("rekognition:DetectLabels[GENERAL_LABELS]/v1/")
    assert versions["properties"].startswith("rekognition:DetectLabels[IMAGE_PROPERTIES]/v1/")
    assert versions["faces"].startswith("rekognition:DetectFaces[DEFAULT]/v1/")
    assert stale_analyzers(bundled_versions, versions) == tuple(names)
    tighter = {a.name: a.version for a in create_analyzers(quick(labels={"min_confidence": 70}), names)}
    assert stale_analyzers(versions, tighter) == ("labels",)
    other_model = {
        a.name: a.version for a in create_analyzers(quick(labels={"classifier": "efficientnet_lite0"}), names)
    }
    assert stale_analyzers(versions, other_model) == ()  # a bundled model's setting costs no Rekognition call


def test_backend_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIXLENS_ANALYSIS__BACKEND", "rekognition")
    monkeypatch.setenv("PIXLENS_REKOGNITION__FACE_ATTRIBUTES", '["ALL"]')
    settings = load_settings(tmp_path / "home")
    assert settings.analysis.backend == "rekognition" and settings.rekognition.face_attributes == ["ALL"]
    monkeypatch.setenv("PIXLENS_ANALYSIS__BACKEND", "cloud")
    with pytest.raises(Exception, match=r"analysis\.backend"):
        load_settings(tmp_path / "home")


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    with fresh_database() as url:
        yield url


def test_the_pipeline_with_rekognition_fills_a_searchable_catalog(
    stub: Stubber, tmp_path: Path, catalog_url: str
) -> None:
    home = tmp_path / "home"
    store = home / "images"
    store.mkdir(parents=True)
    for path in (PHOTO, PNG):
        (store / path.name).write_bytes(path.read_bytes())
    (store / "broken.jpg").write_bytes(PHOTO.read_bytes()[:2000])
    settings = {
        "catalog": catalog_url,
        "analysis": {"backend": "rekognition"},
        "rekognition": {"backoff_seconds": 0.001, "concurrent_calls": 1},
        "analyzers": ["labels", "moderation", "faces", "properties", "thumbnail"],
        "parallel_analyzers": 1,
    }
    (home / "pixlens.toml").write_text(toml(settings))
    lens = Pixlens(load_settings(home))
    sent = bytes_of(PHOTO)
    try:
        stub.add_response("detect_labels", labels_response(), {"Image": sent, "MaxLabels": 10,
                          "MinConfidence": 55.0, "Features": ["GENERAL_LABELS"]})  # fmt: skip
        stub.add_client_error("detect_labels", "InvalidImageFormatException", "Request has invalid image format")
        # The other analysers still run on the refused image (a record never depends on the schedule); it stays failed.
        for response in (MODERATION_RESPONSE, {"ModerationLabels": []}):
            stub.add_response("detect_moderation_labels", response, {"Image": ANY, "MinConfidence": 50.0})
        for response in (FACES_RESPONSE, {"FaceDetails": []}):
            stub.add_response("detect_faces", response, {"Image": ANY, "Attributes": ["DEFAULT"]})
        for _ in range(2):
            stub.add_response("detect_labels", PROPERTIES_RESPONSE, {"Image": ANY, "Features": ["IMAGE_PROPERTIES"],
                              "Settings": {"ImageProperties": {"MaxDominantColors": 5}}})  # fmt: skip
        keys = [PHOTO.name, PNG.name, "broken.jpg"]
        results = {r.key: r for r in lens.pipeline.process([Job(key) for key in keys])}
        assert results[PHOTO.name].outcome is Outcome.ANALYZED
        assert results[PNG.name].outcome is Outcome.FAILED  # refused by Rekognition: a record with the reason
        assert "InvalidImageFormatException" in (results[PNG.name].error or "")
        assert results["broken.jpg"].outcome is Outcome.FAILED  # never sent: it does not decode

        record = lens.catalog.get(PHOTO.name)
        assert record is not None and record.Status is Status.ANALYZED and record.Thumbnail
        assert record.AnalyzerVersions["labels"].startswith("rekognition:DetectLabels")
        assert len(record.FaceDetails) == 1 and not record.FaceEmbeddings  # a face, no person
        assert lens.catalog.get(PNG.name).Status is Status.FAILED  # type: ignore[union-attr]
        for query in ("Gazebo", "gazebo", "Outdoors", "giraffe AND gazebo", "building AND NOT dog", "mammal",
                      "category:travel", "category:animals", "faces", "color:green"):  # fmt: skip
            assert [hit.key for hit in lens.search(query).hits] == [PHOTO.name], query
    finally:
        lens.close()
    # The command line reads the same catalog (no Rekognition call: a search is the catalog's).
    found = subprocess.run(
        [str(Path(sys.executable).with_name("pixlens")), "--home", str(home), "search", "Gazebo", "--json"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert PHOTO.name in found.stdout


def toml(settings: dict[str, Any]) -> str:
    lines = [f"{key} = {json.dumps(value)}" for key, value in settings.items() if not isinstance(value, dict)]
    for section, values in settings.items():
        if isinstance(values, dict):
            lines += [f"[{section}]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    return "\n".join(lines) + "\n"


def test_an_s3_store_sends_jpeg_and_png_as_s3_objects_and_a_webp_as_bytes(
    stub: Stubber, s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    """The store is a real bucket (SeaweedFS); Rekognition is told the bucket and object name, not the bytes."""
    webp = tmp_path / "giraffe.webp"
    photo().save(webp, "WEBP", quality=90)
    bucket = s3_server.client()
    for path, name in ((PHOTO, "trip/giraffe.jpg"), (PNG, "trip/coffee.png"), (webp, "trip/giraffe.webp")):
        bucket.put_object(Bucket=s3_bucket, Key=f"photos/{name}", Body=path.read_bytes())
    settings = quick(
        store=f"s3://{s3_bucket}/photos",
        catalog=f"sqlite:///{tmp_path / 'catalog.db'}",
        home=tmp_path / "home",
        s3={"endpoint_url": s3_server.endpoint},
        analyzers=["labels"],
    )
    lens = Pixlens(settings)
    expected = {"MaxLabels": 10, "MinConfidence": 55.0, "Features": ["GENERAL_LABELS"]}
    for name in ("trip/giraffe.jpg", "trip/coffee.png"):
        s3_object = {"S3Object": {"Bucket": s3_bucket, "Name": f"photos/{name}"}}
        stub.add_response("detect_labels", labels_response(), {"Image": s3_object, **expected})
    stub.add_response("detect_labels", labels_response(), {"Image": {"Bytes": ANY}, **expected})
    try:
        keys = ["trip/giraffe.jpg", "trip/coffee.png", "trip/giraffe.webp"]
        results = lens.pipeline.process([Job(key) for key in keys])
        assert [result.outcome for result in results] == [Outcome.ANALYZED] * 3
        assert sorted(hit.key for hit in lens.search("gazebo").hits) == sorted(keys)
    finally:
        lens.close()
