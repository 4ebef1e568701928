"""SQLite's errors, told as a person needs them: what is wrong with the catalog and what to do about it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pixlens.errors import CatalogError


def catalog_error(exc: sqlite3.Error | OSError, path: Path, doing: str) -> CatalogError:
    """A CatalogError for ``exc``, raised while ``doing`` (e.g. "write", "read") on the catalog at ``path``."""
    text = str(exc)
    lowered = text.lower()
    if "file is not a database" in lowered:
        message = f"{path} is not a pixlens catalog (it is not an SQLite database, or its header is damaged)"
    elif "malformed" in lowered or "corrupt" in lowered:
        message = (
            f"the catalog {path} is damaged ({text}); `pixlens check` lists the problems. Restore it from a "
            "backup, or move it away and ingest again (the images themselves are not affected)"
        )
    elif "disk is full" in lowered or "database or disk is full" in lowered:
        message = f"cannot {doing} the catalog {path}: the disk is full ({text}); nothing was written"
    elif "disk i/o error" in lowered:
        message = (
            f"cannot {doing} the catalog {path}: the system failed to write or read its file ({text}); the disk may "
            "be full, over a quota or failing; nothing of this change was written"
        )
    elif "readonly" in lowered or "read-only" in lowered:
        message = read_only_message(path, text)
    elif "unable to open" in lowered:
        message = (
            f"cannot open the catalog {path} ({text}): the file or its folder cannot be opened for writing; "
            "check that the folder exists and that you may write to it"
        )
    elif "locked" in lowered or "busy" in lowered:
        message = (
            f"cannot {doing} the catalog {path}: another process has held it locked for too long ({text}); "
            "try again when it is done"
        )
    else:
        message = f"cannot {doing} the catalog {path}: {text}"
    return CatalogError(message)


def read_only_message(path: Path, detail: str = "") -> str:
    why = f" ({detail})" if detail else ""
    return (
        f"the catalog {path} is read-only{why}: pixlens writes to the catalog file and to its folder (the "
        "write-ahead log and the vector index sit beside it); give write access or use a copy"
    )
