"""One item of the original pipeline's table -> the image's name and its labels, or the reason it cannot be read.

The original Lambda functions wrote labels in many shapes; every one of these is read (after boto3's
deserialization: numbers are ``Decimal``):

- a list of ``{Name, Confidence}`` maps (boto3's resource layer), also with ``Instances``, ``Parents``,
  ``Aliases`` and ``Categories`` as DetectLabels returns them;
- the whole DetectLabels response (a map with ``Labels`` and ``LabelModelVersion``);
- a map label name -> confidence (or -> ``{Confidence}``);
- a list (or string set) of names, without confidences: each gets ``confidence_for_names`` (Rekognition's default
  MinConfidence, 55: a label it returned had at least that, unless the function asked for less);
- typed attribute values stored as data (``{"L": [{"M": {"Name": {"S": ...}, ...}}]}``: a function that handed
  the low-level API's shape to the resource layer);
- a JSON string of any of these, or a plain string of comma-separated names.

Labels are mapped through pixlens's taxonomy where a name (or an alias) matches one of its labels, with parents,
aliases and categories as the bundled analysis gives them, so that a search for a parent finds them; a name the
taxonomy lacks is kept as it is, with the parents and categories the item stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pixlens.analysis.taxonomy import Taxonomy, normalize
from pixlens.migrate.typed import TypedValueError, from_typed, is_typed
from pixlens.record import BoundingBox, Instance, Label, NameRef

# Where the image's name and its labels are looked for, in this order; attribute names are compared without case,
# '_', '-' or spaces (ImageName, imageName, image_name all match "imagename").
NAME_ATTRIBUTES = ("imagename", "imagekey", "image", "s3key", "objectkey", "key", "filename")
LABEL_ATTRIBUTES = (
    "labels",
    "detectedlabels",
    "labellist",
    "rekognitionlabels",
    "imagelabels",
    "detectlabels",
    "detectlabelsresponse",
    "rekognitionresponse",
    "rekognition",
    "response",
    "result",
    "analysis",
    "tags",
)
NAME_KEYS = ("name", "label", "labelname")  # of one label's map
CONFIDENCE_KEYS = ("confidence", "score")
RESPONSE_KEYS = ("labels", "detectedlabels")  # a map holding one of these is a response (or a wrapper of one)
DEFAULT_CONFIDENCE_FOR_NAMES = 55.0  # Rekognition's default MinConfidence: the least a returned label had
MAX_LABELS = 1000  # far more than DetectLabels returns: a longer list is not a DetectLabels result
MAX_NAME_LENGTH = 200
MAX_NESTING = 4  # JSON inside a string inside typed values...: deeper than any real item


class UnreadableItemError(ValueError):
    """An item that cannot be imported: ``kind`` counts it (``no-image-name``, ``bad-labels``...), the message says
    why, for a person."""

    def __init__(self, kind: str, reason: str, name: str | None = None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.name = kind, reason, name


@dataclass(frozen=True)
class LegacyItem:
    name: str
    labels: list[Label]
    model_version: str | None  # DetectLabels' LabelModelVersion, where the item kept it
    labels_attribute: str


def folded(attribute: str) -> str:
    return "".join(char for char in attribute.lower() if char not in "_- ")


class LabelReader:
    """Reads items of one table. ``name_attribute`` / ``labels_attribute`` name the attributes exactly (None: look
    for the usual names, ``NAME_ATTRIBUTES`` and ``LABEL_ATTRIBUTES``)."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        name_attribute: str | None = None,
        labels_attribute: str | None = None,
        confidence_for_names: float = DEFAULT_CONFIDENCE_FOR_NAMES,
    ) -> None:
        self.taxonomy = taxonomy
        self.name_attribute, self.labels_attribute = name_attribute, labels_attribute
        self.confidence_for_names = confidence_for_names
        self._canonical: dict[str, str | None] = {}

    def read(self, item: Mapping[str, Any]) -> LegacyItem:
        """The image's name and labels of one item (plain Python values, as boto3 deserializes them)."""
        name = self._name(item)
        try:
            attribute = self._attribute(item, self.labels_attribute, LABEL_ATTRIBUTES)
            if attribute is None:
                wanted = self.labels_attribute or ", ".join(LABEL_ATTRIBUTES)
                raise UnreadableItemError("no-labels", f"no labels attribute (looked for: {wanted})")
            found, version = self._labels(item[attribute], attribute, 0)
            if version is None and isinstance(item.get("LabelModelVersion"), str):
                version = item["LabelModelVersion"]
            return LegacyItem(name, self._merged(found), version, attribute)
        except UnreadableItemError as exc:
            exc.name = name
            raise

    # -- the image's name ----
    def _name(self, item: Mapping[str, Any]) -> str:
        attribute = self._attribute(item, self.name_attribute, NAME_ATTRIBUTES)
        if attribute is None:
            wanted = self.name_attribute or "ImageName"
            raise UnreadableItemError("no-image-name", f"no {wanted} attribute")
        value = item[attribute]
        if not isinstance(value, str):
            raise UnreadableItemError("bad-image-name", f"{attribute} is {_kind(value)}, not a string")
        if not value.strip():
            raise UnreadableItemError("bad-image-name", f"{attribute} is empty")
        return value

    @staticmethod
    def _attribute(item: Mapping[str, Any], exact: str | None, candidates: Iterable[str]) -> str | None:
        if exact is not None:
            return exact if exact in item else None
        by_fold: dict[str, list[str]] = {}
        for attribute in item:
            by_fold.setdefault(folded(attribute), []).append(attribute)
        for candidate in candidates:
            if candidate in by_fold:
                return sorted(by_fold[candidate])[0]
        return None

    # -- the labels, whatever their shape ----
    def _labels(self, value: Any, where: str, depth: int) -> tuple[list[Label], str | None]:
        if depth > MAX_NESTING:
            raise UnreadableItemError("bad-labels", f"{where} is nested too deeply to be labels")
        if isinstance(value, str):
            return self._labels(_parsed(value), where, depth + 1)
        if is_typed(value):
            try:
                return self._labels(from_typed(value), where, depth + 1)
            except TypedValueError as exc:
                raise UnreadableItemError("bad-labels", f"{where}: {exc}") from None
        if isinstance(value, list):
            if len(value) > MAX_LABELS:
                raise UnreadableItemError(
                    "too-many-labels",
                    f"{where} holds {len(value)} labels, more than DetectLabels returns ({MAX_LABELS})",
                )
            return [self._one(entry, f"{where}[{index}]", depth) for index, entry in enumerate(value)], None
        if isinstance(value, Mapping):
            return self._from_map(value, where, depth)
        raise UnreadableItemError("bad-labels", f"{where} is {_kind(value)}, not labels")

    def _from_map(self, value: Mapping[str, Any], where: str, depth: int) -> tuple[list[Label], str | None]:
        keys = {folded(key): key for key in value}
        for response_key in RESPONSE_KEYS:  # the DetectLabels response, or a map around it
            if response_key in keys:
                labels, _ = self._labels(value[keys[response_key]], f"{where}.{keys[response_key]}", depth + 1)
                version = value.get(keys.get("labelmodelversion", ""))
                return labels, version if isinstance(version, str) else None
        if any(key in keys for key in NAME_KEYS) and any(key in keys for key in CONFIDENCE_KEYS):
            return [self._one(value, where, depth)], None  # one label on its own
        if len(value) > MAX_LABELS:
            raise UnreadableItemError(
                "too-many-labels", f"{where} holds {len(value)} labels, more than DetectLabels returns ({MAX_LABELS})"
            )
        labels = []
        for name, confidence in value.items():  # label name -> confidence
            if isinstance(confidence, Mapping):
                inner = {folded(key): key for key in confidence}
                found = next((inner[key] for key in CONFIDENCE_KEYS if key in inner), None)
                confidence = confidence[found] if found is not None else None
            labels.append(self._label(_label_name(name, where), confidence, where=f"{where}.{name}"))
        return labels, None

    def _one(self, entry: Any, where: str, depth: int) -> Label:
        if is_typed(entry):
            try:
                entry = from_typed(entry)
            except TypedValueError as exc:
                raise UnreadableItemError("bad-labels", f"{where}: {exc}") from None
        if isinstance(entry, str):
            return self._label(_label_name(entry, where), None, where=where)
        if not isinstance(entry, Mapping):
            raise UnreadableItemError("bad-labels", f"{where} is {_kind(entry)}, not a label")
        keys = {folded(key): key for key in entry}
        name_key = next((keys[key] for key in NAME_KEYS if key in keys), None)
        if name_key is None:
            raise UnreadableItemError("bad-labels", f"{where} has no Name")
        confidence_key = next((keys[key] for key in CONFIDENCE_KEYS if key in keys), None)
        return self._label(
            _label_name(entry[name_key], where),
            entry[confidence_key] if confidence_key is not None else None,
            instances=entry.get(keys.get("instances", "")),
            parents=entry.get(keys.get("parents", "")),
            aliases=entry.get(keys.get("aliases", "")),
            categories=entry.get(keys.get("categories", "")),
            where=where,
        )

    def _label(
        self,
        name: str,
        confidence: Any,
        instances: Any = None,
        parents: Any = None,
        aliases: Any = None,
        categories: Any = None,
        where: str = "",
    ) -> Label:
        value = self.confidence_for_names if confidence is None else _confidence(confidence, f"{where} ({name})")
        boxes = [_instance(one, f"{where}.Instances[{i}]") for i, one in enumerate(_as_list(instances, where))]
        canonical = self.canonical(name)
        if canonical is not None:  # as the bundled analysis labels it
            info = self.taxonomy.info(canonical)
            return Label(
                Name=canonical,
                Confidence=value,
                Instances=boxes,
                Parents=[NameRef(Name=parent) for parent in info.parents],
                Aliases=[NameRef(Name=alias) for alias in info.aliases],
                Categories=[NameRef(Name=category) for category in info.categories],
            )
        lineage: list[str] = []  # the item's parents, each with its own parents where the taxonomy knows it
        for parent in _names(parents, f"{where}.Parents"):
            known = self.canonical(parent)
            found = [known, *self.taxonomy.info(known).parents] if known is not None else [parent]
            lineage += [each for each in found if each not in lineage and each != name]
        return Label(
            Name=name,
            Confidence=value,
            Instances=boxes,
            Parents=[NameRef(Name=parent) for parent in lineage],
            Aliases=[NameRef(Name=alias) for alias in _names(aliases, f"{where}.Aliases")],
            Categories=[NameRef(Name=category) for category in _names(categories, f"{where}.Categories")],
        )

    def canonical(self, name: str) -> str | None:
        """The taxonomy's label that ``name`` is (by its name or one of its aliases, any case), or None."""
        if name in self.taxonomy:
            return name
        if name not in self._canonical:
            word = normalize(name)
            matches = [
                label
                for label in sorted(self.taxonomy.resolve(name))
                if word in {normalize(label), *(normalize(alias) for alias in self.taxonomy.info(label).aliases)}
            ]
            self._canonical[name] = matches[0] if len(matches) == 1 else None
        return self._canonical[name]

    @staticmethod
    def _merged(labels: list[Label]) -> list[Label]:
        """One label per name (``Car`` and ``Automobile`` are one label): the most confident, with every box."""
        best: dict[str, Label] = {}
        for label in labels:
            kept = best.get(label.Name)
            if kept is None:
                best[label.Name] = label
                continue
            winner, other = (label, kept) if label.Confidence > kept.Confidence else (kept, label)
            best[label.Name] = winner.model_copy(update={"Instances": [*winner.Instances, *other.Instances]})
        return sorted(best.values(), key=lambda label: (-label.Confidence, label.Name))


def _parsed(text: str) -> Any:
    """A string value: JSON (of any accepted shape), else comma-separated names."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{", '"'):
        try:
            return json.loads(stripped, parse_float=Decimal)
        except ValueError:
            raise UnreadableItemError(
                "bad-labels", f"a string that starts like JSON but is not: {_short(text)}"
            ) from None
    return [name.strip() for name in stripped.split(",") if name.strip()]


def _label_name(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise UnreadableItemError("bad-label-name", f"{where}: a label name is {_kind(value)}, not a string")
    name = " ".join(value.split())
    if not name:
        raise UnreadableItemError("bad-label-name", f"{where}: a label name is empty")
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise UnreadableItemError("bad-label-name", f"{where}: {_short(name)} is not a label name")
    return name


def _confidence(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise UnreadableItemError("bad-confidence", f"{where}: confidence is {_kind(value)}, not a number")
    try:
        number = float(Decimal(str(value).strip()))
    except InvalidOperation:
        raise UnreadableItemError("bad-confidence", f"{where}: confidence {_short(value)} is not a number") from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise UnreadableItemError("bad-confidence", f"{where}: confidence {_short(value)} is not within 0-100")
    return number


def _instance(value: Any, where: str) -> Instance:
    box = value.get("BoundingBox") if isinstance(value, Mapping) else None
    if not isinstance(box, Mapping):
        raise UnreadableItemError("bad-labels", f"{where} has no BoundingBox")
    sides = {}
    for side in ("Left", "Top", "Width", "Height"):
        try:
            sides[side] = float(Decimal(str(box[side])))
        except (KeyError, InvalidOperation):
            raise UnreadableItemError("bad-labels", f"{where}: BoundingBox.{side} is missing or not a number") from None
    confidence = _confidence(value.get("Confidence", 0), where)
    return Instance(BoundingBox=BoundingBox(**sides), Confidence=confidence)


def _names(value: Any, where: str) -> list[str]:
    """Parents, aliases or categories: ``[{"Name": ...}]`` or plain names."""
    names = []
    for entry in _as_list(value, where):
        name = entry.get("Name") if isinstance(entry, Mapping) else entry
        names.append(_label_name(name, where))
    return names


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnreadableItemError("bad-labels", f"{where} is {_kind(value)}, not a list")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_short(value)})"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."
