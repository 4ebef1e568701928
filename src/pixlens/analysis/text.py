"""Text in images (Rekognition's DetectText) with rapidocr-onnxruntime's PP-OCRv4 models, stage by stage.

The stages are rapidocr's own (``TextDetector``'s DB post-processing, ``TextClassifier``, ``TextRecognizer``),
run on ONNX Runtime sessions that pixlens builds itself (``model_threads`` intra-op threads, no spinning), so
that pixlens controls the cascade:

1. **cheap step** (``cascade`` on): candidate regions from two cheap signals (``textgate.py``): the text
   detector on a small copy (longer side ``CHEAP_SIDE`` = 480 px, with a lower box threshold than the full
   pass so that it errs towards "there may be text"), and word-like strokes found at working size (made in
   ``prepare``, in the decode threads). No candidate: ``TextDetections: []`` and
   ``Skipped["text.recognition"] = "no text regions found"``; the expensive steps do not run. Otherwise the
   full detector pass runs inside the candidate rectangles only, at the scale of the full pass, recorded as
   ``Skipped["text.detection"]`` (the part of the image it did not look at); over the whole image when the
   rectangles cover most of it, unless neither the cheap pass nor a second look at working size finds a
   text-like region there: strokes everywhere and no text seen is texture (wool, foliage), and the image is
   skipped with ``TEXTURE_NOTE``. Its price: text that neither cheap signal sees is not read
   (docs/PERFORMANCE.md lists it); ``cascade = false`` reads it.
2. **full path**: the detector at working size (rapidocr's default: shorter side at least 736 px), the
   0/180 degree angle classifier on every line crop, the recogniser on the crops of the whole batch at once.

Output, in Rekognition's shape: every LINE (reading order, ``Id`` 0..n-1), then every WORD (``Id`` 0..m-1, its
own sequence as in Rekognition, ``ParentId`` = its line's ``Id``). Geometry is in ratios of the image: the
line's 4-point polygon from the detector, a word's polygon cut from its line's polygon at the word's first and
last character, placed by the recogniser's CTC columns (where each character was emitted along the line).
Lines read with less than ``text.min_confidence`` are dropped; a word's confidence is the mean of its
characters'.

Spaces. The recogniser often drops the space between English words ("OPEN24HOURS"). ``spaces.py`` restores
them in two conservative ways:

- **dictionary**: a token of at least 5 letters/digits, all-capitals, all-lower-case or Title-case, that is not
  an English word itself (WordNet's lemmas: "INVOICE" stays whole), is split with ``wordninja``; the split is
  kept only when every piece is a common English word (among wordninja's 15,000 most frequent, and at least 3
  letters unless it is one of a few short function words) or a number.
- **geometry**: a gap between two characters' CTC columns much wider than the line's usual character pitch
  (``GAP_FACTOR`` x the median) with no space there becomes a space, when both neighbours are letters or
  digits and the pieces are at least 2 characters long.

Measured by ``benchmarks/bench_text.py`` on the rendered images of ``tests/textimages.py`` (23 lines, all read
with the right characters, 62 word gaps): the recogniser's raw text has 43/62 gaps (16/23 lines exactly
spaced); after restoration 62/62 with no false space (23/23 lines); the dictionary step does all of it, the
geometry step added nothing on this set (and no false space); 0 of 8 single words/codes were split. Known
limitations: concatenations of rare words, proper names and non-English words stay unsplit
("StrassenbahnHaltestelle"); a missing space next to punctuation is not restored; a rare word that splits into
two very common ones may be split. A line's reading does not depend on the other lines read with it (each crop
is padded to its own width class, ``_Recognizer``; rapidocr pads a batch to its widest crop).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image
from rapidocr_onnxruntime.ch_ppocr_cls import TextClassifier
from rapidocr_onnxruntime.ch_ppocr_cls.utils import ClsPostProcess
from rapidocr_onnxruntime.ch_ppocr_det import TextDetector
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess, DetPreProcess
from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer
from rapidocr_onnxruntime.ch_ppocr_rec.utils import CTCLabelDecode
from rapidocr_onnxruntime.utils import OrtInferSession, read_yaml

from pixlens.analysis.rects import Rect, share
from pixlens.analysis.runtime import session_options
from pixlens.analysis.spaces import pitch, restore_spaces
from pixlens.analysis.textgate import Mask, regions_of_interest, stroke_candidates, without_touching
from pixlens.config import Settings, TextSettings
from pixlens.imageio import DecodedImage

VERSION = "3"  # 2: candidate regions with margins by height, grown where a line runs into their edge;
# 3: no whole-image pass over texture in which two smaller passes see no text
CHEAP_SIDE = 480  # longer side of the copy the cascade's cheap detector pass sees
CHEAP_BOX_THRESH = 0.4  # the cheap pass keeps fainter regions than the full one (0.5): it only decides
TEXT_LIKE_ASPECT, TEXT_LIKE_SMALL = 1.5, 0.12  # a cheap region is text-like when this elongated or this small
FULL_MIN_SIDE = 736  # rapidocr's default: the full detector pass sees the shorter side at least this long
FULL_MAX_SIDE = 2000  # ... and the longer side at most this long (rapidocr's max_side_len)
MIN_HEIGHT, MAX_ASPECT = 30, 8  # rapidocr pads very flat images (banners) before detection
SEEN_HEIGHT = 16  # px in the cheap input: a line this tall the cheap pass delimits as well as the full pass
WHOLE_IMAGE_SHARE = 0.6  # candidates covering more than this of the image: one pass over all of it is cheaper
SKIPPED_NOTE = "no text regions found"
# Candidates over more than WHOLE_IMAGE_SHARE and not one text-like region in the cheap pass nor in a second
# look at working size: texture (wool, foliage, sand), not writing; the full pass over such a photo costs
# ~200-300 ms, the second look a third of it. A page of small text gives the cheap pass many regions (measured
# on rendered pages: 13-56 for letters 7-14 px tall; 0-1 only for 6-px letters, which the full pass itself
# mostly fails to read: 3 of 32 words when blurred).
TEXTURE_NOTE = (
    "no text regions found: texture (word-like strokes over {covered:.0%} of the image, no text-like region at"
    " 2 scales)"
)
MIN_FULL_RATIO = 1.25  # the second look only pays when the full pass enlarges the image at least this much
RATIO_STEP = 2  # the recogniser's crops are padded to a multiple of this width/height ratio (96 px at height 48)
# A line closer than its own height to a candidate rectangle's inner edge may go on beyond it (the detector
# drops a letter cut by the edge, so its box ends a few pixels short)
GROW_SIDEWAYS, MAX_GROWTHS = 4, 4  # it grows sideways by 4 line heights or its own width, at most 4 times

BGR = np.ndarray[Any, np.dtype[np.uint8]]
Tensor = np.ndarray[Any, np.dtype[np.float32]]
Quad = np.ndarray[Any, np.dtype[np.float32]]  # [4, 2]: top-left, top-right, bottom-right, bottom-left (x, y)

_PACKAGE = Path(str(__import__("rapidocr_onnxruntime").__file__)).resolve().parent

for _name in ("RapidOCR", "OrtInferSession"):  # rapidocr's loggers print at DEBUG level by default
    logging.getLogger(_name).setLevel(logging.ERROR)


@dataclass
class Prepared:
    """One image's input, as small as it can wait in the pipeline's window: the RGB working copy that the other
    analysers share (its BGR copy is made when the image is analysed), the cheap pass's picture not yet turned
    into floats (a quarter of the size)."""

    picture: Image.Image  # the working copy, RGB
    cheap: BGR | None  # the cheap pass's picture, resized for the detector (None without the cascade)
    strokes: Mask | None  # word-like strokes at working size (None without the cascade)

    @cached_property
    def image(self) -> BGR:
        """The working copy, BGR as the models expect."""
        return _bgr(self.picture)


def _bgr(picture: Image.Image) -> BGR:
    bgr: BGR = np.ascontiguousarray(np.asarray(picture, dtype=np.uint8)[:, :, ::-1])
    return bgr


@dataclass
class Plan:
    """Where the cascade's full pass looks in one image."""

    seen: list[Quad]  # lines the cheap pass saw tall enough to read as they are (working pixels)
    rects: list[Rect]  # where the full-scale detector must look (small text, word-like strokes)
    cheap_regions: int = 0  # text-like regions the cheap pass found (seen or small)


@dataclass
class Line:
    quad: Quad  # in working-image pixels
    text: str
    confidence: float  # 0-1
    columns: list[float]  # per character of ``text``: its centre along the line, 0-1
    char_confidences: list[float]


# -- ONNX Runtime sessions and rapidocr's stages on them ---------------------------------------------------------


def _session(model: str, threads: int) -> Any:
    """A rapidocr ``OrtInferSession`` around a session built with pixlens's options (``runtime.session_options``)."""
    path = _PACKAGE / model
    options = session_options(path, threads)
    options.log_severity_level = 3
    wrapper = OrtInferSession.__new__(OrtInferSession)
    wrapper.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return wrapper


class _Detector(TextDetector):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any], threads: int) -> None:  # rapidocr's, on our session
        self.limit_side_len = config["limit_side_len"]
        self.limit_type = config["limit_type"]
        self.mean, self.std = config["mean"], config["std"]
        self.preprocess_op = None
        self.postprocess_op = _postprocess(config, config["box_thresh"])
        self.cheap_postprocess = _postprocess(config, CHEAP_BOX_THRESH)
        self.infer = _session(config["model_path"], threads)

    def boxes(self, tensor: Tensor, shape: tuple[int, int], cheap: bool = False) -> list[Quad]:
        """Text regions (clockwise quads, in the pixels of ``shape``) from a preprocessed detector input."""
        prediction = self.infer(tensor)[0]
        post = self.cheap_postprocess if cheap else self.postprocess_op
        found, _scores = post(prediction, shape)
        if len(found) == 0:
            return []
        return list(self.filter_tag_det_res(found, shape))


def _postprocess(config: dict[str, Any], box_thresh: float) -> Any:
    return DBPostProcess(
        thresh=config["thresh"],
        box_thresh=box_thresh,
        max_candidates=config["max_candidates"],
        unclip_ratio=config["unclip_ratio"],
        use_dilation=config["use_dilation"],
        score_mode=config["score_mode"],
    )


class _Classifier(TextClassifier):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any], threads: int) -> None:
        self.cls_image_shape = config["cls_image_shape"]
        self.cls_batch_num = config["cls_batch_num"]
        self.cls_thresh = config["cls_thresh"]
        self.postprocess_op = ClsPostProcess(config["label_list"])
        self.infer = _session(config["model_path"], threads)


class _Recognizer(TextRecognizer):  # type: ignore[misc]
    """rapidocr's recogniser, but a crop's reading never depends on the other crops of its batch.

    rapidocr pads every crop of a batch to the widest one's aspect ratio, and the zeros on the right change a
    character now and then (``Strafe``/``Strabe``, depending on which lines were read together). Here each crop
    is padded to its own ratio rounded up to a multiple of ``RATIO_STEP`` (at least the model's 320/48), and only
    crops of the same padded ratio share a batch.
    """

    def __init__(self, config: dict[str, Any], threads: int) -> None:
        self.session = _session(config["model_path"], threads)
        self.postprocess_op = CTCLabelDecode(character=self.session.get_character_list())
        self.rec_batch_num = config["rec_batch_num"]
        self.rec_image_shape = config["rec_img_shape"]

    def __call__(self, crops: list[BGR], return_word_box: bool = False) -> tuple[list[Any], float]:
        _, height, width = self.rec_image_shape[:3]
        ratios = [crop.shape[1] / float(crop.shape[0]) for crop in crops]
        padded = [max(width / height, math.ceil(ratio / RATIO_STEP) * RATIO_STEP) for ratio in ratios]
        results: list[Any] = [("", 0.0)] * len(crops)
        for target in sorted(set(padded)):
            members = [index for index, value in enumerate(padded) if value == target]
            for start in range(0, len(members), self.rec_batch_num):
                chunk = members[start : start + self.rec_batch_num]
                batch = np.concatenate([self.resize_norm_img(crops[i], target)[np.newaxis] for i in chunk])
                predictions = self.session(batch.astype(np.float32))[0]
                read = self.postprocess_op(
                    predictions, return_word_box, wh_ratio_list=[ratios[i] for i in chunk], max_wh_ratio=target
                )
                for index, result in zip(chunk, read, strict=True):
                    results[index] = result
        return results, 0.0


# -- the analyser ---------------------------------------------------------------------------------------------------


class TextAnalyzer:
    name = "text"
    fields = ("TextDetections",)

    def __init__(self, settings: Settings) -> None:
        self.settings: TextSettings = settings.text
        self.cascade = settings.cascade
        threads = settings.threads_per_model()
        config: dict[str, Any] = read_yaml(_PACKAGE / "config.yaml")
        self.detector = _Detector(config["Det"], threads)
        self.classifier = _Classifier(config["Cls"], threads)
        self.recognizer = _Recognizer(config["Rec"], threads)
        self._full_pre = DetPreProcess(FULL_MIN_SIDE, "min", config["Det"]["mean"], config["Det"]["std"])
        self._cheap_pre = DetPreProcess(CHEAP_SIDE, "max", config["Det"]["mean"], config["Det"]["std"])
        models = "+".join(Path(config[stage]["model_path"]).stem for stage in ("Det", "Cls", "Rec"))
        self.model_version = f"rapidocr-{package_version('rapidocr-onnxruntime')}/{models}/v{VERSION}"
        shape = json.dumps(self.settings.model_dump(), sort_keys=True)
        self.version = f"{self.model_version}/{hashlib.sha256(shape.encode()).hexdigest()[:8]}"

    # -- the Analyzer interface ---------------------------------------------------------------------------------
    def prepare(self, image: DecodedImage) -> Prepared:
        if not self.cascade:
            return Prepared(image.image, None, None)
        bgr = _bgr(image.image)
        return Prepared(image.image, self._cheap_pre.resize(bgr), stroke_candidates(bgr))

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = [{"TextDetections": []} for _ in prepared]
        todo: list[tuple[int, Prepared]] = []
        plans: list[Plan | None] = []
        for index, item in enumerate(prepared):
            plan = self.plan(item)
            if plan is not None and not plan.seen and not plan.rects:
                results[index]["Skipped"] = {"text.recognition": SKIPPED_NOTE}
                continue
            if plan is not None:
                covered = share(plan.rects, item.image.shape[:2])
                if covered > WHOLE_IMAGE_SHARE:
                    if not plan.cheap_regions and self._texture_only(item.image):
                        results[index]["Skipped"] = {"text.recognition": TEXTURE_NOTE.format(covered=covered)}
                        continue
                    plan = None
                elif plan.rects:
                    note = f"full pass only in {len(plan.rects)} region(s), {covered:.0%} of the image"
                    results[index]["Skipped"] = {"text.detection": note}
                else:
                    results[index]["Skipped"] = {"text.detection": "no full pass: the cheap pass delimited every line"}
            todo.append((index, item))
            plans.append(plan)
        lines = self.read([item.image for _, item in todo], plans)
        for (index, item), found in zip(todo, lines, strict=True):
            height, width = item.image.shape[:2]
            results[index]["TextDetections"] = self.detections(found, width, height)
        return results

    # -- steps ------------------------------------------------------------------------------------------------
    def plan(self, item: Prepared) -> Plan | None:
        """The cascade's plan for one image (None without the cascade: the full pass everywhere). Lines the
        cheap pass saw tall enough are taken as they are; the full-scale detector looks only around the rest
        of its text-like regions and around word-like strokes."""
        if item.cheap is None or item.strokes is None:
            return None
        shape = item.image.shape[:2]
        scale = item.cheap.shape[0] / shape[0]  # cheap-input pixels per working pixel
        mask, covered = item.strokes.copy(), np.zeros_like(item.strokes)
        seen: list[Quad] = []
        found = 0
        for quad in self.detector.boxes(self.cheap_input(item), shape, cheap=True):
            if not _text_like(quad, shape):
                continue
            found += 1
            corners = [np.round(quad).astype(np.int32)]
            if float(np.linalg.norm(quad[3] - quad[0])) * scale >= SEEN_HEIGHT:
                seen.append(np.asarray(quad, dtype=np.float32))
                cv2.fillPoly(covered, corners, 1)
            else:
                cv2.fillPoly(mask, corners, 1)
        return Plan(seen, regions_of_interest(without_touching(mask, covered)), found)

    def cheap_input(self, item: Prepared) -> Tensor:
        """The cheap pass's detector input (an image prepared with the cascade)."""
        if item.cheap is None:
            raise ValueError("this image was prepared without the cascade: it has no cheap pass")
        return self._normalized(item.cheap)

    def _texture_only(self, image: BGR) -> bool:
        """Whether the detector at working size, between the cheap pass and the full one (a third of the
        latter's price on a photo), finds no text-like region either: the second look before texture is
        skipped (the bus's destination sign gives 1 region at 480 px, 0 at 416, 2 at working size)."""
        height, width = image.shape[:2]
        if _full_ratio(height, width) < MIN_FULL_RATIO:
            return False  # the full pass is hardly dearer: run it
        return not any(_text_like(quad, (height, width)) for quad in self._detect_scaled(image, 1.0, cheap=True))

    def regions(self, image: BGR, plan: Plan | None = None) -> list[Quad]:
        """Text-line quads in the pixels of ``image``, in reading order: the full detector pass over the whole
        image, or (with a plan) the lines already seen plus the full pass inside the plan's rectangles."""
        height, width = image.shape[:2]
        padded, top = image, 0
        if height <= MIN_HEIGHT or width / height > MAX_ASPECT:
            top = max(int(width / MAX_ASPECT), MIN_HEIGHT) - height // 2
            top = max(top, 0)
            border = cv2.copyMakeBorder(image, top, top, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
            padded = np.asarray(border, dtype=np.uint8)
        if plan is None:
            quads = self.detector.boxes(self._full_input(padded), (padded.shape[0], padded.shape[1]))
        else:
            quads = [quad + np.array([0, top], dtype=np.float32) for quad in plan.seen]
            for quad in self._detect_in(padded, plan.rects, top):
                if not any(_mostly_inside(quad, line) for line in quads):
                    quads.append(quad)
        for quad in quads:
            quad[:, 1] = np.clip(quad[:, 1] - top, 0, height)
        return _reading_order([q for q in quads if q[2, 1] - q[0, 1] > 1])

    def _detect_in(self, padded: BGR, rects: list[Rect], top: int) -> list[Quad]:
        """The full-scale detector inside ``rects`` (working pixels, ``top`` rows of padding above them); a
        rectangle whose text runs into its edge grows that way and is searched again, so that no line is cut."""
        height, width = padded.shape[0] - 2 * top, padded.shape[1]
        ratio = _full_ratio(padded.shape[0], padded.shape[1])
        found: list[Quad] = []
        pending = [(rect, 0) for rect in rects]
        while pending:
            rect, growths = pending.pop(0)
            left, upper, right, lower = rect
            quads = [
                quad + np.array([left, upper], dtype=np.float32)
                for quad in self._detect_scaled(padded[upper + top : lower + top, left:right], ratio)
            ]
            grown = _grown(rect, quads, (height, width))
            if grown != rect and growths < MAX_GROWTHS:
                pending.append((grown, growths + 1))
                continue
            found += [quad + np.array([0, top], dtype=np.float32) for quad in quads]
        # Grown rectangles may overlap: the same line found twice is kept once (the larger box).
        found.sort(key=lambda quad: -float(np.prod(quad.max(axis=0) - quad.min(axis=0))))
        kept: list[Quad] = []
        for quad in found:
            if not any(_mostly_inside(quad, other) for other in kept):
                kept.append(quad)
        return kept

    def _full_input(self, image: BGR) -> Tensor:
        """rapidocr's detector input (shorter side >= FULL_MIN_SIDE, sides multiples of 32), with the longer side
        capped at FULL_MAX_SIDE so that a flat banner is not blown up to 4000 px."""
        height, width = image.shape[:2]
        ratio = _full_ratio(height, width)
        size = (max(32, round(width * ratio / 32) * 32), max(32, round(height * ratio / 32) * 32))
        return self._normalized(np.asarray(cv2.resize(image, size), dtype=np.uint8))

    def _detect_scaled(self, crop: BGR, ratio: float, cheap: bool = False) -> list[Quad]:
        """The detector on ``crop`` resized by ``ratio`` (padded, not stretched, to multiples of 32), so that
        its text has the size it has in the whole-image pass (``cheap``: with the cheap pass's lower box
        threshold); quads in the pixels of ``crop``."""
        height, width = crop.shape[:2]
        scaled_w, scaled_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
        resized = cv2.resize(crop, (scaled_w, scaled_h))
        padded = cv2.copyMakeBorder(resized, 0, -scaled_h % 32, 0, -scaled_w % 32, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        shape = (padded.shape[0] / ratio, padded.shape[1] / ratio)  # the padded input, in crop pixels
        found = self.detector.boxes(self._normalized(np.asarray(padded, dtype=np.uint8)), shape, cheap)
        limits = np.array([width, height], dtype=np.float32)
        return [np.clip(np.asarray(quad, dtype=np.float32), 0, limits) for quad in found]

    def _normalized(self, image: BGR) -> Tensor:
        pre = self._full_pre
        tensor: Tensor = np.expand_dims(pre.permute(pre.normalize(image)), 0).astype(np.float32)
        return tensor

    def read(self, images: Sequence[BGR], plans: Sequence[Plan | None] | None = None) -> list[list[Line]]:
        """Detect (everywhere, or as each image's plan says), orient and recognise; the crops of all images go
        through the recogniser together."""
        plans = list(plans) if plans is not None else [None] * len(images)
        quads = [self.regions(image, plan) for image, plan in zip(images, plans, strict=True)]
        crops = [_crop(image, quad) for image, found in zip(images, quads, strict=True) for quad in found]
        if not crops:
            return [[] for _ in images]
        crops, _angles, _ = self.classifier(crops)
        recognised, _ = self.recognizer(crops, True)
        results: list[list[Line]] = []
        position = 0
        for found in quads:
            lines = []
            for quad in found:
                text, score, info = recognised[position]
                position += 1
                line = _line(quad, str(text), float(score), info)
                if line.text.strip() and line.confidence * 100 >= self.settings.min_confidence:
                    lines.append(line)
            results.append(merge_lines(lines))
        return results

    def detections(self, lines: list[Line], width: int, height: int) -> list[dict[str, Any]]:
        """Rekognition's TextDetections: the LINE entries, then the WORD entries."""
        entries: list[dict[str, Any]] = []
        words: list[dict[str, Any]] = []
        for line_id, line in enumerate(lines):
            text = restore_spaces(line.text, line.columns)
            entries.append(_entry(text, "LINE", line_id, None, line.confidence, line.quad, width, height))
            for word, start, end, confidence in _words(text, line):
                quad = _sub_quad(line.quad, start, end)
                words.append(_entry(word, "WORD", len(words), line_id, confidence, quad, width, height))
        return entries + words


# -- geometry -------------------------------------------------------------------------------------------------------


def _full_ratio(height: int, width: int) -> float:
    """The full pass's scale: shorter side at least FULL_MIN_SIDE, longer side at most FULL_MAX_SIDE."""
    return min(max(FULL_MIN_SIDE / min(height, width), 1.0), FULL_MAX_SIDE / max(height, width))


def _grown(rect: Rect, quads: list[Quad], shape: tuple[int, int]) -> Rect:
    """``rect`` grown past each edge that a found line touches (not at the image's border): sideways by a few
    times the line's height or the rectangle's width (whichever is more), up or down by the line's height."""
    x_min, y_min, x_max, y_max = rect
    left, upper, right, lower = rect
    height, width = shape
    for quad in quads:  # each line against the rectangle as searched; per edge, the largest growth
        (x1, y1), (x2, y2) = quad.min(axis=0), quad.max(axis=0)
        reach = int(y2 - y1) + 1
        sideways = max(GROW_SIDEWAYS * reach, x_max - x_min)
        if x1 <= x_min + reach and x_min > 0:
            left = min(left, max(x_min - sideways, 0))
        if x2 >= x_max - reach and x_max < width:
            right = max(right, min(x_max + sideways, width))
        if y1 <= y_min + reach / 2 and y_min > 0:
            upper = min(upper, max(y_min - reach, 0))
        if y2 >= y_max - reach / 2 and y_max < height:
            lower = max(lower, min(y_max + reach, height))
    return (left, upper, right, lower)


def _mostly_inside(quad: Quad, other: Quad) -> bool:
    """Whether at least half of ``quad``'s bounding box lies in ``other``'s (the same line found twice)."""
    left, top = np.maximum(quad.min(axis=0), other.min(axis=0))
    right, bottom = np.minimum(quad.max(axis=0), other.max(axis=0))
    width, height = quad.max(axis=0) - quad.min(axis=0)
    return bool(max(right - left, 0) * max(bottom - top, 0) >= 0.5 * max(width * height, 1e-6))


def _text_like(quad: Quad, shape: tuple[int, int]) -> bool:
    """Whether a cheap-pass region could be text: elongated (a word or a line, either way up), or small (a
    character). A big roundish blob (fur, foliage: the detector's usual false alarm on photos) is not."""
    width = float(np.linalg.norm(quad[1] - quad[0]))
    height = float(np.linalg.norm(quad[3] - quad[0]))
    short, long = min(width, height), max(width, height)
    return long >= TEXT_LIKE_ASPECT * short or short <= TEXT_LIKE_SMALL * min(shape)


def _reading_order(quads: list[Quad]) -> list[Quad]:
    """Top to bottom; boxes whose tops lie within half a line height of each other, left to right."""
    quads = sorted(quads, key=lambda q: (float(q[0, 1]), float(q[0, 0])))
    rows: list[list[Quad]] = []
    for quad in quads:
        height = float(quad[3, 1] - quad[0, 1])
        if rows and abs(float(quad[0, 1]) - float(rows[-1][0][0, 1])) < max(height / 2, 5):
            rows[-1].append(quad)
        else:
            rows.append([quad])
    return [quad for row in rows for quad in sorted(row, key=lambda q: float(q[0, 0]))]


def merge_lines(lines: list[Line]) -> list[Line]:
    """Join detector boxes that continue one another on the same row (the detector cuts a line at wide word
    gaps: "Parking" + "for customers only") into one LINE, as Rekognition reports it."""
    merged: list[Line] = []
    for line in lines:
        if merged and _continues(merged[-1], line):
            merged[-1] = _join(merged[-1], line)
        else:
            merged.append(line)
    return merged


def _continues(first: Line, second: Line) -> bool:
    a, b = first.quad, second.quad
    height_a = float(np.linalg.norm(a[3] - a[0]))
    height_b = float(np.linalg.norm(b[3] - b[0]))
    if min(height_a, height_b) <= 0 or max(height_a, height_b) / min(height_a, height_b) > 1.5:
        return False
    top = max(float(a[:, 1].min()), float(b[:, 1].min()))
    bottom = min(float(a[:, 1].max()), float(b[:, 1].max()))
    overlap = (bottom - top) / min(height_a, height_b)
    gap = float(b[:, 0].min() - a[:, 0].max())
    # Detector boxes are grown (unclipped) around the letters, so neighbours on a row often overlap.
    return overlap > 0.6 and -0.8 * min(height_a, height_b) < gap < 1.5 * max(height_a, height_b)


def _join(first: Line, second: Line) -> Line:
    a, b = first.quad, second.quad
    quad = np.array([a[0], b[1], b[2], a[3]], dtype=np.float32)
    start = float(np.linalg.norm(a[0] - a[1]))
    total = max(float(np.linalg.norm(quad[0] - quad[1])), 1.0)
    offset = float(np.linalg.norm(b[0] - a[0]))
    length_b = float(np.linalg.norm(b[0] - b[1]))
    # Characters of the first box that lie past the start of the second were read twice ("OPEN 2" + "24 HOURS").
    start_of_second = float(np.dot(b[0] - a[0], a[1] - a[0])) / max(start * start, 1e-6)
    kept = len(first.text)
    while kept and first.columns[kept - 1] > start_of_second:
        kept -= 1
    left, right = first.text[:kept].rstrip(), second.text.lstrip()
    lead = len(second.text) - len(right)
    columns = [c * start / total for c in first.columns[: len(left)]]
    columns.append((start + max(offset - start, 0.0) / 2) / total)  # the space
    columns += [(offset + c * length_b) / total for c in second.columns[lead:]]
    confidences = [*first.char_confidences[: len(left)], 1.0, *second.char_confidences[lead:]]
    weight = len(left) + len(right)
    confidence = (first.confidence * len(left) + second.confidence * len(right)) / max(weight, 1)
    return Line(quad, f"{left} {right}", confidence, columns, confidences)


def _crop(image: BGR, quad: Quad) -> BGR:
    """rapidocr's rotated crop of one text line (tall crops turned to lie flat)."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    warped = cv2.warpPerspective(
        image, matrix, (max(width, 1), max(height, 1)), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    crop: BGR = np.asarray(warped, dtype=np.uint8)
    if crop.shape[0] / max(crop.shape[1], 1) >= 1.5:
        crop = np.rot90(crop)
    return crop


def _line(quad: Quad, text: str, score: float, info: Any) -> Line:
    """A recognised line with each character's centre along it (from the CTC columns)."""
    columns_total, word_list, word_columns, _states, confidences = info
    chars = [c for word in word_list for c in word]
    columns = [float(c) for word in word_columns for c in word]
    if len(chars) != len(text) or len(columns) != len(text) or not columns_total:
        # Should not happen; fall back to even spacing.
        columns = [(i + 0.5) / max(len(text), 1) for i in range(len(text))]
        confidences = [score] * len(text)
    else:
        # CTC emits a character at one column of a stride-8 feature map; the crop fills ``columns_total`` of them.
        columns = [min(max((c + 0.5) / float(columns_total), 0.0), 1.0) for c in columns]
    return Line(quad, text, score, columns, [float(c) for c in confidences][: len(text)])


def _sub_quad(quad: Quad, start: float, end: float) -> Quad:
    """The part of a line's quad between fractions ``start`` and ``end`` of its length."""
    top = quad[0] + (quad[1] - quad[0]) * np.array([start, end], dtype=np.float32)[:, None]
    bottom = quad[3] + (quad[2] - quad[3]) * np.array([start, end], dtype=np.float32)[:, None]
    return np.array([top[0], top[1], bottom[1], bottom[0]], dtype=np.float32)


def _entry(
    text: str, kind: str, ident: int, parent: int | None, confidence: float, quad: Quad, width: int, height: int
) -> dict[str, Any]:
    xs = np.clip(quad[:, 0] / width, 0.0, 1.0)
    ys = np.clip(quad[:, 1] / height, 0.0, 1.0)
    left, top = float(xs.min()), float(ys.min())
    entry: dict[str, Any] = {
        "DetectedText": text,
        "Type": kind,
        "Id": ident,
        "Confidence": round(min(max(confidence, 0.0), 1.0) * 100, 2),
        "Geometry": {
            "BoundingBox": {
                "Left": round(left, 4),
                "Top": round(top, 4),
                "Width": round(float(xs.max()) - left, 4),
                "Height": round(float(ys.max()) - top, 4),
            },
            "Polygon": [{"X": round(float(x), 4), "Y": round(float(y), 4)} for x, y in zip(xs, ys, strict=True)],
        },
    }
    if parent is not None:
        entry["ParentId"] = parent
    return entry


# -- words and spaces ---------------------------------------------------------------------------------------------


def _words(text: str, line: Line) -> list[tuple[str, float, float, float]]:
    """(word, start, end, confidence) for each space-separated word of ``text`` (the line after space
    restoration), with start/end as fractions of the line's length."""
    # Map the restored text's characters back onto the recognised ones (restoration only inserts spaces).
    mapping: list[int | None] = []
    cursor = 0
    for char in text:
        while cursor < len(line.text) and line.text[cursor].isspace():
            cursor += 1
        if not char.isspace() and cursor < len(line.text) and line.text[cursor] == char:
            mapping.append(cursor)
            cursor += 1
        else:
            mapping.append(None)
    columns, confidences = line.columns, line.char_confidences
    step = pitch(columns) if len(columns) > 1 else 1.0 / max(len(text), 1)
    words = []
    for found in re.finditer(r"\S+", text):
        indices = [m for m in mapping[found.start() : found.end()] if m is not None]
        if not indices:
            continue
        start = max(columns[indices[0]] - step / 2, 0.0)
        end = min(columns[indices[-1]] + step / 2, 1.0)
        if found.start() == 0 or not text[: found.start()].strip():
            start = 0.0
        if not text[found.end() :].strip():
            end = 1.0
        scores = [confidences[i] for i in indices if i < len(confidences)] or [line.confidence]
        words.append((found.group(), start, end, float(np.mean(scores))))
    return words
