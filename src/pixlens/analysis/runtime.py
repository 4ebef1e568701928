"""Bundled model files and ONNX Runtime sessions.

Model files ship inside the package (``pixlens/models``) and are checked against ``SHA256SUMS`` before use, so
that a changed or damaged file is refused instead of producing quietly wrong labels. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from pixlens.errors import ModelError


def model_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "models"


@cache
def _checksums() -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in (model_dir() / "SHA256SUMS").read_text().splitlines():
        digest, _, name = line.strip().partition("  ")
        if name:
            sums[name] = digest
    return sums


def model_path(name: str) -> Path:
    """Path of a bundled model file, verified against its checksum."""
    path = model_dir() / name
    if not path.is_file():
        raise ModelError(f"model file {name} is missing from the package ({path}); reinstall pixlens")
    expected = _checksums().get(name)
    if expected is None:
        raise ModelError(f"model file {name} has no checksum in SHA256SUMS")
    actual = _sha256(path)
    if actual != expected:
        raise ModelError(
            f"model file {path} is damaged or was replaced: sha256 {actual[:12]}..., expected {expected[:12]}..."
        )
    return path


def checksum(name: str) -> str:
    """The sha256 of a bundled model file, as SHA256SUMS lists it (the file verified)."""
    return _sha256(model_path(name))


@cache
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ONNX Runtime's CPU arena keeps the memory of a model's largest run for the next one. For a model whose input
# shape hardly changes (the labels' classifier on batches of images, their detector on a 512 x 512 square)
# that is the right trade: the same memory serves every run, and each run is faster (the detector: 58 ms of CPU
# per run with it, 76 ms without). A model fed a different shape at every run grows it instead, and an arena
# never gives memory back: P-Net over every level of an image pyramid, R-Net and O-Net over however many
# candidate boxes a batch had, faceres over its faces, the text detector over every size of region, the text
# line classifier and recogniser over every width of line. These run without it, and so does open_nsfw (its
# arena held 60 MB for good to save 2-3 ms per image, next to the ~500 ms every analyser takes): their memory
# goes back to the allocator after each run (docs/PERFORMANCE.md, "Memory").
WITHOUT_ARENA = frozenset(
    {
        "pnet.onnx",
        "rnet.onnx",
        "onet.onnx",
        "faceres.onnx",
        "ch_PP-OCRv4_det_infer.onnx",
        "ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "ch_PP-OCRv4_rec_infer.onnx",
        "open-nsfw.onnx",
    }
)


def uses_arena(path: Path) -> bool:
    """Whether the session of the model file ``path`` keeps ONNX Runtime's CPU memory arena (see WITHOUT_ARENA)."""
    return path.name not in WITHOUT_ARENA


def session_options(path: Path, threads: int) -> Any:
    """The ONNX Runtime session options of every pixlens model: threads, spinning, precision and memory."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    # Sessions alternate (classifier, detector, ...): spinning threads of an idle session steal the cores
    # of the busy one; with the default the detector ran almost 2x slower.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = uses_arena(path)
    add_int8_precision(options)
    return options


class OnnxModel:
    """One ONNX Runtime session with the settings that suit several models sharing a few CPU cores."""

    def __init__(self, path: Path, threads: int) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(
                str(path), session_options(path, threads), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load model {path.name}: {exc}") from exc
        self.input_name: str = self.session.get_inputs()[0].name
        self.output_names: list[str] = [output.name for output in self.session.get_outputs()]

    def run(self, batch: np.ndarray[Any, np.dtype[np.float32]], outputs: list[str] | None = None) -> list[Any]:
        try:
            return list(self.session.run(outputs or self.output_names, {self.input_name: batch}))
        except Exception as exc:
            raise ModelError(f"model run failed: {exc}") from exc


def add_int8_precision(options: Any) -> None:
    """On x86 CPUs without VNNI (AVX2 only), ONNX Runtime's fast uint8 x int8 products can saturate: the int8
    classifiers agreed with their float sources on 77% (lite2) and 83% (lite0) of the samples' top classes; with
    this high-precision mode, 87% and 90%. Ignored where it does not apply."""
    options.add_session_config_entry("session.x64quantprecision", "1")
