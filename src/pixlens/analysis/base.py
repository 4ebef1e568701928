"""The Analyzer port and its registry.

An analyser has a ``name`` and a ``version`` (recorded in every record it touches). Work is split in two so
that the pipeline can overlap them: ``prepare`` turns the one decoded image into the tensors the analyser needs
(thread-safe, runs in the decode threads), ``analyze`` runs the models on a batch of prepared inputs and returns,
per image, the record fields it sets.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pixlens.errors import ConfigError

if TYPE_CHECKING:
    from pixlens.config import Settings
    from pixlens.imageio import DecodedImage
    from pixlens.record import ImageRecord


class Analyzer(Protocol):
    name: str
    version: str
    # The record fields it sets: cleared and set anew whenever it runs (alone, on re-analysis, or with others).
    # It may also return "Skipped" entries ("<name>.<step>": reason), which are merged, not replaced.
    # And "Shared" entries (key: value): intermediate results that later analysers' ``focus`` may use (not stored).
    # Or, for an image it could not analyse, only "Failed": the reason (that record fails; the batch goes on).
    fields: tuple[str, ...]

    def prepare(self, image: DecodedImage) -> Any:
        """Model inputs for one image (runs in a decode thread)."""

    def analyze(self, prepared: Sequence[Any]) -> list[dict[str, Any]]:
        """Record fields for each prepared image, in order."""


# What ``analyze`` returns for an image it could not analyse, with the reason: that record fails, the batch goes on.
FAILED = "Failed"


class After(Protocol):
    """An analyser that reads other analysers' results (in ``skip_reason``, ``focus`` or their shared values)
    names them in ``after``: the pipeline runs it once they are done on the batch. Analysers that wait for none
    run side by side (``settings.parallel_analyzers``)."""

    after: tuple[str, ...]


class Gated(Protocol):
    """An analyser may also let the results of the analysers it runs ``after`` spare it an image (the cascade
    across analysers): ``skip_reason`` sees the record with their fields set."""

    def skip_reason(self, record: ImageRecord) -> str | None:
        """Why this image needs no run of the analyser, or None to run it."""


class Focused(Protocol):
    """An analyser may also narrow its prepared input by the results of those it runs ``after`` (e.g. faces are
    searched only around the people the labels boxed), or complete it with what they shared (e.g. the
    classifier's embedding, computed once for the labels and the image embedding); ``focus`` runs just before
    ``analyze``."""

    def focus(self, record: ImageRecord, prepared: Any, shared: Mapping[str, Any]) -> Any:
        """The prepared input to analyse instead of ``prepared`` (or ``prepared`` itself)."""


AnalyzerFactory = Callable[["Settings"], Analyzer]
_REGISTRY: dict[str, AnalyzerFactory] = {}


def register_analyzer(name: str, factory: AnalyzerFactory) -> None:
    """Make an analyser available by name; built-ins register exactly like plug-ins."""
    _REGISTRY[name] = factory


def create_analyzers(settings: Settings, names: Sequence[str] | None = None) -> list[Analyzer]:
    """The analysers named (default: the settings' ``analyzers``), in that order, from the backend the settings
    choose (``analysis.backend``): a built-in that the backend provides is the backend's."""
    names = list(settings.analyzers if names is None else names)
    _register_builtins()
    unknown = [name for name in names if name not in _REGISTRY]
    if unknown:
        raise ConfigError(f"unknown analyser {', '.join(unknown)} (known: {', '.join(sorted(_REGISTRY))})")
    backend = BACKENDS.get(settings.analysis.backend, {})
    return [_factory(name, backend)(settings) for name in names]


def _factory(name: str, backend: Mapping[str, str]) -> AnalyzerFactory:
    """The backend's analyser for a built-in name, unless a plug-in registered its own under that name."""
    if name in backend and _REGISTRY[name] is _BUILTIN_FACTORIES.get(name):
        return _lazy(backend[name])
    return _REGISTRY[name]


# Built-in analysers: name -> "module:Class", imported on first use (a search never imports a model).
BUILTINS = {
    "labels": "pixlens.analysis.labels:LabelAnalyzer",
    "text": "pixlens.analysis.text:TextAnalyzer",
    "faces": "pixlens.analysis.faces:FaceAnalyzer",
    "moderation": "pixlens.analysis.moderation:ModerationAnalyzer",
    "properties": "pixlens.analysis.properties:PropertyAnalyzer",
    "embedding": "pixlens.analysis.embedding:EmbeddingAnalyzer",
    "thumbnail": "pixlens.analysis.thumbnail:ThumbnailAnalyzer",
}


# Other backends: the built-in names they fill themselves (the others stay the bundled ones).
BACKENDS = {
    "rekognition": {
        name: f"pixlens.analysis.rekognition_analyzers:Rekognition{name.capitalize()}"
        for name in ("labels", "text", "faces", "moderation", "properties")
    },
}
_BUILTIN_FACTORIES: dict[str, AnalyzerFactory] = {}


def _register_builtins() -> None:
    for name, target in BUILTINS.items():
        if name not in _REGISTRY:
            _BUILTIN_FACTORIES[name] = _lazy(target)
            register_analyzer(name, _BUILTIN_FACTORIES[name])


def _lazy(target: str) -> AnalyzerFactory:
    def factory(settings: Settings) -> Analyzer:
        module_name, _, class_name = target.partition(":")
        analyzer: Analyzer = getattr(importlib.import_module(module_name), class_name)(settings)
        return analyzer

    return factory
