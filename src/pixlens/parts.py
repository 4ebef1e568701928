"""Registries of the parts that settings pick by URL: one per kind of part (catalog, store, queue).

A part is registered under the URL schemes it serves, as ``"module:factory"`` text, so that its module (and the
driver it needs: psycopg, boto3, celery) is imported only when a URL names it. A missing driver is a clear
ConfigError that names the optional extra to install, never an ImportError traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pixlens.errors import ConfigError

__all__ = ["Registry", "require"]

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry:
    target: str | Callable[..., Any]  # "module:factory", or the factory itself (a plug-in, a test)
    extra: str | None  # the optional extra whose packages the module needs


class Registry(Generic[T]):
    """URL scheme -> the factory of a part of one kind. ``create(url, ...)`` calls the factory with the URL and the
    rest of its arguments."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, _Entry] = {}

    def register(
        self, schemes: str | tuple[str, ...], target: str | Callable[..., T], extra: str | None = None
    ) -> None:
        for scheme in (schemes,) if isinstance(schemes, str) else schemes:
            self._entries[scheme.lower()] = _Entry(target, extra)

    def schemes(self) -> list[str]:
        return sorted(self._entries)

    def scheme_of(self, url: str) -> str:
        """A URL's scheme ("sqlite", "s3"); a plain path is "file"."""
        head, sep, _ = url.partition("://")
        return head.lower() if sep else "file"

    def create(self, url: str, *args: Any, **kwargs: Any) -> T:
        scheme = self.scheme_of(url)
        entry = self._entries.get(scheme)
        if entry is None:
            known = ", ".join(f"{name}://" for name in self.schemes())
            raise ConfigError(f"unsupported {self.kind} URL scheme {scheme!r} (supported: {known})")
        factory = entry.target if callable(entry.target) else self._load(entry)
        part: T = factory(url, *args, **kwargs)
        return part

    def _load(self, entry: _Entry) -> Callable[..., T]:
        assert isinstance(entry.target, str)
        module_name, _, name = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if entry.extra is None or not _is_missing_driver(exc, module_name):
                raise
            raise ConfigError(
                f"this {self.kind} needs the {exc.name} package: pip install 'pixlens[{entry.extra}]'"
            ) from exc
        factory: Callable[..., T] = getattr(module, name)
        return factory


def require(module: str, extra: str, what: str) -> Any:
    """Import a driver that an optional extra installs, or say which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"{what} needs the {module} package: pip install 'pixlens[{extra}]'") from exc


def _is_missing_driver(exc: ImportError, module_name: str) -> bool:
    """Whether the import failed for a third-party package, not for a bug inside pixlens's own module."""
    return bool(exc.name) and not str(exc.name).startswith("pixlens")
