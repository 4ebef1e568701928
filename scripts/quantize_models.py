"""Quantise the bundled classifiers to int8 (ONNX Runtime's static QDQ quantisation), calibrated on the samples.

    .venv/bin/python scripts/quantize_models.py [--samples samples]

Reads ``efficientnet_lite{2,0}_embed.onnx`` (the float classifiers with their embedding output, verified against
SHA256SUMS) and writes ``efficientnet_lite{2,0}_int8.onnx`` into src/pixlens/models:

- int8 weights per output channel, uint8 activations (what ONNX Runtime's x86 kernels run fastest), QDQ format;
- activation ranges from the 99.999th percentile of each tensor (plain min/max let a few outliers coarsen the
  steps: 2 points less top-1 agreement with the float model) over the calibration set: every photo of
  ``samples/labels.csv`` and its mirror image, through the classifier's own preprocessing;
- the stem and the first block (the first three convolutions, at the highest resolution) stay float: quantised,
  they cost most of the embedding's error (lowest cosine 0.93 instead of 0.98 on rendered variants of the
  samples) for a sixth of the speed-up;
- the same outputs as the float file (``logits`` and ``embedding``), in float.

The detector is not quantised: its activations span very different ranges from channel to channel, and with one
range per tensor its class scores moved by 0.06-0.12 on average (the best setting: percentile ranges, the first
convolution float); label recall on the samples fell from 0.63 to 0.53 (0.54 even after recalibration), for a
detector at most 1.35x faster.

The script checks its work on the samples against the float model and exits if a model strays: top-1 agreement
below ``MIN_AGREEMENT``, a changed top-1 that was not a near tie (float probabilities more than ``MAX_FLIP_GAP``
apart), or an embedding's cosine similarity below ``MIN_COSINE``. Each file records
its inputs in its metadata (the source's sha256, the calibration photos' digest, the settings and the ONNX Runtime
version) and the script prints the sha256 lines for ``src/pixlens/models/SHA256SUMS``. Running it twice with the
same ONNX Runtime writes the same bytes. Peak memory is about 7 GB (the percentiles need every activation at once).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "src" / "pixlens" / "models"
VARIANTS = ("efficientnet_lite2", "efficientnet_lite0")
PERCENTILE = 99.999
FLOAT_CONVS = 3  # the stem and the first block stay float
MIN_AGREEMENT = 0.85  # share of the samples whose top-1 class stays the float model's (scenes: many near ties)
MAX_FLIP_GAP = 0.05  # a changed top-1 class was within this float probability of the float model's top-1
MIN_COSINE = 0.98  # lowest cosine similarity of an int8 embedding to the float one on the samples
Array = np.ndarray[Any, np.dtype[np.float32]]


def source_name(variant: str) -> str:
    return f"{variant}_embed.onnx"


def target_name(variant: str) -> str:
    return f"{variant}_int8.onnx"


def sample_files(samples: Path) -> list[Path]:
    with (samples / "labels.csv").open(newline="") as handle:
        return [samples / row["file"] for row in csv.DictReader(handle)]


def calibration_inputs(variant: str, files: list[Path]) -> list[Array]:
    """Each photo and its mirror, preprocessed as pixlens does: [3, S, S] each."""
    from pixlens.analysis.classifier import Classifier

    classifier = Classifier(variant, threads=1, lazy=True)
    inputs = []
    for path in files:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
        inputs.append(classifier.preprocess(rgb))
        inputs.append(classifier.preprocess(rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    return inputs


def files_digest(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def quantize(source: Path, target: Path, inputs: list[Array], record: dict[str, str]) -> None:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped
        def __init__(self) -> None:
            self.pending = iter(inputs)

        def get_next(self) -> dict[str, Array] | None:
            item = next(self.pending, None)
            return None if item is None else {"input": item[np.newaxis]}

    convs = [node.name for node in onnx.load(str(source)).graph.node if node.op_type == "Conv"]
    with tempfile.TemporaryDirectory(prefix="pixlens-quantize-") as work:
        staged = Path(work) / target.name
        quantize_static(
            str(source),
            str(staged),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=convs[:FLOAT_CONVS],
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": PERCENTILE},
        )
        model = onnx.load(str(staged))
    del model.metadata_props[:]
    for key, value in sorted(record.items()):
        model.metadata_props.add(key=f"pixlens.{key}", value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def check(source: Path, target: Path, inputs: list[Array]) -> tuple[float, float, float]:
    """Of ``target`` against ``source``: top-1 agreement, the largest float probability gap between the two top-1
    classes where they differ, and the lowest cosine similarity of the embeddings."""
    import onnxruntime as ort

    batch = np.stack(inputs)
    results = []
    from pixlens.analysis.runtime import add_int8_precision

    options = ort.SessionOptions()
    add_int8_precision(options)  # as pixlens runs them
    for path in (source, target):
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        results.append(session.run(["logits", "embedding"], {"input": batch}))
    (logits, embedding), (logits_int8, embedding_int8) = results
    top, top_int8 = logits.argmax(axis=1), logits_int8.argmax(axis=1)
    agreement = float(np.mean(top == top_int8))
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    rows = np.arange(len(top))
    gap = float((probabilities[rows, top] - probabilities[rows, top_int8]).max())
    norms = np.linalg.norm(embedding, axis=1) * np.linalg.norm(embedding_int8, axis=1)
    cosine = float(((embedding * embedding_int8).sum(axis=1) / norms).min())
    return agreement, gap, cosine


def main() -> None:
    import onnxruntime

    from pixlens.analysis.runtime import model_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=Path, default=ROOT / "samples")
    args = parser.parse_args()
    files = sample_files(args.samples)
    settings = {
        "format": "QDQ",
        "weights": "int8 per channel",
        "activations": "uint8",
        "calibration": f"percentile {PERCENTILE}",
        "float": f"the first {FLOAT_CONVS} convolutions",
    }
    lines = []
    for variant in VARIANTS:
        source = model_path(source_name(variant))
        target = MODELS / target_name(variant)
        inputs = calibration_inputs(variant, files)
        record = {
            "quantized_from": f"{source.name} sha256 {hashlib.sha256(source.read_bytes()).hexdigest()}",
            "calibration_set": f"{len(files)} photos of {args.samples.name}/labels.csv and their mirrors, "
            f"sha256 {files_digest(files)}",
            "quantization": json.dumps(settings, sort_keys=True),
            "onnxruntime": onnxruntime.__version__,
        }
        quantize(source, target, inputs, record)
        agreement, gap, cosine = check(source, target, inputs[::2])
        print(
            f"{target.name}: on the samples, top-1 agreement {agreement:.1%} (changed classes within {gap:.3f}"
            f" of the float top-1), lowest embedding cosine {cosine:.4f}"
        )
        if agreement < MIN_AGREEMENT or gap > MAX_FLIP_GAP or cosine < MIN_COSINE:
            target.unlink()
            raise SystemExit(f"{target.name} strays too far from the float model; not kept")
        lines.append(f"{hashlib.sha256(target.read_bytes()).hexdigest()}  {target.name}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
