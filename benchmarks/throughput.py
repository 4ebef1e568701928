"""Images per second: the pipeline, a naive loop and the models alone, side by side on the same images.

    .venv/bin/python benchmarks/throughput.py [--images 30] [--json]

Two image sets, made once from the samples and cached in benchmarks/out/:

- phone: 12-megapixel JPEGs (4032 x 3024, the samples cropped to 4:3 and upscaled, quality 90);
- small: 640-pixel JPEGs (the COCO photos as they are, the PNGs re-encoded).

For each set, in one run (each contender --rounds times, interleaved; the median round counts, and the range
over the rounds is kept beside it):

- pipeline: ``Pixlens.ingest`` into a fresh SQLite catalog (2 decode threads, the settings' defaults);
- stages: each part of the pipeline called directly, one thread, on the same images;
- naive: per image, a full Pillow decode (no draft mode) and EXIF transpose, each model's input resized from the
  full picture, the classifier on a batch of 1, the detector, the labels, and one transaction per record;
- ceiling: the two models alone on tensors made beforehand (classifier in batches of 8, detector one by one).

Peak memory (RSS high-water mark) is measured in a fresh subprocess that loads the models and ingests the phone set:
once with the label analyser only, once with the default analysers (every one).

"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from pixlens.analysis.detector import INPUT_SIZE, letterbox
from pixlens.analysis.labels import LabelAnalyzer, View
from pixlens.analysis.labels import Prepared as LabelInputs
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.config import load_settings
from pixlens.imageio import DecodedImage, DecodeLimits, decode
from pixlens.pipeline import Outcome
from pixlens.record import ImageRecord, Status, utc_now
from pixlens.service import Pixlens

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "samples"
OUT = HERE / "out"
SETS_VERSION = "1"  # bump when the way the image sets are made changes
PHONE_SIZE = (4032, 3024)
SMALL_SIDE = 640
WORKERS = 2
BATCH = 8
TARGET_PHONE_VS_NAIVE = 3.0
TARGET_SMALL_VS_CEILING = 0.90
TARGET_PEAK_MB = 1024.0


# -- image sets --------------------------------------------------------------------------------------------------
def image_sets(samples: Path = SAMPLES) -> dict[str, Path]:
    """The phone and small sets, made on first use and cached under benchmarks/out/."""
    sources = sorted(p for p in samples.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return {
        "phone": _cached(OUT / f"images-v{SETS_VERSION}" / "phone", sources, _phone),
        "small": _cached(OUT / f"images-v{SETS_VERSION}" / "small", sources, _small),
    }


def _cached(folder: Path, sources: list[Path], make: Callable[[Path, Path], None]) -> Path:
    if not (folder / ".complete").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        for source in sources:
            make(source, folder / f"{source.stem}.jpg")
        (folder / ".complete").touch()
    return folder


def _phone(source: Path, target: Path) -> None:
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    size = PHONE_SIZE if rgb.width >= rgb.height else PHONE_SIZE[::-1]
    ImageOps.fit(rgb, size, Image.Resampling.LANCZOS).save(target, "JPEG", quality=90)


def _small(source: Path, target: Path) -> None:
    if source.suffix.lower() in (".jpg", ".jpeg"):
        target.write_bytes(source.read_bytes())
        return
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    rgb.thumbnail((SMALL_SIDE, SMALL_SIDE), Image.Resampling.LANCZOS)
    rgb.save(target, "JPEG", quality=90)


def images_in(folder: Path, limit: int) -> list[Path]:
    return sorted(folder.glob("*.jpg"))[:limit]


# -- the four ways of doing the work ---------------------------------------------------------------------------
def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def open_lens(folder: Path, every_analyzer: bool = False) -> Pixlens:
    """Pixlens on ``folder`` as its store (files stay in place) with a fresh catalog in a temporary home: the label
    analyser only, or the default analysers."""
    home = Path(tempfile.mkdtemp(prefix="pixlens-bench-"))
    if every_analyzer:
        return Pixlens(load_settings(home, store=str(folder), workers=WORKERS))
    return Pixlens(load_settings(home, store=str(folder), workers=WORKERS, analyzers=["labels"]))


def label_analyzer(lens: Pixlens) -> LabelAnalyzer:
    analyzer = lens.pipeline.analyzers[0]
    assert isinstance(analyzer, LabelAnalyzer)
    return analyzer


def warm_up(analyzer: LabelAnalyzer, files: list[Path]) -> None:
    """One model run at the batch size the pipeline uses, and one at batch 1, before anything is timed."""
    prepared = [analyzer.prepare(decode(path.read_bytes())) for path in files[:BATCH]]
    analyzer.predict(prepared)
    analyzer.predict(prepared[:1])


def pipeline_seconds(lens: Pixlens, files: list[Path]) -> float:
    started = time.perf_counter()
    report = lens.ingest(files)
    seconds = time.perf_counter() - started
    failed = [r for r in report.results if r.outcome is not Outcome.ANALYZED]
    if failed or len(report.results) != len(files):
        raise RuntimeError(f"pipeline analysed {len(report.results) - len(failed)} of {len(files)}: {failed[:3]}")
    return seconds


def stage_seconds(analyzer: LabelAnalyzer, files: list[Path], limits: DecodeLimits) -> dict[str, float]:
    """Each part of the pipeline on its own, one thread: seconds for all the images."""
    seconds: dict[str, float] = {}
    decoded: list[DecodedImage] = []
    seconds["read + decode"] = timed(lambda: decoded.extend(decode(p.read_bytes(), limits) for p in files))

    def classify() -> None:
        for start in range(0, len(decoded), BATCH):
            chunk = decoded[start : start + BATCH]
            analyzer.classifier.predict(np.stack([analyzer.classifier.preprocess(d.image) for d in chunk]))

    def detect() -> None:
        for d in decoded:
            tensor, scale = letterbox(d.image, INPUT_SIZE)
            analyzer.detector.detect_tensor(tensor, scale, d.image.size)

    seconds["classifier prep + model"] = timed(classify)
    seconds["detector prep + model"] = timed(detect)
    raws = analyzer.predict([analyzer.prepare(d) for d in decoded])  # (not timed: the models again)
    records: list[ImageRecord] = []
    seconds["labels (merge, taxonomy)"] = timed(
        lambda: records.extend(
            _record(path.name, b"", d.width, d.height, analyzer, analyzer.labels(raw))
            for path, d, raw in zip(files, decoded, raws, strict=True)
        )
    )
    catalog = SqliteCatalog(Path(tempfile.mkdtemp(prefix="pixlens-bench-")) / "catalog.db")

    def write() -> None:
        for start in range(0, len(records), BATCH):
            catalog.put(records[start : start + BATCH])

    seconds["catalog write (batches of 8)"] = timed(write)
    catalog.close()
    return seconds


def naive_seconds(analyzer: LabelAnalyzer, files: list[Path]) -> float:
    """The obvious loop: full decode, resize from the full picture, batch 1, one transaction per image."""
    catalog = SqliteCatalog(Path(tempfile.mkdtemp(prefix="pixlens-bench-")) / "catalog.db")
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)).convert("RGB"))
        tensor, scale = letterbox(image, INPUT_SIZE)
        inputs = LabelInputs(analyzer.classifier.preprocess(image), [View(tensor, scale, image.size, (0, 0, 1, 1))])
        raw = analyzer.predict([inputs])[0]
        catalog.put([_record(path.name, data, image.width, image.height, analyzer, analyzer.labels(raw))])
    seconds = time.perf_counter() - started
    catalog.close()
    return seconds


def ceiling_seconds(analyzer: LabelAnalyzer, files: list[Path], limits: DecodeLimits) -> float:
    """The two models alone on inputs made beforehand."""
    decoded = [decode(p.read_bytes(), limits).image for p in files]
    classifier_inputs = [analyzer.classifier.preprocess(image) for image in decoded]
    detector_inputs = [letterbox(image, INPUT_SIZE)[0][np.newaxis] for image in decoded]
    started = time.perf_counter()
    for start in range(0, len(classifier_inputs), BATCH):
        analyzer.classifier.model.run(np.stack(classifier_inputs[start : start + BATCH]))
    for tensor in detector_inputs:
        analyzer.detector.model.run(tensor, [analyzer.detector.OUTPUT])
    return time.perf_counter() - started


def _record(name: str, data: bytes, width: int, height: int, analyzer: LabelAnalyzer, labels: Any) -> ImageRecord:
    return ImageRecord(
        ImageName=name,
        ContentSha256=hashlib.sha256(data).hexdigest(),
        Size=len(data),
        ContentType="image/jpeg",
        Width=width,
        Height=height,
        Status=Status.ANALYZED,
        AnalyzedAt=utc_now(),
        Labels=labels,
        LabelModelVersion=analyzer.model_version,
        AnalyzerVersions={analyzer.name: analyzer.version},
    )


# -- peak memory, in a process of its own ------------------------------------------------------------------------
def peak_memory_child(folder: Path, limit: int, every_analyzer: bool) -> None:
    lens = open_lens(folder, every_analyzer)
    lens.pipeline  # noqa: B018 - loads the models
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pipeline_seconds(lens, images_in(folder, limit))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"models_loaded_mb": round(loaded, 1), "peak_mb": round(peak, 1)}))


def peak_memory(folder: Path, limit: int, every_analyzer: bool) -> dict[str, float]:
    # Through a shell that forks again: Linux keeps the RSS high-water mark across exec, so a child exec'ed
    # straight from this (large) process would start with this process's peak as its own.
    command = ["sh", "-c", '"$@"; exit $?', "sh", sys.executable, __file__, "--peak-memory-of", str(folder)]
    command += ["--images", str(limit)] + (["--every-analyzer"] if every_analyzer else [])
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


# -- one set, and the report -------------------------------------------------------------------------------------
def measure_set(folder: Path, limit: int, rounds: int) -> dict[str, Any]:
    """Each contender ``rounds`` times, interleaved (a slower spell of a shared machine hits them all). Each figure
    is the median round's, with every round's figure beside it (``<figure>_rounds``); a ratio is taken within
    each round, then its median."""
    files = images_in(folder, limit)
    for path in files:  # the page cache is warm for every contender
        path.read_bytes()
    n = len(files)
    per_round: dict[str, list[float]] = {}

    def keep(name: str, seconds: float) -> None:
        per_round.setdefault(name, []).append(n / seconds)

    for _ in range(rounds):
        lens = open_lens(folder)  # a fresh catalog each round
        analyzer = label_analyzer(lens)
        limits = lens.pipeline.limits
        warm_up(analyzer, files)
        keep("pipeline", pipeline_seconds(lens, files))
        lens.close()
        keep("naive", naive_seconds(analyzer, files))
        keep("ceiling", ceiling_seconds(analyzer, files, limits))
        for stage, seconds in stage_seconds(analyzer, files, limits).items():
            keep(stage, seconds)
    pipeline, naive, ceiling = (per_round.pop(name) for name in ("pipeline", "naive", "ceiling"))
    megabytes = sum(p.stat().st_size for p in files) / n / 1e6
    with Image.open(files[0]) as first:
        size = f"{first.width} x {first.height}"
    results: dict[str, Any] = {"images": n, "size": size, "mb_per_image": round(megabytes, 2)}
    for name, values, digits in (
        ("pipeline_ips", pipeline, 2),
        ("naive_ips", naive, 2),
        ("ceiling_ips", ceiling, 2),
        ("pipeline_vs_naive", [p / q for p, q in zip(pipeline, naive, strict=True)], 2),
        ("pipeline_vs_ceiling", [p / q for p, q in zip(pipeline, ceiling, strict=True)], 3),
        ("naive_vs_ceiling", [p / q for p, q in zip(naive, ceiling, strict=True)], 3),
    ):
        results[name] = round(statistics.median(values), digits)
        results[f"{name}_rounds"] = [round(value, digits) for value in values]
    results["stages_ips"] = {name: round(statistics.median(values), 2) for name, values in per_round.items()}
    return results


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def run(limit: int = 30, rounds: int = 3) -> dict[str, Any]:
    """Measure both sets and peak memory; returns the figures (with PASS/MISS) for run.py."""
    sets = image_sets()
    results: dict[str, Any] = {"rounds": rounds}
    results["memory"] = {"labels": peak_memory(sets["phone"], limit, every_analyzer=False)}
    results["memory"]["every analyser"] = peak_memory(sets["phone"], limit, every_analyzer=True)
    results.update({name: measure_set(folder, limit, rounds) for name, folder in sets.items()})
    results["targets"] = {
        "phone: pipeline >= 3x naive": verdict(results["phone"]["pipeline_vs_naive"] >= TARGET_PHONE_VS_NAIVE),
        "small: pipeline >= 90% of ceiling": verdict(
            results["small"]["pipeline_vs_ceiling"] >= TARGET_SMALL_VS_CEILING
        ),
        "every size: pipeline >= naive": verdict(all(results[name]["pipeline_vs_naive"] >= 1.0 for name in sets)),
        **{
            f"peak RSS < 1 GB ({analyzers})": verdict(memory["peak_mb"] < TARGET_PEAK_MB)
            for analyzers, memory in results["memory"].items()
        },
    }
    return results


def report(results: dict[str, Any]) -> None:
    print(
        f"Throughput: {WORKERS} decode threads, model batch {BATCH}, default settings; images/second,"
        f" median of {results['rounds']} rounds [each round] (higher is better)"
    )
    for name in ("phone", "small"):
        r = results[name]
        print(f"\n  {name}: {r['images']} JPEGs of {r['size']} ({r['mb_per_image']} MB each)")
        for key, title, unit in (
            ("pipeline_ips", "pipeline (Pixlens.ingest)", " img/s"),
            ("naive_ips", "naive loop", " img/s"),
            ("ceiling_ips", "ceiling (models alone)", " img/s"),
            ("pipeline_vs_naive", "pipeline / naive", "x"),
            ("pipeline_vs_ceiling", "pipeline / ceiling", "%"),
            ("naive_vs_ceiling", "naive / ceiling", "%"),
        ):
            scale = 100 if unit == "%" else 1
            each = ", ".join(f"{scale * value:.2f}" for value in r[f"{key}_rounds"])
            print(f"    {title:30s} {scale * r[key]:7.2f}{unit:6s} [{each}]")
        print("    stages alone, one thread:")
        for stage, ips in r["stages_ips"].items():
            print(f"      {stage:34s} {ips:7.1f} img/s  {1000 / ips:6.1f} ms/img")
    print("\n  peak RSS (fresh process, models loaded + phone set ingested):")
    for analyzers, memory in results["memory"].items():
        print(
            f"    {analyzers:16s} {memory['peak_mb']:5.0f} MB"
            f"  (after loading the models: {memory['models_loaded_mb']:.0f} MB)"
        )
    print("\n  targets:")
    for target, outcome in results["targets"].items():
        print(f"    {target:38s} {outcome}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=30, help="images per set (at most 30)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each contender; the median one counts")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--peak-memory-of", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--every-analyzer", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_memory_of is not None:
        peak_memory_child(args.peak_memory_of, args.images, args.every_analyzer)
        return
    results = run(args.images, args.rounds)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        report(results)


if __name__ == "__main__":
    main()
