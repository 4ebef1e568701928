"""A folder as the object store (the embedded default)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from pixlens.errors import DecodeError, ObjectExistsError, StoreError, StoreMissingError
from pixlens.store.base import ObjectInfo, looks_like_image_name
from pixlens.store.names import key_from_name, name_from_key, printable

if TYPE_CHECKING:
    from pixlens.config import Settings

SNIFF_BYTES = 64
UNREADABLE = "unreadable"
_UMASK = os.umask(0o022)  # read once, at import (setting it back at once: os.umask has no read-only form)
os.umask(_UMASK)
PARTIAL_PREFIX = ".pixlens-"  # temporary copies: .pixlens-<pid>-<random>.part, short whatever the name


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
        parts = key.split("/")  # not PurePosixPath's parts: "a//b" and "./a" must not name "a/b" and "a"
        if not key or "\0" in key or any(part in ("..", ".", "") for part in parts):
            raise StoreError(f"invalid key {printable(key)!r}: keys are relative paths without '..'")
        return self.root.joinpath(*(name_from_key(part) for part in parts))

    def key_for(self, path: Path) -> str | None:
        absolute = Path(os.path.abspath(path))
        root = Path(os.path.realpath(self.root))
        for candidate in (absolute, Path(os.path.realpath(absolute.parent)) / absolute.name):
            for base in (self.root, root):
                if candidate.is_relative_to(base) and candidate != base:
                    return key_from_name(candidate.relative_to(base).as_posix())
        return None

    # -- listing ----
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        start = self.path_of(prefix) if prefix else self.root
        if start.is_file():
            info = self.stat(prefix)
            if info is not None:
                yield info
            return
        yield from self._walk(start)

    def _walk(self, folder: Path) -> Iterator[ObjectInfo]:
        """The images below ``folder`` in key order: a folder's keys all start with its name and a '/', so it
        takes its place among the files as that. Hidden names and links to folders are not walked; a folder
        that cannot be read is passed over (as os.walk does)."""
        try:
            with os.scandir(folder) as scan:
                entries = [(entry.name, _is_real_folder(entry)) for entry in scan]
        except OSError:
            return
        entries.sort(key=lambda entry: key_from_name(entry[0]) + ("/" if entry[1] else ""))
        for name, is_folder in entries:
            path = folder / name
            if name.startswith("."):
                if is_folder is False:
                    _sweep_partial(path)
            elif is_folder:
                yield from self._walk(path)
            elif is_folder is False:
                key = key_from_name(path.relative_to(self.root).as_posix())
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
        # The inode and the change time tell a replaced file from the old one even when its size and modification
        # time are the same (copied with them kept, or set back); a changed etag only makes the pipeline hash the
        # file, and an unchanged hash still skips the analysis.
        return ObjectInfo(key, st.st_size, f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}-{st.st_ctime_ns:x}")

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
                raise StoreError(f"not a regular file ({_kind(st.st_mode)}): {_text(path)}")
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

    def stream(self, key: str) -> BinaryIO | None:
        path = self.path_of(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(_explain(exc, path)) from exc
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            raise StoreError(f"not a regular file ({_kind(mode)}): {_text(path)}")
        return open(fd, "rb")

    def put_file(self, key: str, source: Path, overwrite: bool = True) -> ObjectInfo:
        return self._put(key, lambda temp: _copy_regular(source, temp), overwrite, _text(source), source)

    def put_stream(self, key: str, stream: BinaryIO, overwrite: bool = True) -> ObjectInfo:
        return self._put(key, lambda temp: _copy_stream(stream, temp), overwrite, "an upload", None)

    def _put(
        self, key: str, fill: Callable[[Path], None], overwrite: bool, what: str, source: Path | None
    ) -> ObjectInfo:
        """Write a temporary file beside the target with ``fill``, then give it the key's name."""
        target = self.path_of(key)
        if not self.root.is_dir():  # never made again here: on an unmounted disk, that would be its mount point
            raise StoreMissingError(f"the store folder {_text(self.root)} is missing (unmounted or moved?)")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            prefix = f"{PARTIAL_PREFIX}{os.getpid()}-"
            handle, temp_name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=target.parent)
        except OSError as exc:
            raise StoreError(f"cannot copy {what} into the store: {_explain(exc, target)}") from exc
        os.close(handle)
        temp = Path(temp_name)
        try:
            fill(temp)
            if overwrite:
                os.replace(temp, target)
            else:
                _link_new(temp, target)
        except ObjectExistsError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot copy {what} into the store: {_explain(exc, source or target)}") from exc
        finally:
            temp.unlink(missing_ok=True)
        return self._info(key, target)

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:  # a folder, a read-only disk...
            raise StoreError(f"cannot delete {key}: {_explain(exc, path)}") from exc


def open_local(url: str, settings: Settings) -> LocalStore:
    """The store of a folder path or ``file://`` URL (the registry's factory): the folder is made if missing."""
    store = LocalStore(settings.store_path)
    store.ensure()
    return store


def _is_real_folder(entry: os.DirEntry[str]) -> bool | None:
    """True for a folder, None for a link to a folder (not followed), False for anything else."""
    try:
        if not entry.is_dir():
            return False
        return True if not entry.is_symlink() else None
    except OSError:
        return False


def _copy_regular(source: Path, temp: Path) -> None:
    """Copy a regular file's bytes and times; anything else (a pipe, a device, a folder) is refused unread."""
    fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(mode)})")
        with open(fd, "rb", closefd=False) as reader, temp.open("wb") as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)
            writer.flush()
            os.fsync(writer.fileno())
    finally:
        os.close(fd)
    shutil.copystat(source, temp)


def _copy_stream(stream: BinaryIO, temp: Path) -> None:
    os.chmod(temp, 0o666 & ~_UMASK)  # as any file the user makes (mkstemp's are private)
    with temp.open("wb") as writer:
        shutil.copyfileobj(stream, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())


def _link_new(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` unless that name is taken (atomically, even between processes)."""
    try:
        os.link(temp, target)
    except FileExistsError as exc:
        raise ObjectExistsError(f"{target} exists") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # No hard links here (FAT, some network shares): claim the name first, then fill it.
        try:
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError as exists:
            raise ObjectExistsError(f"{target} exists") from exists
        os.replace(temp, target)


def _sweep_partial(path: Path) -> None:
    """Remove a temporary copy left behind by a copy-in that was killed (its process is gone)."""
    name = path.name
    if not (name.startswith(PARTIAL_PREFIX) and name.endswith(".part")):
        return
    pid = name[len(PARTIAL_PREFIX) :].split("-", 1)[0]
    if pid.isdigit() and _alive(int(pid)):
        return
    path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        errno.ENOSPC: "no space left on the disk",
        errno.ENAMETOOLONG: "file name too long",
        errno.EROFS: "read-only file system",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    if exc.errno == errno.ENOENT and path.is_symlink():
        reason = f"broken symbolic link (its target {_text(Path(os.readlink(path)))} does not exist)"
    return f"{reason}: {_text(path)}"


def _text(path: Path) -> str:
    """A path inside a message that is stored and shown: valid text whatever bytes its name holds."""
    return printable(key_from_name(str(path)))


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
