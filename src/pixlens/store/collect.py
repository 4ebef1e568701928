"""Turn the paths a user names into objects in the store: files inside the store stay where they are, files
from elsewhere are copied in. Folders are walked recursively; nothing is dropped without a reason.

A copy-in keeps the folder it came from (``ingest ~/a/holiday`` gives keys ``holiday/...``) and never replaces
a file in the store: when the key holds these very bytes, nothing is copied (ingesting the same files again copies
nothing); when it holds anything else (another photo, or an earlier version of this one: a reused camera name
cannot be told from an edit), the copy goes to the first free ``name (2).jpg``, ``name (3).jpg``... Hidden files
and folders, and links to folders, are not walked: they are reported as skipped.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pixlens.errors import DecodeError, ObjectExistsError, PixlensError
from pixlens.store.base import ObjectInfo, ObjectStore, looks_like_image_name
from pixlens.store.names import key_from_name

MAX_NAME_BYTES = 255  # the longest file name most file systems take
MAX_RENAMES = 1000


@dataclass
class Collected:
    objects: list[ObjectInfo] = field(default_factory=list)
    copied: int = 0  # new copies made in the store
    already_stored: int = 0  # copy-ins whose bytes the store already held under that key: nothing copied
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (path, key): its own key held another file
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): not an image, left alone
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): an image that could not come in


def collect(store: ObjectStore, paths: Sequence[Path]) -> Collected:
    found = Collected()
    seen: set[str] = set()
    for root in paths:
        if not os.path.lexists(root):
            found.failed.append((str(root), "no such file or directory"))
            continue
        for path, key, explicit in _candidates(root, found.skipped):
            try:
                info = _bring_in(store, path, key, explicit, found)
            except PixlensError as exc:
                found.failed.append((str(path), str(exc)))
                continue
            if info is None:
                found.skipped.append((str(path), "not an image (by name or content)"))
                continue
            if info.key not in seen:
                seen.add(info.key)
                found.objects.append(info)
    return found


def _candidates(root: Path, skipped: list[tuple[str, str]]) -> Iterator[tuple[Path, str, bool]]:
    """(path, key if copied in, named explicitly) for a file or every file below a folder; what a folder holds
    that is not walked goes to ``skipped`` with the reason."""
    if not root.is_dir():
        yield root, key_from_name(root.name), True
        return
    base = Path(os.path.abspath(root)).parent
    for directory, subdirs, files in os.walk(root, followlinks=False):
        walked = []
        for name in sorted(subdirs):
            path = Path(directory) / name
            if name.startswith("."):
                skipped.append((str(path), "hidden folder (its name starts with '.'): not walked"))
            elif path.is_symlink():
                skipped.append((str(path), "link to a folder: not followed (name the folder itself)"))
            else:
                walked.append(name)
        subdirs[:] = walked
        for name in sorted(files):
            path = Path(directory) / name
            if name.startswith("."):
                skipped.append((str(path), "hidden file (its name starts with '.')"))
                continue
            yield path, key_from_name(Path(os.path.abspath(path)).relative_to(base).as_posix()), False


def _bring_in(store: ObjectStore, path: Path, key: str, explicit: bool, found: Collected) -> ObjectInfo | None:
    """The object for a path, copying it in from outside the store; None when it is not an image."""
    # Unreadable files, FIFOs and symlink loops are kept: they fail with a reason instead of vanishing.
    image_like = looks_like_image_name(path.name) or not path.is_file() or _sniffs(path)
    if not (image_like or explicit):
        return None
    inside = store.key_for(path)
    if inside is not None:
        return store.stat(inside)
    placed = place(store, key, lambda: _sha256(path), lambda candidate: store.put_file(candidate, path, False))
    if not placed.copied:
        found.already_stored += 1
        return placed.info
    found.copied += 1
    if placed.info.key != key:
        found.renamed.append((str(path), placed.info.key))
    return placed.info


@dataclass(frozen=True)
class Placed:
    info: ObjectInfo
    copied: bool  # False: the store already held these bytes under the key (or a renamed one), nothing written


def place(
    store: ObjectStore, key: str, digest: Callable[[], str], put: Callable[[str], ObjectInfo], rename: bool = True
) -> Placed:
    """Put new bytes under ``key`` without ever replacing other bytes: when ``key`` holds the same bytes (by
    SHA-256, ``digest`` asked only then), nothing is written; when it holds others, the first free
    ``name (2).ext``... is taken, or ObjectExistsError without ``rename``. ``put(candidate)`` writes without
    overwriting (ObjectExistsError when another writer took the name meanwhile: the next one is tried)."""
    wanted: str | None = None
    for candidate in _free_keys(key):
        existing = store.stat(candidate)
        if existing is not None:
            if wanted is None:
                wanted = digest()
            if _same_bytes(store, existing, wanted):
                return Placed(existing, copied=False)
            if not rename:
                raise ObjectExistsError(f"{key} holds another image")
            continue
        try:
            return Placed(put(candidate), copied=True)
        except ObjectExistsError:
            if not rename:
                raise
            continue  # taken meanwhile (another ingest): look at it on the next round
    raise PixlensError(f"no free name for {key} after {MAX_RENAMES} tries")


def _free_keys(key: str) -> Iterator[str]:
    """``key``, then ``stem (2).ext``, ``stem (3).ext``... with the name cut to fit a file system."""
    yield key
    folder, name = PurePosixPath(key).parent, PurePosixPath(key).name
    suffix = PurePosixPath(name).suffix
    stem = name[: len(name) - len(suffix)] if suffix else name
    for number in range(2, MAX_RENAMES + 1):
        tail = f" ({number}){suffix}"
        room = MAX_NAME_BYTES - len(tail.encode("utf-8"))
        cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
        renamed = f"{cut}{tail}"
        yield renamed if folder == PurePosixPath(".") else f"{folder}/{renamed}"


def _same_bytes(store: ObjectStore, existing: ObjectInfo, digest: str) -> bool:
    try:
        data = store.read(existing.key, max(existing.size, 0))
    except (PixlensError, DecodeError):
        return False  # unreadable or changing under us: not known to be the same, so never reused
    return hashlib.sha256(data).hexdigest() == digest


def _sha256(path: Path) -> str:
    """The file's digest; empty for what is not a readable regular file (its copy then fails with the reason)."""
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe must not block the run
    except OSError:
        return ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
    except OSError:
        return ""
    finally:
        os.close(fd)
    return digest.hexdigest()


def _sniffs(path: Path) -> bool:
    from pixlens.store.local import sniffs_as_image

    return sniffs_as_image(path)
