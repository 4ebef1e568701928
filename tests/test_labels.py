"""Labels from the real models on the real sample photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pixlens.analysis.calibration import Calibration, anchor, fit
from pixlens.analysis.evaluation import coco_labels, ground_truth, predicted, score
from pixlens.analysis.labels import LabelAnalyzer
from pixlens.analysis.runtime import model_path
from pixlens.config import load_settings
from pixlens.errors import ModelError
from pixlens.imageio import decode
from pixlens.service import Pixlens


def labels_of(lens: Pixlens, key: str) -> dict[str, float]:
    record = lens.show(key)
    assert record is not None
    return {label.Name: label.Confidence for label in record.Labels}


def test_the_cat_photo_is_a_cat_with_its_parents(analysed: Pixlens) -> None:
    for key in ("chelsea.png", "000000358083.jpg"):
        record = analysed.show(key)
        assert record is not None
        cat = next(label for label in record.Labels if label.Name == "Cat")
        parents = [parent.Name for parent in cat.Parents]
        assert {"Feline", "Mammal", "Animal"} <= set(parents)
        assert cat.Confidence >= 55
        assert cat.Categories and cat.Categories[0].Name == "Animals and Pets"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("000000000285.jpg", "Bear"),
        ("000000000072.jpg", "Giraffe"),
        ("000000519208.jpg", "Elephant"),
        ("000000214753.jpg", "Horse"),
        ("000000012062.jpg", "Sheep"),
        ("000000423617.jpg", "Bus"),
        ("000000516008.jpg", "Laptop"),
        ("000000121647.jpg", "Pizza"),
        ("000000551780.jpg", "Clock"),
        ("000000000885.jpg", "Tennis Racket"),
        ("000000000785.jpg", "Person"),
    ],
)
def test_each_coco_photo_yields_its_main_object(analysed: Pixlens, key: str, expected: str) -> None:
    assert expected in labels_of(analysed, key)


def test_detected_labels_carry_boxes_on_the_object(analysed: Pixlens) -> None:
    record = analysed.show("000000000285.jpg")
    assert record is not None
    bear = next(label for label in record.Labels if label.Name == "Bear")
    assert bear.Instances
    box = bear.Instances[0].BoundingBox
    assert 0 <= box.Left < 1 and 0 <= box.Top < 1 and box.Width > 0.3 and box.Height > 0.3
    assert box.Left + box.Width <= 1.0001 and box.Top + box.Height <= 1.0001


def test_classifier_adds_vocabulary_beyond_coco(analysed: Pixlens) -> None:
    coco = set(coco_labels(analysed.taxonomy).values())
    extra = {
        name
        for record_key in ("chelsea.png", "coffee.png", "000000000285.jpg", "camera.png")
        for name in labels_of(analysed, record_key)
        if name not in coco
    }
    assert extra & {"Egyptian Cat", "Espresso", "Brown Bear", "Tripod"}


def test_label_precision_and_recall_on_the_samples(analysed: Pixlens, samples_dir: Path) -> None:
    """Measured 0.85 / 0.63 at the defaults; the bounds fail if a model or the calibration breaks."""
    truth = ground_truth(samples_dir / "labels.csv", analysed.taxonomy)
    scored = set(coco_labels(analysed.taxonomy).values())
    predictions = {}
    for name in truth:
        record = analysed.show(name)
        assert record is not None
        predictions[name] = predicted(record.Labels, scored)
    result = score(predictions, truth)
    assert result.precision >= 0.80, result
    assert result.recall >= 0.58, result


def test_confidences_are_calibrated_not_raw(analysed: Pixlens) -> None:
    record = analysed.show("000000000285.jpg")
    assert record is not None
    assert all(55 <= label.Confidence <= 100 for label in record.Labels)
    assert len(record.Labels) <= 10
    confidences = [label.Confidence for label in record.Labels]
    assert confidences == sorted(confidences, reverse=True)


@pytest.fixture(scope="module")
def bear_image(samples_dir: Path) -> object:
    return decode((samples_dir / "000000000285.jpg").read_bytes())


def analyse_with(tmp_path: Path, image: object, **labels: object) -> list[str]:
    analyzer = LabelAnalyzer(load_settings(tmp_path, labels=labels))
    (fields,) = analyzer.analyze([analyzer.prepare(image)])  # type: ignore[arg-type]
    return [label.Name for label in fields["Labels"]]


def test_settings_filter_and_cap_labels(tmp_path: Path, bear_image: object) -> None:
    everything = analyse_with(tmp_path, bear_image, min_confidence=0, max_labels=1000)
    assert len(everything) > 10
    assert len(analyse_with(tmp_path, bear_image, max_labels=1)) == 1
    assert analyse_with(tmp_path, bear_image, min_confidence=99.99) == []
    only_animals = analyse_with(tmp_path, bear_image, min_confidence=0, include_categories=["Animals and Pets"])
    assert "Bear" in only_animals and len(only_animals) < len(everything)
    assert "Bear" not in analyse_with(tmp_path, bear_image, min_confidence=0, exclude_labels=["mammal"])
    kept = analyse_with(tmp_path, bear_image, include_labels=["Bear"])
    taxonomy = LabelAnalyzer(load_settings(tmp_path)).taxonomy
    assert "Bear" in kept
    assert all(name == "Bear" or "Bear" in taxonomy.info(name).parents for name in kept)


def test_fast_classifier_and_accurate_mode_find_the_bear(tmp_path: Path, bear_image: object) -> None:
    assert "Bear" in analyse_with(tmp_path, bear_image, classifier="efficientnet_lite0")
    assert "Bear" in analyse_with(tmp_path, bear_image, accurate=True)


def test_analyser_version_changes_with_the_settings_that_shape_records(tmp_path: Path) -> None:
    default = LabelAnalyzer(load_settings(tmp_path))
    stricter = LabelAnalyzer(load_settings(tmp_path, labels={"min_confidence": 70}))
    assert default.model_version == stricter.model_version
    assert default.version != stricter.version


def test_a_damaged_model_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pixlens.analysis.runtime as runtime

    fake = tmp_path / "models"
    fake.mkdir()
    real = runtime.model_dir()
    (fake / "SHA256SUMS").write_text((real / "SHA256SUMS").read_text())
    (fake / "centernet_fused.onnx").write_bytes(b"not a model")
    monkeypatch.setattr(runtime, "model_dir", lambda: fake)
    runtime._checksums.cache_clear()
    try:
        with pytest.raises(ModelError, match="damaged or was replaced"):
            model_path("centernet_fused.onnx")
        with pytest.raises(ModelError, match="missing"):
            model_path("efficientnet_lite2_embed.onnx")
    finally:
        runtime._checksums.cache_clear()


def test_calibration_fit_recovers_a_known_logistic() -> None:
    rng = np.random.default_rng(7)
    scores = rng.uniform(0.02, 0.98, size=4000)
    truth = Calibration((2.0,), -1.0)
    probability = np.array([truth.confidence(s) / 100 for s in scores])
    correct = rng.uniform(size=scores.size) < probability
    fitted = fit([[s] for s in scores], correct.tolist())
    assert fitted.weights[0] == pytest.approx(2.0, abs=0.25)
    assert fitted.bias == pytest.approx(-1.0, abs=0.25)


def test_calibration_fit_is_finite_on_separable_data() -> None:
    fitted = fit([[0.1], [0.2], [0.8], [0.9]], [False, False, True, True])
    assert np.isfinite(fitted.weights[0]) and np.isfinite(fitted.bias)
    assert fitted.confidence(0.9) > 50 > fitted.confidence(0.1)


def test_anchor_puts_the_default_threshold_at_the_target_precision() -> None:
    features = [[s] for s in (0.9, 0.8, 0.7, 0.6, 0.5, 0.4)]
    correct = [True, True, True, False, True, False]
    anchored = anchor(Calibration((1.0,), 0.0), features, correct, precision=0.8)
    kept = [c for f, c in zip(features, correct, strict=True) if anchored.confidence(*f) >= 55]
    assert kept == [True, True, True, False, True]
