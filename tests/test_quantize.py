"""scripts/quantize_models.py on a small classifier-shaped graph, and the bundled int8 classifiers on the samples."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from conftest import SAMPLES, sample_files
from pixlens.analysis.classifier import Classifier
from pixlens.analysis.runtime import model_path

ROOT = Path(__file__).resolve().parent.parent
CHANNELS, CLASSES, SIZE = 8, 10, 16


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("quantize_models", ROOT / "scripts" / "quantize_models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_classifier(path: Path) -> None:
    """Five Conv + ReLU6 layers, global pooling (the ``embedding`` output) and a Gemm (``logits``)."""
    rng = np.random.default_rng(11)
    weights = {"w0": rng.normal(scale=0.3, size=(CHANNELS, 3, 3, 3)).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["input", "w0"], ["c0"], pads=[1, 1, 1, 1], name="conv0")]
    nodes.append(helper.make_node("Clip", ["c0", "zero", "six"], ["a0"], name="clip0"))
    for layer in range(1, 5):
        weights[f"w{layer}"] = rng.normal(scale=0.3, size=(CHANNELS, CHANNELS, 1, 1)).astype(np.float32)
        nodes.append(helper.make_node("Conv", [f"a{layer - 1}", f"w{layer}"], [f"c{layer}"], name=f"conv{layer}"))
        nodes.append(helper.make_node("Clip", [f"c{layer}", "zero", "six"], [f"a{layer}"], name=f"clip{layer}"))
    weights |= {
        "zero": np.array(0.0, dtype=np.float32),
        "six": np.array(6.0, dtype=np.float32),
        "shape": np.array([-1, CHANNELS], dtype=np.int64),
        "fc": rng.normal(size=(CLASSES, CHANNELS)).astype(np.float32),
        "fc_bias": np.zeros(CLASSES, dtype=np.float32),
    }
    nodes += [
        helper.make_node("GlobalAveragePool", ["a4"], ["pooled"], name="pool"),
        helper.make_node("Reshape", ["pooled", "shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc", "fc_bias"], ["logits"], transB=1, name="fc"),
        helper.make_node("Identity", ["flat"], ["embedding"], name="embedding_output"),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, SIZE, SIZE])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", CHANNELS]),
        ],
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[np.ndarray]]:
    folder = tmp_path_factory.mktemp("quantize")
    source, target = folder / "small.onnx", folder / "small_int8.onnx"
    small_classifier(source)
    rng = np.random.default_rng(2)
    inputs = [rng.uniform(-1, 1, size=(3, SIZE, SIZE)).astype(np.float32) for _ in range(16)]
    script().quantize(source, target, inputs, {"calibration_set": "16 random inputs"})
    return source, target, inputs


def test_weights_become_int8_except_the_first_convolutions(quantized: tuple[Path, Path, list[np.ndarray]]) -> None:
    _, target, _ = quantized
    model = onnx.load(str(target))
    int8 = {init.name for init in model.graph.initializer if init.data_type == TensorProto.INT8}
    convs = {node.name: node for node in model.graph.node if node.op_type == "Conv"}
    float_convs = script().FLOAT_CONVS
    for layer in range(5):
        weight = convs[f"conv{layer}"].input[1]
        quantized_weight = f"w{layer}_quantized" in int8
        assert quantized_weight == (layer >= float_convs), (layer, weight)
    assert [output.name for output in model.graph.output] == ["logits", "embedding"]
    metadata = {prop.key: prop.value for prop in model.metadata_props}
    assert metadata == {"pixlens.calibration_set": "16 random inputs"}


def test_the_int8_graph_stays_close_and_the_check_says_so(quantized: tuple[Path, Path, list[np.ndarray]]) -> None:
    source, target, inputs = quantized
    agreement, gap, cosine = script().check(source, target, inputs)
    assert agreement >= 0.8 and gap < 0.2 and cosine > 0.99
    assert script().check(source, source, inputs) == (1.0, 0.0, pytest.approx(1.0))


def test_same_inputs_same_bytes(quantized: tuple[Path, Path, list[np.ndarray]], tmp_path: Path) -> None:
    source, target, inputs = quantized
    again = tmp_path / "again.onnx"
    script().quantize(source, again, inputs, {"calibration_set": "16 random inputs"})
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(target.read_bytes()).digest()


@pytest.mark.parametrize("variant", ["efficientnet_lite2", "efficientnet_lite0"])
def test_bundled_int8_classifier_tracks_its_float_source_on_the_samples(variant: str) -> None:
    """The bars of scripts/quantize_models.py, on the shipped files (the label quality is test_labels.py's)."""
    bars = script()
    classifier = Classifier(variant, threads=1)
    assert classifier.path.name == f"{variant}_int8.onnx"
    batch = []
    for name in sample_files():
        with Image.open(SAMPLES / name) as image:
            batch.append(classifier.preprocess(image.convert("RGB")))
    agreement, gap, cosine = bars.check(model_path(f"{variant}_embed.onnx"), classifier.path, batch)
    assert agreement >= bars.MIN_AGREEMENT and gap <= bars.MAX_FLIP_GAP and cosine >= bars.MIN_COSINE
