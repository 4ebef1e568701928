"""The text cascade's candidate regions (``textgate.py``): strokes, rectangles, and lines already seen."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pixlens.analysis.rects import merge_overlapping, share
from pixlens.analysis.textgate import (
    regions_of_interest,
    stroke_candidates,
    without_touching,
)
from textimages import SAMPLES, load_font


def bgr(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def test_strokes_find_a_small_word_and_not_a_plain_background() -> None:
    canvas = Image.new("RGB", (400, 200), (40, 120, 40))
    font, _ = load_font("dejavu-sans", 10)
    ImageDraw.Draw(canvas).text((150, 90), "ZOO SHOP", font=font, fill=(200, 30, 30))  # red on green
    mask = stroke_candidates(bgr(canvas))
    ys, xs = np.nonzero(mask)
    assert len(xs) > 0
    assert xs.min() >= 145 and xs.max() <= 215 and ys.min() >= 85 and ys.max() <= 105
    assert not stroke_candidates(bgr(Image.new("RGB", (400, 200), (40, 120, 40)))).any()


def test_strokes_ignore_big_shapes() -> None:
    canvas = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(canvas).ellipse((50, 20, 350, 280), fill="black")  # an object, not a word
    assert not stroke_candidates(bgr(canvas)).any()


def test_regions_grow_and_merge() -> None:
    mask = np.zeros((100, 200), dtype=np.uint8)
    mask[10:14, 10:40] = 1
    mask[12:16, 50:80] = 1  # within two margins of the first: one region
    mask[80:84, 150:190] = 1
    rects = regions_of_interest(mask, margins=(8, 8))
    assert rects == [(2, 2, 88, 24), (142, 72, 198, 92)]
    assert share(rects, (100, 200)) == (86 * 22 + 56 * 20) / 20000


def test_merge_overlapping_until_disjoint() -> None:
    # The third joins the first two only once they are merged.
    assert merge_overlapping([(0, 0, 10, 10), (8, 0, 20, 10), (18, 5, 30, 30)]) == [(0, 0, 30, 30)]
    assert merge_overlapping([(0, 0, 10, 10), (10, 0, 20, 10)]) == [(0, 0, 10, 10), (10, 0, 20, 10)]


def test_without_touching_drops_the_strokes_of_seen_lines() -> None:
    strokes = np.zeros((50, 100), dtype=np.uint8)
    strokes[5:10, 5:60] = 1  # a line the cheap pass saw (partly: its box ends at x=40)
    strokes[30:35, 10:30] = 1  # small text it did not see
    seen = np.zeros_like(strokes)
    seen[3:12, 3:40] = 1
    kept = without_touching(strokes, seen)
    assert not kept[5:10].any() and kept[30:35, 10:30].all()
    assert without_touching(strokes, np.zeros_like(strokes)) is strokes


def test_a_real_photo_has_few_candidates() -> None:
    """The skier on snow: a few small regions, not the whole image (the cascade's saving)."""
    image = Image.open(SAMPLES / "000000000785.jpg")
    mask = stroke_candidates(bgr(image))
    assert share(regions_of_interest(mask), mask.shape) < 0.3
