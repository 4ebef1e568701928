"""The Analyzer port and its registry.

An analyser has a ``name`` and a ``version`` (recorded in every record it touches). Work is split in two so
that the pipeline can overlap them: ``prepare`` turns the one decoded image into the tensors the analyser needs
(thread-safe, runs in the decode threads), ``analyze`` runs the models on a batch of prepared inputs and returns,
per image, the record fields it sets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pixlens.errors import ConfigError

if TYPE_CHECKING:
    from pixlens.config import Settings
    from pixlens.imageio import DecodedImage


class Analyzer(Protocol):
    name: str
    version: str

    def prepare(self, image: DecodedImage) -> Any:
        """Model inputs for one image (runs in a decode thread)."""

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """Record fields for each prepared image, in order."""


AnalyzerFactory = Callable[["Settings"], Analyzer]
_REGISTRY: dict[str, AnalyzerFactory] = {}


def register_analyzer(name: str, factory: AnalyzerFactory) -> None:
    """Make an analyser available by name; built-ins register exactly like plug-ins."""
    _REGISTRY[name] = factory


def available_analyzers() -> list[str]:
    _register_builtins()
    return sorted(_REGISTRY)


def create_analyzers(settings: Settings, names: Sequence[str] = ("labels",)) -> list[Analyzer]:
    _register_builtins()
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ConfigError(f"unknown analyser {', '.join(unknown)} (known: {', '.join(sorted(_REGISTRY))})")
    return [_REGISTRY[name](settings) for name in names]


def _register_builtins() -> None:
    if "labels" not in _REGISTRY:
        from pixlens.analysis.labels import LabelAnalyzer

        register_analyzer("labels", LabelAnalyzer)
