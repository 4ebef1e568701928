"""Where text may be: the text cascade's candidate regions, from two cheap signals.

The full text detector pass (the working image upscaled to a shorter side of 736 px) is most of the price of
reading text, and on most photos it finds nothing. The cascade runs it only inside candidate regions, found by

- **the detector itself on a small copy** (``CHEAP_SIDE`` px, in ``text.py``): it sees lines of ordinary size,
  but is blind to small text (its probability map is 0 on a brand name on a telephone: measured);
- **strokes** (``stroke_candidates``, below): the classic morphological-gradient text localiser at working
  size. Characters are short runs of strong edges, close together along a row: the per-channel morphological
  gradient (so that red on green counts, which grey levels hide) is thresholded with Otsu, closed horizontally
  to join the letters of a word, and the connected pieces that are as filled and as flat as words are kept.
  It costs a few milliseconds and sees small text, with false alarms on regular texture (tiles, fences), which
  cost only the area they add.

``regions_of_interest`` turns the two masks into a few rectangles with a margin, merged where they overlap;
``text.py`` runs the full-scale detector on each and maps the boxes back.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from pixlens.analysis.rects import Rect, merge_overlapping

Mask = np.ndarray[Any, np.dtype[np.uint8]]

MIN_STROKE_HEIGHT = 6  # px: smaller pieces are mostly texture (on the 47 benchmark images: 662 of 1,239 false
# candidates, 3 of 110 true ones, 2 of which in lines the cheap pass sees)
MAX_STROKE_HEIGHT = 0.3  # of the image height: bigger pieces are objects (the detector on the copy sees big text)
MIN_FLATNESS = 0.8  # a word is at least this wide for its height (a single character "0" passes, a pole not)
MIN_FILL = 0.35  # share of its bounding box a word's closed strokes fill (thin curves and outlines fill less)
JOIN_LETTERS = 9  # px: the horizontal closing that joins the letters of a word
# Around a candidate, MARGIN_HEIGHTS times its height, within these bounds (px): the detector's boxes grow beyond
# the letters, and it needs context (with 24 px for all it read "47" of a "47-129" that it reads whole in the
# whole image)
MARGIN_HEIGHTS, MIN_MARGIN, MAX_MARGIN = 3, 24, 48


def stroke_candidates(bgr: np.ndarray[Any, np.dtype[np.uint8]]) -> Mask:
    """1 where the image has word-like runs of strong edges, at the image's own size."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    gradient = np.max([cv2.morphologyEx(channel, cv2.MORPH_GRADIENT, kernel) for channel in cv2.split(bgr)], axis=0)
    gradient = np.ascontiguousarray(gradient, dtype=np.uint8)
    _, strokes = cv2.threshold(gradient, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    words = cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (JOIN_LETTERS, 1)))
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(words)
    mask: Mask = np.zeros(gradient.shape, dtype=np.uint8)
    highest = MAX_STROKE_HEIGHT * gradient.shape[0]
    for left, top, width, height, area in stats[1:count]:
        if (
            MIN_STROKE_HEIGHT <= height <= highest
            and width >= MIN_FLATNESS * height
            and area >= MIN_FILL * width * height
        ):
            mask[top : top + height, left : left + width] = 1
    return mask


def without_touching(mask: Mask, seen: Mask) -> Mask:
    """``mask`` without its connected pieces that touch ``seen`` (the strokes of lines already delimited)."""
    count, labels = cv2.connectedComponents(mask)
    touching = np.unique(labels[(seen > 0) & (labels > 0)])
    if count <= 1 or touching.size == 0:
        return mask
    kept: Mask = np.where(np.isin(labels, touching), 0, mask).astype(np.uint8)
    return kept


def regions_of_interest(mask: Mask, margins: tuple[int, int] = (MIN_MARGIN, MAX_MARGIN)) -> list[Rect]:
    """Rectangles around the candidate pixels of ``mask``, each grown by a margin of ``MARGIN_HEIGHTS`` times
    its height within ``margins``, overlapping ones merged."""
    height, width = mask.shape
    count, _labels, stats, _ = cv2.connectedComponentsWithStats(mask)
    rects = []
    for x, y, w, h, _area in stats[1:count]:
        margin = int(min(max(MARGIN_HEIGHTS * h, margins[0]), margins[1]))
        rects.append(
            (
                max(int(x) - margin, 0),
                max(int(y) - margin, 0),
                min(int(x + w) + margin, width),
                min(int(y + h) + margin, height),
            )
        )
    return merge_overlapping(rects)
