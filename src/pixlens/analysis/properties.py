"""Colours and quality (Rekognition's ``ImageProperties``) and a perceptual hash, with NumPy and Pillow only.

All the work happens in ``prepare`` (a few milliseconds per image), on the decoded image and small copies of it:

- **DominantColors**: the image at most 128 px on its longer side (box filter). Its pixels are binned
  (4 bits per sRGB channel; a bin is the CIELAB colour of its pixels' mean sRGB colour, weighted by their
  count) and clustered by weighted k-means (Euclidean CIELAB distance, i.e. Delta E 76) into ``max_colors`` clusters.
  The initialisation is deterministic: the most frequent bin first, then each time the bin with the largest
  ``count * squared distance`` to the chosen centres (the argmax of k-means++'s sampling weight). Then
  clusters nearer than CIEDE2000 :data:`MERGE_DELTA_E` are merged, and clusters holding less than
  :data:`MIN_PERCENT` percent of the pixels are folded into their nearest cluster (their share of pixels goes
  to it; its colour stays). So a one-colour image has one dominant colour, and the percentages sum to 100
  (give or take rounding). Colours are listed most frequent first and named by :mod:`pixlens.analysis.colors`.
- **Quality**, on the image at most 256 px on its longer side:

  - ``Brightness``: the mean CIE lightness L* (0 black, 100 white).
  - ``Contrast``: the spread of L* between its 5th and 95th percentiles (0 for a flat image, 100 for an
    image that is half black, half white).
  - ``Sharpness``: ``100 * v / (v + SHARPNESS_HALF)``, where ``v`` is the variance of the 4-neighbour
    Laplacian of the luma (0-255). Monotonic in ``v``: 0 for a flat image, 50 at ``v = SHARPNESS_HALF``
    (a moderately soft photo), towards 100 for crisp detail. Blurring lowers it.

- **PerceptualHash** (DCT pHash, the signs of the coefficients): the luma of the whole decoded image resized to
  32x32 by a box filter (each cell the mean of the pixels it covers, fractions weighted, in floating point, so
  it commutes with rotations by 90 degrees and mirrors), its 2-D DCT-II (orthonormal), the top-left 8x8 block
  ``c[u][v]`` of low frequencies (``u`` down the rows, ``v`` across). The box filter and the 8 low rows of the
  DCT are one ``8 x n`` matrix per axis: about 2 ms for 1024x768. Bit ``(u, v)`` is 1 when ``c[u][v] > 0``
  (above :data:`HASH_MARGIN`), except the DC bit ``(0, 0)`` (the mean brightness, never negative): always 0.
  Bits in row-major order, most significant first, as 16 hex digits.

  Signs rather than "above the median" make the hashes of the 8 rotations and mirrors of an image bit
  operations on its hash (:func:`dihedral_variants`): a left-right mirror negates ``c[u][v]`` for odd ``v``, a
  top-bottom mirror for odd ``u``, a transpose swaps ``u`` and ``v``. Exact on the 30 sample photos (only a
  coefficient within the margin of 0, in flat or exactly symmetric images, breaks it: its bit is 0 either way).
  Distances (:func:`hamming`, the minimum over the 8 variants of one image), on the 30 samples: copies halved or
  quartered and JPEG-recompressed at quality 40-75, 0-3 bits, rotated or mirrored as well (1/8 size, quality 20
  or 20 % brighter: at most 6); a 90 % centre crop 4-18; different photos 16-33 (mean 26; without the
  variants 22-42, mean 31). :mod:`pixlens.duplicates` sets the threshold; the embedding handles crops.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from PIL import Image

from pixlens.analysis.colors import css_name, delta_e2000, lab_to_srgb, simplified_name, srgb_to_lab

if TYPE_CHECKING:  # annotations only: pixlens.duplicates imports this module for the hash, without pydantic
    from pixlens.config import Settings
    from pixlens.imageio import DecodedImage

VERSION = "2"  # 2: the hash is the signs of the DCT coefficients (rotations and mirrors by bit operations)

COLOR_SIZE: Final = 128  # longer side of the copy whose colours are clustered
QUALITY_SIZE: Final = 256  # longer side of the copy whose quality is measured
HASH_SIZE: Final = 32  # side of the luma square whose DCT gives the hash
HASH_BITS_SIDE: Final = 8  # the top-left 8x8 DCT coefficients give the 64 bits
HASH_MARGIN: Final = 1e-6  # a coefficient sets its bit when above this (rounding noise of a flat image does not)
BIN_BITS: Final = 4  # bits per sRGB channel when binning the pixels before k-means
KMEANS_ITERATIONS: Final = 30
MERGE_DELTA_E: Final = 5.0  # clusters nearer than this (CIEDE2000) are one colour
MIN_PERCENT: Final = 1.0  # clusters with fewer pixels are folded into their nearest cluster
SHARPNESS_HALF: Final = 500.0  # Laplacian variance that scores 50

FloatArray = np.ndarray[Any, np.dtype[np.float64]]


class PropertyAnalyzer:
    name = "properties"
    version = VERSION
    fields = ("ImageProperties", "PerceptualHash")

    def __init__(self, settings: Settings) -> None:
        self.max_colors = settings.properties.max_colors

    def prepare(self, image: DecodedImage) -> dict[str, Any]:
        return image_properties(image.image, self.max_colors)

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        return [dict(fields) for fields in prepared]


def image_properties(image: Image.Image, max_colors: int = 5) -> dict[str, Any]:
    """The record fields ``ImageProperties`` and ``PerceptualHash`` of an RGB image."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    quality_copy = _shrink(rgb, QUALITY_SIZE)
    color_copy = _shrink(quality_copy, COLOR_SIZE)
    luma = np.asarray(quality_copy.convert("L"), dtype=np.float64)
    lightness = cie_lightness(np.asarray(quality_copy))
    return {
        "ImageProperties": {
            "Quality": {
                "Brightness": round(float(np.clip(lightness.mean(), 0.0, 100.0)), 2),
                "Sharpness": round(sharpness(luma), 2),
                "Contrast": round(contrast(lightness), 2),
            },
            "DominantColors": dominant_colors(np.asarray(color_copy), max_colors),
        },
        "PerceptualHash": phash(rgb),  # from the whole image: its box filter commutes with rotations
    }


# ----------------------------------------------------------------------------------------------------
# Quality


def cie_lightness(pixels: np.ndarray[Any, np.dtype[np.uint8]]) -> FloatArray:
    """CIE L* (0-100) of each pixel of an sRGB array ``(h, w, 3)``."""
    y = _LINEAR_Y[0][pixels[..., 0]] + _LINEAR_Y[1][pixels[..., 1]] + _LINEAR_Y[2][pixels[..., 2]]
    f = np.where(y > 216.0 / 24389.0, np.cbrt(y), y * (24389.0 / 27.0 / 116.0) + 16.0 / 116.0)
    lightness: FloatArray = 116.0 * f - 16.0
    return lightness


def sharpness(luma: FloatArray) -> float:
    """0-100 from the variance of the Laplacian of a luma array (0-255); see the module's docstring."""
    if min(luma.shape) < 3:
        return 0.0
    laplacian = luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]
    variance = float(laplacian.var())
    return 100.0 * variance / (variance + SHARPNESS_HALF)


def _linear_y() -> FloatArray:
    """Per channel, a table from the 8-bit sRGB value to its share of the relative luminance Y."""
    c = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    table: FloatArray = np.stack([0.2126729 * linear, 0.7151522 * linear, 0.0721750 * linear])
    return table


_LINEAR_Y: Final = _linear_y()


def contrast(lightness: FloatArray) -> float:
    """0-100: the spread of L* between its 5th and 95th percentiles."""
    low, high = np.percentile(lightness, [5.0, 95.0])
    return float(np.clip(high - low, 0.0, 100.0))


# ----------------------------------------------------------------------------------------------------
# Dominant colours


def dominant_colors(pixels: np.ndarray[Any, np.dtype[np.uint8]], max_colors: int) -> list[dict[str, Any]]:
    """Up to ``max_colors`` dominant colours of an RGB array ``(h, w, 3)``, most frequent first."""
    flat = pixels.reshape(-1, 3)
    shift = 8 - BIN_BITS
    codes = (
        (flat[:, 0].astype(np.int64) >> shift) << (2 * BIN_BITS)
        | (flat[:, 1].astype(np.int64) >> shift) << BIN_BITS
        | (flat[:, 2].astype(np.int64) >> shift)
    )
    bins = 1 << (3 * BIN_BITS)
    counts = np.bincount(codes, minlength=bins).astype(np.float64)
    used = np.flatnonzero(counts)
    weights = counts[used]
    mean_rgb = np.stack([np.bincount(codes, flat[:, i], minlength=bins)[used] for i in range(3)], axis=1)
    points = srgb_to_lab(mean_rgb / weights[:, None])  # the CIELAB colour of each bin's mean sRGB colour

    centres, assignment = _kmeans(points, weights, max_colors)
    centres, totals = _merge(centres, assignment, points, weights)
    percents = 100.0 * totals / totals.sum()
    order = sorted(range(len(centres)), key=lambda i: (-percents[i], *centres[i].round(6).tolist()))
    centres, percents = centres[order], percents[order]

    rgb = np.rint(lab_to_srgb(centres)).astype(int)
    names = css_name(centres)
    simplified = simplified_name(centres)
    return [
        {
            "Red": int(r),
            "Green": int(g),
            "Blue": int(b),
            "HexCode": f"#{int(r):02X}{int(g):02X}{int(b):02X}",
            "CSSColor": names[i],
            "SimplifiedColor": simplified[i],
            "PixelPercent": round(float(percents[i]), 2),
        }
        for i, (r, g, b) in enumerate(rgb)
    ]


def _kmeans(points: FloatArray, weights: FloatArray, k: int) -> tuple[FloatArray, np.ndarray[Any, Any]]:
    """Weighted k-means with a deterministic farthest-first (k-means++ argmax) start."""
    chosen = [int(np.argmax(weights))]
    nearest = np.sum((points - points[chosen[0]]) ** 2, axis=1)
    while len(chosen) < k:
        score = weights * nearest
        best = int(np.argmax(score))
        if score[best] <= 1e-9:
            break  # fewer distinct colours than k
        chosen.append(best)
        nearest = np.minimum(nearest, np.sum((points - points[best]) ** 2, axis=1))
    centres = points[chosen].copy()
    assignment = np.zeros(len(points), dtype=np.int64)
    for iteration in range(KMEANS_ITERATIONS):
        distances = np.sum((points[:, None, :] - centres[None, :, :]) ** 2, axis=2)
        new_assignment = np.argmin(distances, axis=1)
        if iteration > 0 and np.array_equal(new_assignment, assignment):
            break
        assignment = new_assignment
        totals = np.bincount(assignment, weights, minlength=len(centres))
        filled = totals > 0
        for axis in range(3):
            sums = np.bincount(assignment, weights * points[:, axis], minlength=len(centres))
            centres[filled, axis] = sums[filled] / totals[filled]
    return centres, assignment


def _merge(
    centres: FloatArray, assignment: np.ndarray[Any, Any], points: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Merge clusters that look the same, then fold tiny clusters into their nearest: (centres, pixel counts)."""
    totals: FloatArray = np.bincount(assignment, weights, minlength=len(centres)).astype(np.float64)
    keep = totals > 0
    centres, totals = centres[keep], totals[keep]
    # Merge the closest pair while it is nearer than MERGE_DELTA_E (weighted mean of the centres).
    while len(centres) > 1:
        distances = delta_e2000(centres[:, None, :], centres[None, :, :])
        np.fill_diagonal(distances, math.inf)
        i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
        if distances[i, j] >= MERGE_DELTA_E:
            break
        total = totals[i] + totals[j]
        centres[i] = (centres[i] * totals[i] + centres[j] * totals[j]) / total
        totals[i] = total
        centres, totals = np.delete(centres, j, axis=0), np.delete(totals, j)
    # Fold clusters under MIN_PERCENT into their nearest remaining cluster (the smallest first).
    while len(centres) > 1:
        smallest = int(np.argmin(totals))
        if 100.0 * totals[smallest] / totals.sum() >= MIN_PERCENT:
            break
        distances = np.sum((centres - centres[smallest]) ** 2, axis=1)
        distances[smallest] = math.inf
        target = int(np.argmin(distances))
        totals[target] += totals[smallest]
        centres, totals = np.delete(centres, smallest, axis=0), np.delete(totals, smallest)
    return centres, totals


# ----------------------------------------------------------------------------------------------------
# Perceptual hash


def _dct_matrix(n: int) -> FloatArray:
    """The orthonormal DCT-II matrix: ``D @ x`` is the DCT of the vector ``x``."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    result: FloatArray = matrix
    return result


_DCT: Final = _dct_matrix(HASH_SIZE)
_LOW_DCT: Final = _DCT[:HASH_BITS_SIDE]  # the rows of the low frequencies that give the bits


@functools.lru_cache(maxsize=64)
def _hash_matrix(source: int) -> FloatArray:
    """``(8, source)``: the box filter to :data:`HASH_SIZE` samples, then the low frequencies of their DCT."""
    matrix: FloatArray = _LOW_DCT @ _box_matrix(source, HASH_SIZE)
    matrix.flags.writeable = False
    return matrix


def _box_matrix(source: int, target: int) -> FloatArray:
    """``(target, source)`` weights of a box filter: ``B @ x`` is ``x`` resized to ``target`` samples.

    Output sample ``i`` is the mean of the input over ``[i, i + 1) * source / target`` (fractional pixels
    weighted by their overlap), so reversing ``x`` reverses ``B @ x``.
    """
    edges = np.arange(target + 1, dtype=np.float64) * (source / target)
    pixels = np.arange(source, dtype=np.float64)[None, :]
    overlap = np.minimum(edges[1:, None], pixels + 1.0) - np.maximum(edges[:-1, None], pixels)
    weights: FloatArray = np.clip(overlap, 0.0, None) / (source / target)
    return weights


def phash_coefficients(image: Image.Image) -> FloatArray:
    """The low-frequency 8x8 block ``c[u][v]`` of the DCT of the 32x32 luma (``u`` down the rows, ``v`` across)."""
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    block: FloatArray = _hash_matrix(luma.shape[0]) @ luma @ _hash_matrix(luma.shape[1]).T
    return block


def phash(image: Image.Image) -> str:
    """The 64-bit DCT perceptual hash of an image, as 16 hex digits (see the module's docstring)."""
    block = phash_coefficients(image)
    bits = (block > HASH_MARGIN).ravel()  # the margin keeps rounding noise of a flat image from setting bits
    bits[0] = False  # the DC term (the mean brightness) is never negative: no information
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:016x}"


# Bit (u, v) of a hash is bit 63 - (8 * u + v) of its value: row u is byte 7 - u, column v is bit 7 - v of it.
_ODD_COLUMNS: Final = 0x5555555555555555  # the bits of odd v: a left-right mirror negates those coefficients
_ODD_ROWS: Final = 0x00FF00FF00FF00FF  # the bits of odd u: a top-bottom mirror negates those coefficients

# The order of :func:`dihedral_variants`: the variant ``k`` is the hash of ``image.transpose(DIHEDRAL[k])``.
DIHEDRAL: Final[tuple[Image.Transpose | None, ...]] = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)


UInt64Array = np.ndarray[Any, np.dtype[np.uint64]]


def dihedral_array(values: UInt64Array) -> UInt64Array:
    """``(8, n)``: the 64-bit hashes of the 8 rotations and mirrors of ``n`` images, in the order of :data:`DIHEDRAL`.

    A left-right mirror negates the coefficients of odd ``v``, a top-bottom mirror those of odd ``u``, a transpose
    swaps ``u`` and ``v`` (three delta swaps of the 8x8 bit matrix); a rotation by 90 degrees is a transpose and
    a mirror. Exact, except for coefficients within :data:`HASH_MARGIN` of 0 (only in flat or exactly symmetric
    images), whose bit is 0 either way.
    """
    x = np.asarray(values, dtype=np.uint64).reshape(-1)
    for shift, mask in ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0)):
        t = (x ^ (x >> np.uint64(shift))) & np.uint64(mask)
        x = x ^ t ^ (t << np.uint64(shift))
    value = np.asarray(values, dtype=np.uint64).reshape(-1)
    rows, columns = np.uint64(_ODD_ROWS), np.uint64(_ODD_COLUMNS)
    variants: UInt64Array = np.stack(
        [
            value,
            x ^ rows,  # ROTATE_90 (counter-clockwise): transpose, then top-bottom mirror
            value ^ rows ^ columns,  # ROTATE_180
            x ^ columns,  # ROTATE_270: transpose, then left-right mirror
            value ^ columns,  # FLIP_LEFT_RIGHT
            value ^ rows,  # FLIP_TOP_BOTTOM
            x,  # TRANSPOSE
            x ^ rows ^ columns,  # TRANSVERSE
        ]
    )
    return variants


def dihedral_variants(hash_hex: str) -> list[str]:
    """The hashes of the 8 rotations and mirrors of an image from its hash (16 hex digits), itself first.

    ``dihedral_variants(phash(image))[k] == phash(image.transpose(DIHEDRAL[k]))`` up to rounding.
    """
    if len(hash_hex) != HASH_BITS_SIDE * HASH_BITS_SIDE // 4:
        raise ValueError(f"not a 64-bit hash: {hash_hex!r}")
    return [f"{int(variant):016x}" for variant in dihedral_array(np.array([int(hash_hex, 16)], dtype=np.uint64))[:, 0]]


def hamming(a: str, b: str) -> int:
    """The number of differing bits between two perceptual hashes (hex strings of the same length)."""
    if len(a) != len(b):
        raise ValueError(f"hashes of different lengths: {a!r}, {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


# ----------------------------------------------------------------------------------------------------


def _shrink(image: Image.Image, longer: int) -> Image.Image:
    """A copy at most ``longer`` pixels on its longer side (box filter: the mean of the pixels it covers)."""
    width, height = image.size
    if max(width, height) <= longer:
        return image
    scale = longer / max(width, height)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BOX, reducing_gap=2.0)  # reduce() first: ~2x faster, same
