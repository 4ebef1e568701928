"""One exception tree for pixlens.

    PixlensError
    ├── ConfigError        a setting is wrong or a needed driver is missing
    ├── DecodeError        an image could not be read (corrupt, truncated, too large, not an image)
    │   └── TooLargeError  an upload whose size or pixels pass a limit
    ├── ModelError         a bundled model file is missing, changed or failed to run
    ├── StoreError         the object store could not list, read or write
    │   ├── ObjectExistsError  a write that must not replace an object found one there
    │   └── StoreMissingError  the store's folder (or bucket) is not there: unmounted, moved
    ├── CatalogError       the catalog could not be read or written
    ├── QueryError         a search query is malformed (carries the position of the problem)
    ├── CursorError        a search cursor is malformed, or belongs to another query
    ├── InvalidKeyError    an image key given by a client is not a safe relative path in the store
    ├── AccessError        an API key, saved search or webhook given is not acceptable (a name, a URL, an id)
    └── MigrationError     a table to import from (or a file to export to) cannot be read or written

A failure of one image is data in its record (``Status: failed``), not an exception that escapes the pipeline.
"""

from __future__ import annotations


class PixlensError(Exception):
    """Root of every error that pixlens raises on purpose."""


class ConfigError(PixlensError):
    """A setting is invalid, or an optional driver it needs is not installed."""


class DecodeError(PixlensError):
    """The bytes are not an image pixlens can analyse; the message says why, for a person."""


class TooLargeError(DecodeError):
    """An image (an upload) larger than a limit: in bytes, or in pixels as its header declares."""


class ModelError(PixlensError):
    """A model file is missing, does not match its checksum, or failed to run."""


class StoreError(PixlensError):
    """The object store failed to list, read or write an object."""


class ObjectExistsError(StoreError):
    """An object already exists under the key that a no-overwrite write was given."""


class StoreMissingError(StoreError):
    """The store itself is missing (its folder unmounted or moved): nothing can be written to it."""


class QueueError(PixlensError):
    """The work queue's broker cannot be reached or failed (the jobs stay pending in the catalog)."""


class CatalogError(PixlensError):
    """The catalog failed to read or write."""


class QueryError(PixlensError):
    """A search query could not be parsed.

    ``position`` is the 0-based character offset of the problem in ``query``, so that a caller can point at it.
    """

    def __init__(self, message: str, query: str = "", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.query = query
        self.position = position

    def pointer(self) -> str:
        """The query with a caret under the problem, for a terminal."""
        if self.position is None or not self.query:
            return self.message
        return f"{self.message}\n  {self.query}\n  {' ' * self.position}^"


class CursorError(PixlensError):
    """A search cursor is not one that this query's previous page gave."""


class InvalidKeyError(PixlensError):
    """An image key given by a client (an HTTP upload) is not a safe, relative path inside the store."""


class AccessError(PixlensError):
    """An API key, a saved search or a webhook could not be made or changed as asked (the message says why)."""


class MigrationError(PixlensError):
    """``pixlens import`` / ``export``: the source table cannot be read (missing, no access, no region) or the
    output cannot be written. One unreadable item is not this: it is skipped and reported."""
