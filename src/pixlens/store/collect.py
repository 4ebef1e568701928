"""Turn the paths a user names into objects in the store: files inside the store stay where they are, files
from elsewhere are copied in. Folders are walked recursively; nothing is dropped without a reason."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pixlens.errors import PixlensError
from pixlens.store.base import ObjectInfo, ObjectStore, looks_like_image_name


@dataclass
class Collected:
    objects: list[ObjectInfo] = field(default_factory=list)
    copied: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def collect(store: ObjectStore, paths: Sequence[Path]) -> Collected:
    found = Collected()
    seen: set[str] = set()
    for root in paths:
        if not os.path.lexists(root):
            found.skipped.append((str(root), "no such file or directory"))
            continue
        for path, key, explicit in _candidates(root):
            try:
                info = _bring_in(store, path, key, explicit)
            except PixlensError as exc:
                found.skipped.append((str(path), str(exc)))
                continue
            if info is None:
                found.skipped.append((str(path), "not an image (by name or content)"))
                continue
            if info.key not in seen:
                seen.add(info.key)
                found.objects.append(info)
                found.copied += int(store.key_for(path) is None)
    return found


def _candidates(root: Path) -> Iterator[tuple[Path, str, bool]]:
    """(path, key if copied in, named explicitly) for a file or every file below a folder."""
    if not root.is_dir():
        yield root, root.name, True
        return
    base = Path(os.path.abspath(root)).parent
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(directory) / name
                yield path, Path(os.path.abspath(path)).relative_to(base).as_posix(), False


def _bring_in(store: ObjectStore, path: Path, key: str, explicit: bool) -> ObjectInfo | None:
    """The object for a path, copying it in from outside the store; None when it is not an image."""
    # Unreadable files, FIFOs and symlink loops are kept: they become failed records that say why.
    image_like = looks_like_image_name(path.name) or not path.is_file() or _sniffs(path)
    if not (image_like or explicit):
        return None
    inside = store.key_for(path)
    if inside is not None:
        return store.stat(inside)
    return store.put_file(key, path)


def _sniffs(path: Path) -> bool:
    from pixlens.store.local import sniffs_as_image

    return sniffs_as_image(path)
