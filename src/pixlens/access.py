"""Who may use the HTTP API, and which image keys a client may name.

API keys are ``plk_`` and 32 random bytes (URL-safe base64). The catalog keeps only their SHA-256 and a short
prefix to recognise them by in a list: a key is high-entropy, so a plain hash is as safe to store as a password
hash would be (GitHub's and Stripe's tokens are stored the same way), and checking one costs one hash. A key has a
scope; ``admin`` includes ``write``, which includes ``read``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum

from pixlens.catalog.base import ApiKeyRow, Catalog
from pixlens.errors import AccessError, InvalidKeyError
from pixlens.record import utc_now
from pixlens.store.names import name_from_key, printable

KEY_PREFIX = "plk_"
PREFIX_LENGTH = len(KEY_PREFIX) + 8  # shown in lists: "plk_" and 8 characters (48 of the 256 random bits)
MAX_PRESENTED = 200  # longer than any key pixlens makes: refused unhashed
TOUCH_EVERY = timedelta(minutes=1)  # a key's last use is written at most this often
MAX_NAME = 100
MAX_KEY_BYTES = 1024  # an image key, in UTF-8
MAX_SEGMENT_BYTES = 255  # one file name (most file systems' limit)


class Scope(IntEnum):
    """What a key may do; a higher scope includes the lower ones."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Scope:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise AccessError(f"unknown scope {printable(text)!r} (known: read, write, admin)") from None

    def allows(self, needed: Scope) -> bool:
        return self >= needed


@dataclass(frozen=True)
class ApiKey:
    """A stored key as the access checks see it (never the key itself)."""

    id: int
    name: str | None
    scope: Scope
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(row.id, row.name, Scope[row.scope.upper()], row.prefix, row.created_at, row.last_used_at,
                   row.revoked_at)  # fmt: skip

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(catalog: Catalog, scope: Scope, name: str | None = None) -> tuple[ApiKey, str]:
    """Make a key: its stored description, and the key itself (to be shown once: only its hash is kept)."""
    if name is not None:
        name = name.strip() or None
    if name is not None and (len(name) > MAX_NAME or not name.isprintable()):
        raise AccessError(f"a key's name is at most {MAX_NAME} printable characters: {printable(name)!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = catalog.add_api_key(name, scope.label, key[:PREFIX_LENGTH], _digest(key), utc_now())
    return ApiKey.of(row), key


def list_keys(catalog: Catalog) -> list[ApiKey]:
    return [ApiKey.of(row) for row in catalog.api_keys()]


def active_keys(catalog: Catalog) -> int:
    """How many keys are not revoked (``pixlens serve`` on a public address needs one)."""
    return sum(1 for row in catalog.api_keys() if row.revoked_at is None)


def revoke_key(catalog: Catalog, key_id: int) -> ApiKey:
    """Revoke a key (revoking a revoked key changes nothing). AccessError when there is no such key."""
    row = catalog.revoke_api_key(key_id, utc_now())
    if row is None:
        raise AccessError(f"no API key {key_id} (see: pixlens keys list)")
    return ApiKey.of(row)


def verify(catalog: Catalog, presented: str, now: datetime | None = None) -> ApiKey | None:
    """The key that ``presented`` is, unless it is unknown or revoked (None).

    Candidates are found by their non-secret prefix; the hashes are then compared in constant time. The key's last
    use is recorded at most once a minute, so that a busy client costs no write per request.
    """
    if not presented.startswith(KEY_PREFIX) or len(presented) > MAX_PRESENTED:
        return None
    digest = _digest(presented)
    found: ApiKeyRow | None = None
    for row in catalog.api_keys(presented[:PREFIX_LENGTH]):
        if hmac.compare_digest(row.sha256, digest):
            found = row
    if found is None or found.revoked_at is not None:
        return None
    moment = now or datetime.now(UTC)
    since = _iso(moment - TOUCH_EVERY)
    if found.last_used_at is None or found.last_used_at < since:
        catalog.touch_api_key(found.id, _iso(moment), since)
    return ApiKey.of(found)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the form of record.utc_now


def validate_key_name(key: str) -> str:
    """An image key given by an HTTP client, unchanged, if it is a safe relative path in the store.

    Refused (InvalidKeyError): an empty key, an absolute path, a backslash, an empty, ``.`` or ``..`` segment, a
    segment starting with ``.`` (a hidden file: the store's listing skips those, so reconcile would forget it),
    control characters (C0, DEL, C1; NUL among them), text that is not valid Unicode, more than 1,024 bytes of
    UTF-8, or a segment longer than a file name may be.
    """
    shown = printable(key[:80]) + ("..." if len(key) > 80 else "")
    if not key:
        raise InvalidKeyError("invalid key: it is empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKeyError(f"invalid key {shown!r}: it is not valid Unicode (a lone surrogate)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(f"invalid key {shown!r}: {size} bytes of UTF-8, at most {MAX_KEY_BYTES} allowed")
    control = next((char for char in key if unicodedata.category(char) == "Cc"), None)
    if control is not None:
        raise InvalidKeyError(f"invalid key {shown!r}: it holds a control character (U+{ord(control):04X})")
    if "\\" in key:
        raise InvalidKeyError(f"invalid key {shown!r}: backslashes are not allowed (separate folders with '/')")
    if key.startswith("/"):
        raise InvalidKeyError(f"invalid key {shown!r}: it must be a relative path, not start with '/'")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            what = "an empty segment ('//' or a '/' at the end)" if not segment else f"a {segment!r} segment"
            raise InvalidKeyError(f"invalid key {shown!r}: it holds {what}")
        if segment.startswith("."):
            raise InvalidKeyError(f"invalid key {shown!r}: a name may not start with '.' (hidden files are skipped)")
        if len(os.fsencode(name_from_key(segment))) > MAX_SEGMENT_BYTES:
            raise InvalidKeyError(f"invalid key {shown!r}: a name longer than {MAX_SEGMENT_BYTES} bytes")
    return key
