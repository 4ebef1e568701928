"""A folder as the object store (the embedded default)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from pixlens.errors import DecodeError, StoreError
from pixlens.store.base import ObjectInfo, looks_like_image_name

SNIFF_BYTES = 64
UNREADABLE = "unreadable"


class LocalStore:
    """Images in a folder; the key of an image is its path relative to the folder, with ``/`` separators."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()

    def describe(self) -> str:
        return str(self.root)

    def ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    # -- keys ----
    def path_of(self, key: str) -> Path:
        parts = PurePosixPath(key).parts
        if not parts or key.startswith("/") or any(part in ("..", ".", "") for part in parts):
            raise StoreError(f"invalid key {key!r}: keys are relative paths without '..'")
        return self.root.joinpath(*parts)

    def key_for(self, path: Path) -> str | None:
        absolute = Path(os.path.abspath(path))
        root = Path(os.path.realpath(self.root))
        for candidate in (absolute, Path(os.path.realpath(absolute.parent)) / absolute.name):
            for base in (self.root, root):
                if candidate.is_relative_to(base) and candidate != base:
                    return candidate.relative_to(base).as_posix()
        return None

    # -- listing ----
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        start = self.path_of(prefix) if prefix else self.root
        if start.is_file():
            info = self.stat(prefix)
            if info is not None:
                yield info
            return
        for directory, subdirs, files in os.walk(start, followlinks=False):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(directory) / name
                key = path.relative_to(self.root).as_posix()
                info = self._info(key, path)
                if info.etag.startswith(UNREADABLE) or looks_like_image_name(name) or sniffs_as_image(path):
                    yield info

    def stat(self, key: str) -> ObjectInfo | None:
        path = self.path_of(key)
        if not os.path.lexists(path):
            return None
        return self._info(key, path)

    @staticmethod
    def _info(key: str, path: Path) -> ObjectInfo:
        try:
            st = path.stat()
        except OSError as exc:
            # Listed all the same: it becomes a failed record with the reason, never a silent skip.
            return ObjectInfo(key, -1, f"{UNREADABLE}:{exc.errno}")
        return ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}")

    # -- bytes ----
    def read(self, key: str, max_bytes: int) -> bytes:
        path = self.path_of(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            raise StoreError(_explain(exc, path)) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise StoreError(f"not a regular file ({_kind(st.st_mode)}): {path}")
            if st.st_size > max_bytes:
                raise DecodeError(f"file too large: {st.st_size / 1e6:,.1f} MB, limit {max_bytes / 1e6:,.1f} MB")
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, 1 << 20):
                total += len(chunk)
                if total > max_bytes:  # the file grew while being read
                    raise DecodeError(f"file too large: over {max_bytes / 1e6:,.1f} MB")
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise StoreError(_explain(exc, path)) from exc
        finally:
            os.close(fd)

    def put_file(self, key: str, source: Path) -> ObjectInfo:
        target = self.path_of(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        os.close(handle)
        try:
            shutil.copy2(source, temp_name)
            os.replace(temp_name, target)
        except OSError as exc:
            Path(temp_name).unlink(missing_ok=True)
            raise StoreError(f"cannot copy {source} into the store: {_explain(exc, source)}") from exc
        return self._info(key, target)

    def delete(self, key: str) -> None:
        self.path_of(key).unlink(missing_ok=True)


def sniffs_as_image(path: Path) -> bool:
    """Whether a file without an image name starts like an image. Never blocks: a named pipe is not one."""
    from pixlens.imageio import sniff_content_type

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and sniff_content_type(os.read(fd, SNIFF_BYTES)) is not None
    except OSError:
        return False
    finally:
        os.close(fd)


def _explain(exc: OSError, path: Path) -> str:
    reasons = {
        errno.ENOENT: "file vanished before it could be read",
        errno.ELOOP: "symlink loop (or too many levels of symbolic links)",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.EISDIR: "is a directory, not a file",
        errno.EIO: "input/output error (damaged disk or network share?)",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{reason}: {path}"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "special file"
