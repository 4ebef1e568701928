"""The label taxonomy: readable names, parents, aliases and categories for model classes.

The data is ``pixlens/analysis/data/taxonomy.json``, generated from WordNet 3.0 by
``scripts/build_taxonomy.py`` (see its docstring for how parents were pruned and
names chosen); WordNet itself is not needed at run time.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["LabelInfo", "Taxonomy", "normalize"]

_DROP = re.compile(r"[.'’]")


def normalize(word: str) -> str:
    """Search-key form of a word: lower case, '-'/'_' as spaces, no '.' or apostrophes."""
    text = _DROP.sub("", word.lower().replace("_", " ").replace("-", " "))
    return " ".join(text.split())


@dataclass(frozen=True)
class LabelInfo:
    name: str
    parents: tuple[str, ...]  # nearest first, every one is itself a label
    aliases: tuple[str, ...]
    categories: tuple[str, ...]


class Taxonomy:
    """Lookups over the bundled label taxonomy. Get the shared instance with :meth:`load`."""

    def __init__(self, data: dict[str, Any], version: str) -> None:
        self.version = version
        self._imagenet: tuple[str, ...] = tuple(data["imagenet"])
        self._coco: tuple[str, ...] = tuple(data["coco"])
        self._models = frozenset(self._imagenet) | frozenset(self._coco)
        self._labels: dict[str, LabelInfo] = {
            name: LabelInfo(name, tuple(e["parents"]), tuple(e["aliases"]), tuple(e["categories"]))
            for name, e in data["labels"].items()
        }
        self._index: dict[str, frozenset[str]] = {w: frozenset(ls) for w, ls in data["index"].items()}
        children: dict[str, set[str]] = defaultdict(set)
        for info in self._labels.values():
            for parent in info.parents:
                children[parent].add(info.name)
        self._descendants = {name: frozenset(kids) for name, kids in children.items()}

    @classmethod
    def load(cls) -> Taxonomy:
        """The bundled taxonomy (parsed once per process)."""
        return _load_bundled()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Taxonomy:
        version = "wordnet3.0-" + hashlib.sha256(raw).hexdigest()[:10]
        return cls(json.loads(raw), version)

    def imagenet_label(self, index: int) -> str:
        """Label name of ImageNet-1k class ``index`` (0..999)."""
        return self._imagenet[_check(index, len(self._imagenet))]

    def coco_label(self, index: int) -> str:
        """Label name of COCO-80 detector class ``index`` (0..79)."""
        return self._coco[_check(index, len(self._coco))]

    def is_model_label(self, name: str) -> bool:
        """Whether a model outputs this label itself (an ImageNet or COCO class), not only groups others."""
        return name in self._models

    def info(self, name: str) -> LabelInfo:
        """Details of a label; KeyError for an unknown name."""
        return self._labels[name]

    def __contains__(self, name: object) -> bool:
        return name in self._labels

    def names(self) -> list[str]:
        return sorted(self._labels)

    @functools.cached_property
    def categories(self) -> tuple[str, ...]:
        """Every category a label can have, sorted."""
        return tuple(sorted({category for info in self._labels.values() for category in info.categories}))

    def resolve(self, word: str) -> frozenset[str]:
        """Labels a search word names: any case, plural, alias or narrower word; empty if unknown."""
        return self._index.get(normalize(word), frozenset())

    def descendants(self, name: str) -> frozenset[str]:
        """All labels having ``name`` among their parents (not ``name`` itself)."""
        return self._descendants.get(name, frozenset())

    def expand(self, word: str) -> frozenset[str]:
        """Everything a search for ``word`` must match: its labels and their descendants."""
        found = self.resolve(word)
        return found.union(*(self.descendants(name) for name in found))


def _check(index: int, size: int) -> int:
    if not 0 <= index < size:
        raise IndexError(f"class index {index} out of range 0..{size - 1}")
    return index


@functools.cache
def _load_bundled() -> Taxonomy:
    raw = resources.files("pixlens.analysis.data").joinpath("taxonomy.json").read_bytes()
    return Taxonomy.from_bytes(raw)
