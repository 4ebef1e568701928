"""Axis-aligned rectangles in pixels, for the cascades that run an expensive model only on parts of an image."""

from __future__ import annotations

Rect = tuple[int, int, int, int]  # left, top, right, bottom (exclusive), in pixels


def merge_overlapping(rects: list[Rect]) -> list[Rect]:
    """Replace overlapping rectangles by their union until none overlap (nothing is cut in two)."""
    merged = list(rects)
    changed = True
    while changed:
        changed = False
        result: list[Rect] = []
        for rect in merged:
            for index, other in enumerate(result):
                if rect[0] < other[2] and other[0] < rect[2] and rect[1] < other[3] and other[1] < rect[3]:
                    result[index] = (
                        min(rect[0], other[0]),
                        min(rect[1], other[1]),
                        max(rect[2], other[2]),
                        max(rect[3], other[3]),
                    )
                    changed = True
                    break
            else:
                result.append(rect)
        merged = result
    return sorted(merged, key=lambda r: (r[1], r[0]))


def share(rects: list[Rect], shape: tuple[int, int]) -> float:
    """The part of an image of ``shape`` (height, width) that the (disjoint) rectangles cover."""
    return sum((r[2] - r[0]) * (r[3] - r[1]) for r in rects) / max(shape[0] * shape[1], 1)
