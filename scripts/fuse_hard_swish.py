"""Rewrite the bundled CenterNet's hard-swish and hard-sigmoid subgraphs into ONNX's own operators.

    .venv/bin/python scripts/fuse_hard_swish.py [--sample samples/000000000785.jpg]

Reads the original ``centernet.onnx`` (``--sources``, default ../shared/models) and writes
``centernet_fused.onnx`` into src/pixlens/models. The TF.js export spells MobileNetV3's activations out in
elementwise operators, which ONNX Runtime can neither fuse into the convolutions nor run in its blocked (NCHWc)
layout, so every activation costs a layout conversion both ways (a quarter of the model's time):

- hard-swish ``x * c * Clip(x + 3, 0, 6)`` (c = 0.16662598, the export's rounding of 1/6) becomes ``HardSwish``;
- hard-sigmoid ``Clip(x + 3, 0, 6) * c`` (squeeze-and-excite gates) becomes ``HardSigmoid(alpha=c, beta=3c)``.

Same weights, same graph otherwise. The operators compute 1/6 and an upper bound of 1 where the export had c and
6c (0.024% apart); the script checks on a sample photo that the detections keep their classes and boxes and that
no score moves by more than ``TOLERANCE``. It prints the sha256 line for ``src/pixlens/models/SHA256SUMS``.
Running it twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "pixlens" / "models"
SOURCES = ROOT.parent / "shared" / "models"
SOURCE, TARGET = "centernet.onnx", "centernet_fused.onnx"
TOLERANCE = 0.01  # largest change of a detection score (0-1) on the sample
SIXTH_TOLERANCE = 1e-3  # a scale this close to 1/6 is the export's 1/6 (other scales are other functions)


class Graph:
    """Lookups over one graph: who makes a tensor, who reads it, which tensors are scalar constants."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.constants = {
            init.name: float(numpy_helper.to_array(init).ravel()[0]) for init in graph.initializer if _size(init) == 1
        }
        self.producer = {output: node for node in graph.node for output in node.output}
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.readers.setdefault(name, []).append(node)

    def read_once(self, node: onnx.NodeProto) -> bool:
        return len(self.readers.get(node.output[0], [])) == 1

    def other_input(self, node: onnx.NodeProto, known: str) -> str:
        others = [name for name in node.input if name != known]
        return others[0] if len(others) == 1 else ""


def _size(init: onnx.TensorProto) -> int:
    return int(np.prod(init.dims)) if init.dims else 1


def fuse(model: onnx.ModelProto) -> tuple[int, int]:
    """Rewrite ``model`` in place; returns (hard-swish, hard-sigmoid) counts."""
    graph = model.graph
    lookup = Graph(graph)
    replaced: dict[int, onnx.NodeProto] = {}
    dropped: set[int] = set()
    for clip in graph.node:  # both patterns start at Clip(Add(x, 3), 0, 6) read by one Mul
        if clip.op_type != "Clip" or len(clip.input) != 3:
            continue
        if lookup.constants.get(clip.input[1]) != 0.0 or lookup.constants.get(clip.input[2]) != 6.0:
            continue
        add = lookup.producer.get(clip.input[0])
        if add is None or add.op_type != "Add" or not lookup.read_once(add) or not lookup.read_once(clip):
            continue
        threes = [name for name in add.input if lookup.constants.get(name) == 3.0]
        if len(threes) != 1:
            continue
        x = lookup.other_input(add, threes[0])
        (top,) = lookup.readers[clip.output[0]]
        if top.op_type != "Mul":
            continue
        other = lookup.other_input(top, clip.output[0])
        scaler = lookup.producer.get(other)
        if scaler is not None and scaler.op_type == "Mul" and x in scaler.input and lookup.read_once(scaler):
            scale = lookup.constants.get(lookup.other_input(scaler, x))
            if scale is None or abs(scale - 1 / 6) > SIXTH_TOLERANCE:
                continue
            replaced[id(top)] = helper.make_node("HardSwish", [x], [top.output[0]], name=f"{top.name}/HardSwish")
            dropped |= {id(add), id(clip), id(scaler)}
        elif other in lookup.constants and abs(lookup.constants[other] - 1 / 6) <= SIXTH_TOLERANCE:
            scale = lookup.constants[other]
            replaced[id(top)] = helper.make_node(
                "HardSigmoid", [x], [top.output[0]], name=f"{top.name}/HardSigmoid", alpha=scale, beta=3 * scale
            )
            dropped |= {id(add), id(clip)}
    nodes = [replaced.get(id(node), node) for node in graph.node if id(node) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    kinds = [node.op_type for node in replaced.values()]
    return kinds.count("HardSwish"), kinds.count("HardSigmoid")


def check(original: Path, fused: Path, sample: Path) -> float:
    """The largest score change on ``sample``; exits if a detection changes class or box."""
    import onnxruntime as ort
    from PIL import Image

    from pixlens.analysis.detector import INPUT_SIZE, Detector, letterbox

    with Image.open(sample) as image:
        canvas, _ = letterbox(image.convert("RGB"), INPUT_SIZE)
    outputs = []
    for path in (original, fused):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: canvas[np.newaxis]}
        detections = session.run([Detector.OUTPUT], feed)[0][0]
        outputs.append(detections[detections[:, 4] >= 0.1])  # rows: x1, y1, x2, y2, score, class
    before, after = outputs
    if len(before) != len(after):
        raise SystemExit(f"{len(before)} detections above 0.1 before, {len(after)} after")
    order_before, order_after = np.lexsort(before[:, [0, 5]].T), np.lexsort(after[:, [0, 5]].T)
    before, after = before[order_before], after[order_after]
    if not np.array_equal(before[:, 5], after[:, 5]) or np.abs(before[:, :4] - after[:, :4]).max() > 1.0:
        raise SystemExit("a detection changed its class or moved by more than a pixel")
    return float(np.abs(before[:, 4] - after[:, 4]).max())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=Path, default=SOURCES)
    parser.add_argument("--sample", type=Path, default=ROOT / "samples" / "000000000785.jpg")
    args = parser.parse_args()
    model = onnx.load(str(args.sources / SOURCE))
    swishes, sigmoids = fuse(model)
    target = MODELS / TARGET
    onnx.save(model, str(target))
    change = check(args.sources / SOURCE, target, args.sample)
    if change > TOLERANCE:
        raise SystemExit(f"a score moved by {change:.4f} (> {TOLERANCE})")
    print(f"{swishes} hard-swish and {sigmoids} hard-sigmoid rewritten; largest score change {change:.5f}")
    print(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {TARGET}")


if __name__ == "__main__":
    main()
