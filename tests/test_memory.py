"""What keeps the pipeline's memory bounded: each model's arena setting, R-Net/O-Net runs of bounded size, the
text analyser's small waiting input, the malloc arena limit and the release after each batch. Mechanisms only:
no memory figure is asserted here (benchmarks/throughput.py measures the peak)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pixlens import allocator, pipeline
from pixlens.analysis import mtcnn, runtime
from pixlens.analysis.runtime import WITHOUT_ARENA, OnnxModel, model_dir, model_path, uses_arena
from pixlens.analysis.text import TextAnalyzer
from pixlens.config import load_settings
from pixlens.imageio import DecodeLimits, decode
from pixlens.record import ImageRecord
from pixlens.service import Pixlens

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _arena(session: Any) -> bool:
    return bool(session.get_session_options().enable_cpu_mem_arena)


def test_only_fixed_shape_models_keep_an_arena() -> None:
    """The labels' classifier and detector keep ONNX Runtime's arena; every model fed a new shape at each run
    (the face and text models, and open_nsfw) gives its memory back."""
    assert uses_arena(model_path("centernet_fused.onnx"))
    assert uses_arena(model_path("efficientnet_lite2_int8.onnx"))
    for name in ("mtcnn/pnet.onnx", "mtcnn/rnet.onnx", "mtcnn/onet.onnx", "faceres.onnx"):
        assert not uses_arena(model_path(name)), name
    listed = {line.split("  ")[1] for line in (model_dir() / "SHA256SUMS").read_text().splitlines() if "  " in line}
    bundled = {Path(name).name for name in listed}
    assert {"pnet.onnx", "rnet.onnx", "onet.onnx", "faceres.onnx"} <= bundled & WITHOUT_ARENA


def test_sessions_are_created_with_the_chosen_arena_setting(tmp_path: Path) -> None:
    assert _arena(OnnxModel(model_path("centernet_fused.onnx"), 1).session)
    assert not _arena(OnnxModel(model_path("mtcnn/rnet.onnx"), 1).session)
    text = TextAnalyzer(load_settings(tmp_path, model_threads=1))
    for session in (text.detector.infer.session, text.classifier.infer.session, text.recognizer.session.session):
        assert not _arena(session)


def test_crop_networks_run_on_bounded_batches_with_the_same_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of candidate boxes go through R-Net in runs of at most CROP_BATCH crops; each crop's scores
    and regressions are those of one run over all of them."""
    detector = mtcnn.Mtcnn(threads=1)
    with Image.open(SAMPLES / "000000000785.jpg") as opened:
        image = opened.convert("RGB")
    rng = np.random.default_rng(7)
    corners = rng.uniform(0, 300, (40, 2))
    boxes = np.column_stack([corners, corners + rng.uniform(12, 80, (40, 1)), np.ones(40)])
    items = [mtcnn.Pyramid(image), mtcnn.Pyramid(image)]
    candidates = [boxes[:25], boxes[25:]]
    monkeypatch.setattr(mtcnn, "CROP_BATCH", 10_000)
    whole = detector._run_batched(detector.rnet, items, candidates, 24)
    sizes: list[int] = []
    run = detector.rnet.run
    monkeypatch.setattr(detector.rnet, "run", lambda batch, outputs=None: sizes.append(len(batch)) or run(batch))
    monkeypatch.setattr(mtcnn, "CROP_BATCH", 16)
    chunked = detector._run_batched(detector.rnet, items, candidates, 24)
    assert sizes == [16, 16, 8]
    for one, other in zip(whole, chunked, strict=True):
        for a, b in zip(one, other, strict=True):
            assert np.array_equal(a, b)


def test_a_prepared_text_image_waits_without_float_or_bgr_copies(tmp_path: Path) -> None:
    analyzer = TextAnalyzer(load_settings(tmp_path, model_threads=1))
    decoded = decode((SAMPLES / "000000012667.jpg").read_bytes())
    prepared = analyzer.prepare(decoded)
    assert prepared.picture is decoded.image  # the working copy the other analysers share
    assert prepared.cheap is not None and prepared.cheap.dtype == np.uint8
    assert "image" not in vars(prepared)  # its BGR copy is made when analysed
    assert prepared.image.shape == (decoded.image.height, decoded.image.width, 3)


def test_the_pipeline_limits_malloc_arenas_when_the_models_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    monkeypatch.setattr("pixlens.service.limit_arenas", asked.append)
    lens = Pixlens(load_settings(tmp_path, analyzers=["properties"], malloc_arenas=3))
    lens.pipeline  # noqa: B018 - builds it
    assert asked == [3]
    lens.close()


def test_free_memory_goes_back_after_each_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    releases: list[None] = []
    monkeypatch.setattr(pipeline, "release_free_memory", lambda: releases.append(None))
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.new("RGB", (64, 48), (index * 60, 90, 30)).save(folder / f"{index}.png")
    lens = Pixlens(load_settings(tmp_path / "home", store=str(folder), analyzers=["properties"], batch_size=8))
    lens.pipeline.process([pipeline.Job(f"{index}.png") for index in range(3)])
    assert len(releases) == 1
    lens.close()


def test_arena_limit_and_release_are_harmless_where_malloc_is_not_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    assert allocator.limit_arenas(0) is False  # 0 leaves glibc's default
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert allocator.limit_arenas(2) is False
    allocator.release_free_memory()


def test_arena_choice_is_made_in_one_place() -> None:
    """Every session pixlens builds takes its options from runtime.session_options."""
    sources = (Path(runtime.__file__).parent).glob("*.py")
    builders = [path.name for path in sources if "SessionOptions()" in path.read_text()]
    assert builders == ["runtime.py"]


class _Recorder:
    """An analyser that notes which analysers' inputs the batch still holds while it runs."""

    fields: tuple[str, ...] = ()
    version = "1"

    def __init__(self, name: str, after: tuple[str, ...], batch: list[pipeline.Prepared], seen: dict[str, Any]) -> None:
        self.name, self.after, self.batch, self.seen = name, after, batch, seen

    def prepare(self, image: Any) -> Any:
        return self.name

    def analyze(self, prepared: Any) -> list[dict[str, Any]]:
        self.seen[self.name] = [sorted(item.inputs) for item in self.batch]
        return [{} for _ in prepared]


def test_an_analysers_inputs_go_as_soon_as_it_has_run() -> None:
    """The labels' detector canvases do not wait in memory while the text and face models run on the batch."""
    batch = [pipeline.Prepared(pipeline.Job(f"{i}.jpg"), ImageRecord(ImageName=f"{i}.jpg")) for i in range(2)]
    seen: dict[str, Any] = {}
    first = _Recorder("first", (), batch, seen)
    second = _Recorder("second", ("first",), batch, seen)
    for item in batch:
        item.inputs = {"first": "a", "second": "b"}
    runner = pipeline.Pipeline(None, None, [first, second], DecodeLimits(), parallel=1)  # type: ignore[arg-type]
    runner._run_models(batch)
    assert seen == {"first": [["second"], ["second"]], "second": [[], []]}
