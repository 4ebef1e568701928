"""Add the image embedding (global pooling, 1,280 values) as a second output of the bundled classifiers.

    .venv/bin/python scripts/add_embedding_output.py [--sample samples/chelsea.png]

Reads the original ``efficientnet_lite{0,2}.onnx`` (``--sources``, default ../shared/models) and writes
``efficientnet_lite{0,2}_embed.onnx`` into src/pixlens/models, next to
them: the same graph, the same weights, plus an output ``embedding`` [N, 1280] = the input of the final Gemm
(or MatMul) that produces ``logits``, i.e. the pooled and flattened activations of the head. Nothing else changes.

The script checks its work on a sample photo: the new file's logits must equal the original's, and the new
output fed through the classifier's own Gemm weights must give those logits back (so it is the right tensor).
It prints the sha256 lines to append to ``src/pixlens/models/SHA256SUMS``. Running it twice writes the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "pixlens" / "models"
SOURCES = ROOT.parent / "shared" / "models"  # the original classifiers (../shared/models, see MODELS.md)
VARIANTS = {"efficientnet_lite0": 224, "efficientnet_lite2": 260}
EMBEDDING = "embedding"
EMBEDDING_SIZE = 1280


def _final_linear(graph: onnx.GraphProto, logits: str) -> onnx.NodeProto:
    producers = [node for node in graph.node if logits in node.output]
    if len(producers) != 1 or producers[0].op_type not in ("Gemm", "MatMul"):
        raise SystemExit(f"expected one Gemm/MatMul producing {logits!r}, found {[n.op_type for n in producers]}")
    node: onnx.NodeProto = producers[0]
    return node


def add_embedding_output(source: Path, target: Path) -> str:
    """Write ``target`` = ``source`` with the embedding output added; return the embedding's source tensor."""
    model = onnx.load(str(source))
    graph = model.graph
    if any(output.name == EMBEDDING for output in graph.output):
        raise SystemExit(f"{source.name} already has an {EMBEDDING!r} output")
    logits = graph.output[0].name
    linear = _final_linear(graph, logits)
    pooled: str = linear.input[0]

    # Check the tensor's shape with ONNX shape inference: [N, 1280] with the same batch dimension as the input.
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {info.name: info for info in inferred.graph.value_info}
    if pooled not in infos:
        raise SystemExit(f"no shape inferred for {pooled!r}")
    dims = infos[pooled].type.tensor_type.shape.dim
    shape = [dim.dim_param or dim.dim_value for dim in dims]
    batch = graph.input[0].type.tensor_type.shape.dim[0].dim_param
    if shape != [batch, EMBEDDING_SIZE]:
        raise SystemExit(f"{pooled!r} has shape {shape}, expected [{batch}, {EMBEDDING_SIZE}]")

    # An Identity gives the output a stable name of its own (``view`` is an exporter's accident).
    graph.node.append(helper.make_node("Identity", [pooled], [EMBEDDING], name="embedding_output"))
    graph.output.append(helper.make_tensor_value_info(EMBEDDING, onnx.TensorProto.FLOAT, [batch, EMBEDDING_SIZE]))
    onnx.checker.check_model(model, full_check=True)
    target.write_bytes(model.SerializeToString(deterministic=True))
    return pooled


def _gemm_weights(path: Path) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], bool]:
    model = onnx.load(str(path))
    linear = _final_linear(model.graph, model.graph.output[0].name)
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    trans_b = any(attr.name == "transB" and attr.i == 1 for attr in linear.attribute)
    return inits[linear.input[1]], inits[linear.input[2]], trans_b


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _preprocess(sample: Path, size: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The classifier's preprocessing (pixlens.analysis.classifier.Classifier.preprocess)."""
    from PIL import Image

    with Image.open(sample) as opened:
        image = opened.convert("RGB")
    width, height = image.size
    scale = (size + 32) / min(width, height)
    crop = size / scale
    left, top = (width - crop) / 2, (height - crop) / 2
    resized = image.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + crop, top + crop))
    pixels = np.asarray(resized, dtype=np.float32)
    return ((pixels * (2 / 255.0)) - 1.0).transpose(2, 0, 1)[None]


def verify(source: Path, target: Path, sample: Path, size: int) -> None:
    batch = np.concatenate([_preprocess(sample, size), _preprocess(sample, size)[:, :, ::-1].copy()])
    (original,) = _session(source).run(["logits"], {"input": batch})
    logits, embedding = _session(target).run(["logits", EMBEDDING], {"input": batch})
    difference = float(np.abs(original - logits).max())
    if difference > 1e-5:
        raise SystemExit(f"{target.name}: logits differ from {source.name} by {difference}")
    weight, bias, trans_b = _gemm_weights(source)
    recomputed = embedding @ (weight.T if trans_b else weight) + bias
    gemm_difference = float(np.abs(recomputed - logits).max())
    if gemm_difference > 1e-3:
        raise SystemExit(f"{target.name}: the embedding does not give the logits back ({gemm_difference})")
    if embedding.shape != (2, EMBEDDING_SIZE):
        raise SystemExit(f"{target.name}: embedding shape {embedding.shape}")
    print(
        f"  verified on {sample.name}: logits max |diff| {difference:.2e} (exact: {difference == 0.0}), "
        f"embedding -> Gemm -> logits max |diff| {gemm_difference:.2e}, top-1 {int(logits[0].argmax())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=Path, default=ROOT / "samples" / "chelsea.png")
    parser.add_argument("--sources", type=Path, default=SOURCES, help="folder of the original classifier files")
    args = parser.parse_args(argv)
    lines = []
    for variant, size in VARIANTS.items():
        source, target = args.sources / f"{variant}.onnx", MODELS / f"{variant}_embed.onnx"
        pooled = add_embedding_output(source, target)
        print(
            f"{target.name}: output {EMBEDDING!r} = {pooled!r} (input of the final Gemm), {target.stat().st_size:,} B"
        )
        verify(source, target, args.sample, size)
        lines.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}")
    print("\nSHA256SUMS lines:\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
