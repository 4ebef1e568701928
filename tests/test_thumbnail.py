"""WebP thumbnails in <home>/thumbnails, named by their content, written once and atomically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from conftest import SAMPLES
from pixlens.analysis.base import create_analyzers
from pixlens.analysis.thumbnail import ThumbnailAnalyzer
from pixlens.config import load_settings
from pixlens.imageio import DecodedImage, decode

BEAR = "000000000285.jpg"  # 586 x 640


def decoded(name: str) -> DecodedImage:
    return decode((SAMPLES / name).read_bytes())


def analyser(home: Path, **thumbnails: int) -> ThumbnailAnalyzer:
    (result,) = create_analyzers(load_settings(home, thumbnails=thumbnails or None), ["thumbnail"])
    assert isinstance(result, ThumbnailAnalyzer)
    return result


def thumbnail_of(analyzer: ThumbnailAnalyzer, image: DecodedImage) -> str:
    (result,) = analyzer.analyze([analyzer.prepare(image)])
    assert set(result) == {"Thumbnail"}
    path: str = result["Thumbnail"]
    return path


def files_under(home: Path) -> list[Path]:
    return sorted(path for path in (home / "thumbnails").rglob("*") if path.is_file())


def test_a_thumbnail_is_a_webp_of_the_right_size_under_home(tmp_path: Path) -> None:
    analyzer = analyser(tmp_path)
    assert (analyzer.name, analyzer.fields) == ("thumbnail", ("Thumbnail",))
    assert analyzer.version
    relative = thumbnail_of(analyzer, decoded(BEAR))
    parts = relative.split("/")
    assert parts[0] == "thumbnails"
    assert len(parts) == 3
    assert parts[2] == f"{parts[2][:64]}.webp"
    assert parts[1] == parts[2][:2]
    assert not Path(relative).is_absolute()
    with Image.open(tmp_path / relative) as image:
        assert image.format == "WEBP"
        assert image.size == (234, 256)  # 586 x 640, longer side 256
        assert image.mode == "RGB"
    assert files_under(tmp_path) == [tmp_path / relative]


def test_the_same_image_twice_writes_one_file(tmp_path: Path) -> None:
    analyzer = analyser(tmp_path)
    first = thumbnail_of(analyzer, decoded(BEAR))
    written = (tmp_path / first).stat().st_mtime_ns
    second = thumbnail_of(analyzer, decoded(BEAR))
    assert first == second
    assert (tmp_path / first).stat().st_mtime_ns == written  # not rewritten
    assert files_under(tmp_path) == [tmp_path / first]
    other = thumbnail_of(analyzer, decoded("chelsea.png"))
    assert other != first
    assert len(files_under(tmp_path)) == 2


def test_concurrent_writers_of_the_same_image(tmp_path: Path) -> None:
    analyzer = analyser(tmp_path)
    images = [decoded(BEAR) for _ in range(8)]
    with ThreadPoolExecutor(4) as pool:
        paths = set(pool.map(lambda image: thumbnail_of(analyzer, image), images))
    assert len(paths) == 1
    assert files_under(tmp_path) == [tmp_path / paths.pop()]  # and no temporary file left behind


@pytest.mark.parametrize(("size", "quality"), [(64, 50), (512, 95)])
def test_size_and_quality_settings(tmp_path: Path, size: int, quality: int) -> None:
    analyzer = analyser(tmp_path, size=size, quality=quality)
    relative = thumbnail_of(analyzer, decoded("chelsea.png"))  # 451 x 300
    with Image.open(tmp_path / relative) as image:
        assert image.format == "WEBP"
        expected = (64, 43) if size == 64 else (451, 300)  # never enlarged
        assert image.size == expected
    # Other settings give another file, so that a change of settings is not hidden by an old thumbnail.
    assert thumbnail_of(analyser(tmp_path), decoded("chelsea.png")) != relative


def test_a_small_image_and_a_wide_image(tmp_path: Path) -> None:
    analyzer = analyser(tmp_path)
    tiny = DecodedImage(image=Image.new("RGB", (20, 16), (0, 0, 128)), width=20, height=16, content_type="image/png")
    wide = DecodedImage(image=Image.new("RGB", (1024, 100), (255, 0, 0)), width=4000, height=390, content_type="x")
    with Image.open(tmp_path / thumbnail_of(analyzer, tiny)) as image:
        assert image.size == (20, 16)
    with Image.open(tmp_path / thumbnail_of(analyzer, wide)) as image:
        assert image.size == (256, 25)
        red, green, blue = image.convert("RGB").getpixel((128, 12))  # type: ignore[misc]
        assert red > 240 and green < 20 and blue < 20


def test_thumbnails_kept_in_the_store_are_hidden_from_its_listing(tmp_path: Path) -> None:
    from conftest import make_lens

    store = tmp_path / "photos"
    store.mkdir()
    for name in ("chelsea.png", BEAR):
        (store / name).write_bytes((SAMPLES / name).read_bytes())
    lens = make_lens(tmp_path / "home", store=str(store), analyzers=["thumbnail"], thumbnails={"location": "store"})
    try:
        lens.ingest([store])
        kept = sorted(path.relative_to(store).as_posix() for path in (store / ".pixlens-thumbnails").rglob("*.webp"))
        record = lens.show("chelsea.png")
        assert record is not None and f".pixlens-{record.Thumbnail}" in kept and len(kept) == 2
        assert not (tmp_path / "home" / "thumbnails").exists()
        assert [info.key for info in lens.store.list()] == sorted(["chelsea.png", BEAR])  # not the thumbnails
        assert lens.plan_reconcile().jobs() == [] and lens.plan_reconcile().deleted == []
        assert lens.delete("chelsea.png")
        assert len(list((store / ".pixlens-thumbnails").rglob("*.webp"))) == 1
    finally:
        lens.close()
