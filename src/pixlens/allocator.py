"""The C allocator's share of the process's memory (glibc's malloc; elsewhere these do nothing).

The pipeline's threads (decode threads, analysis lanes, the analysers run side by side, ONNX Runtime's own)
allocate and free tens of megabytes per image through malloc: NumPy arrays, Pillow and OpenCV pictures, and the
working memory of the models that run without ONNX Runtime's arena. glibc gives each thread that allocates an
arena of its own, up to 8 per core, and an arena keeps what was freed in it for later; with every analyser on
12-megapixel photos the process kept growing by the images analysed (1.5 GB after 30, 1.9 GB after 90) though
what it held alive stayed the same. Two things keep it level (docs/PERFORMANCE.md, "Memory"):

- :func:`limit_arenas`: the threads share one arena (``malloc_arenas``; glibc's ``MALLOC_ARENA_MAX``), so
  memory one thread freed serves the next (on 2 cores, 1 arena was no slower than 2 or 16: the threads' big
  allocations are few, the work between them long);
- :func:`release_free_memory` after each batch: free pages go back to the system (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h


@cache
def _glibc() -> Any | None:
    """glibc's C library, or None where malloc is another (musl, macOS, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not hasattr(libc, "mallopt") or not hasattr(libc, "malloc_trim") or not hasattr(libc, "gnu_get_libc_version"):
        return None
    return libc


def limit_arenas(count: int) -> bool:
    """Let malloc make at most ``count`` arenas from now on (0: glibc's default). Process-wide, best set before
    the threads start; returns whether it was applied."""
    libc = _glibc()
    if count <= 0 or libc is None:
        return False
    applied = bool(libc.mallopt(M_ARENA_MAX, count))
    if not applied:
        log.debug("mallopt(M_ARENA_MAX, %d) was refused", count)
    return applied


def release_free_memory() -> None:
    """Give the free pages of every malloc arena back to the system (a few milliseconds at most)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
