"""scripts/fuse_hard_swish.py on a small graph spelled the way the TF.js export spells MobileNetV3's activations."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
SIXTH = 0.16662598  # the export's rounding of 1/6
SHAPE = [1, 8, 16, 16]


def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuse_hard_swish", ROOT / "scripts" / "fuse_hard_swish.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported_block(extra_reader: bool = False, scale: float = SIXTH) -> onnx.ModelProto:
    """Conv -> hard-swish -> squeeze-and-excite gate (hard-sigmoid) -> gated features. With ``extra_reader``,
    the hard-swish's Clip is also a graph output, so that subgraph must stay as it is."""
    rng = np.random.default_rng(3)
    weights = {
        "w": rng.normal(size=(8, 4, 3, 3)).astype(np.float32),
        "w_se": rng.normal(size=(8, 8, 1, 1)).astype(np.float32) * 0.3,
        "three": np.array(3.0, dtype=np.float32),
        "zero": np.array(0.0, dtype=np.float32),
        "six": np.array(6.0, dtype=np.float32),
        "sixth": np.array(scale, dtype=np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("Mul", ["sixth", "y"], ["y_scaled"]),
        helper.make_node("Add", ["y", "three"], ["y_shift"]),
        helper.make_node("Clip", ["y_shift", "zero", "six"], ["y_clip"]),
        helper.make_node("Mul", ["y_scaled", "y_clip"], ["h"]),
        helper.make_node("GlobalAveragePool", ["h"], ["pooled"]),
        helper.make_node("Conv", ["pooled", "w_se"], ["gate_in"]),
        helper.make_node("Add", ["gate_in", "three"], ["gate_shift"]),
        helper.make_node("Clip", ["gate_shift", "zero", "six"], ["gate_clip"]),
        helper.make_node("Mul", ["gate_clip", "sixth"], ["gate"]),
        helper.make_node("Mul", ["gate", "h"], ["out"]),
    ]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, SHAPE)]
    if extra_reader:
        outputs.append(helper.make_tensor_value_info("y_clip", TensorProto.FLOAT, SHAPE))
        nodes.append(helper.make_node("Identity", ["y_clip"], ["y_clip_copy"]))
        outputs.append(helper.make_tensor_value_info("y_clip_copy", TensorProto.FLOAT, SHAPE))
    graph = helper.make_graph(
        nodes,
        "block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 16, 16])],
        outputs,
        [numpy_helper.from_array(value, name) for name, value in weights.items()],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(["out"], {"x": x})[0]
    return result


def test_activations_become_onnx_operators_with_the_same_output() -> None:
    original = exported_block()
    fused = onnx.ModelProto()
    fused.CopyFrom(original)
    assert script().fuse(fused) == (1, 1)
    kinds = [node.op_type for node in fused.graph.node]
    assert "Clip" not in kinds and "Add" not in kinds
    assert kinds.count("HardSwish") == 1 and kinds.count("HardSigmoid") == 1
    assert {init.name for init in fused.graph.initializer} == {"w", "w_se"}  # the constants went with them
    x = np.random.default_rng(5).normal(scale=3.0, size=(1, 4, 16, 16)).astype(np.float32)
    before, after = run(original, x), run(fused, x)
    assert np.abs(before).max() > 1.0  # the activations are exercised, not all zero
    np.testing.assert_allclose(after, before, rtol=2e-3, atol=2e-3)


def test_a_subgraph_read_elsewhere_is_left_alone() -> None:
    model = exported_block(extra_reader=True)
    swishes, sigmoids = script().fuse(model)
    assert (swishes, sigmoids) == (0, 1)
    assert [node.op_type for node in model.graph.node].count("Clip") == 1


def test_another_scale_is_another_function_and_stays() -> None:
    model = exported_block(scale=0.5)
    assert script().fuse(model) == (0, 0)
    assert [node.op_type for node in model.graph.node].count("Clip") == 2
