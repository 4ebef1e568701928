"""API keys (stored hashed, scoped, revocable) and the image keys HTTP clients may name."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import make_lens
from pixlens.access import (
    KEY_PREFIX,
    Scope,
    active_keys,
    create_key,
    list_keys,
    revoke_key,
    validate_key_name,
    verify,
)
from pixlens.cli import app
from pixlens.errors import AccessError, InvalidKeyError
from pixlens.service import Pixlens
from pixlens.store.local import LocalStore

ROOT = Path("/srv/pixlens-store")  # path_of is pure path logic: nothing is read or written here


# --- scopes ------------------------------------------------------------------------------------------------
def test_scopes_are_ordered_and_include_the_lower_ones() -> None:
    assert Scope.READ < Scope.WRITE < Scope.ADMIN
    assert Scope.ADMIN.allows(Scope.WRITE) and Scope.ADMIN.allows(Scope.READ) and Scope.WRITE.allows(Scope.READ)
    assert not Scope.READ.allows(Scope.WRITE) and not Scope.WRITE.allows(Scope.ADMIN)
    assert [Scope.parse(text) for text in ("read", "Write", " ADMIN ")] == [Scope.READ, Scope.WRITE, Scope.ADMIN]
    with pytest.raises(AccessError, match="unknown scope 'root'"):
        Scope.parse("root")


# --- keys --------------------------------------------------------------------------------------------------
def test_a_key_is_stored_only_as_its_hash(lens: Pixlens) -> None:
    key, secret = create_key(lens.catalog, Scope.WRITE, "ci")
    assert secret.startswith(KEY_PREFIX) and len(secret) == len(KEY_PREFIX) + 43  # 32 bytes, URL-safe base64
    assert key.prefix == secret[:12] and key.scope is Scope.WRITE and key.name == "ci"
    lens.close()
    database = Path(lens.settings.catalog_url.removeprefix("sqlite:///"))
    raw = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    assert secret.encode() not in raw and secret[12:].encode() not in raw  # nowhere in the file, WAL included
    with sqlite3.connect(database) as conn:
        assert conn.execute("SELECT sha256 FROM api_keys").fetchall() == [
            (hashlib.sha256(secret.encode()).hexdigest(),)
        ]


def test_verify_accepts_the_key_and_nothing_near_it(lens: Pixlens) -> None:
    key, secret = create_key(lens.catalog, Scope.READ)
    _, other_secret = create_key(lens.catalog, Scope.ADMIN)
    found = verify(lens.catalog, secret)
    assert found is not None and found.id == key.id and found.scope is Scope.READ
    found_other = verify(lens.catalog, other_secret)
    assert found_other is not None and found_other.scope is Scope.ADMIN
    last = secret[-1]
    for wrong in (
        secret[:-1] + ("A" if last != "A" else "B"),  # same prefix, one character off
        secret[:-1],
        secret + "x",
        secret.upper(),
        secret[len(KEY_PREFIX) :],  # without plk_
        "",
        KEY_PREFIX,
        secret + "x" * 10_000,  # refused unhashed
        secret.replace(KEY_PREFIX, "PLK_"),
        "\udcff" + secret,
    ):
        assert verify(lens.catalog, wrong) is None, wrong[:20]


def test_revoked_keys_are_refused(lens: Pixlens) -> None:
    key, secret = create_key(lens.catalog, Scope.ADMIN, "old")
    assert active_keys(lens.catalog) == 1
    revoked = revoke_key(lens.catalog, key.id)
    assert revoked.revoked and revoked.revoked_at is not None
    assert verify(lens.catalog, secret) is None
    assert active_keys(lens.catalog) == 0
    assert revoke_key(lens.catalog, key.id).revoked_at == revoked.revoked_at  # again: unchanged
    with pytest.raises(AccessError, match="no API key 99"):
        revoke_key(lens.catalog, 99)


def test_last_use_is_written_at_most_once_a_minute(lens: Pixlens) -> None:
    _, secret = create_key(lens.catalog, Scope.READ)
    assert list_keys(lens.catalog)[0].last_used_at is None
    start = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    verify(lens.catalog, secret, now=start)
    assert list_keys(lens.catalog)[0].last_used_at == "2030-01-02T03:04:05Z"
    verify(lens.catalog, secret, now=start + timedelta(seconds=59))
    assert list_keys(lens.catalog)[0].last_used_at == "2030-01-02T03:04:05Z"  # not written again
    verify(lens.catalog, secret, now=start + timedelta(seconds=61))
    assert list_keys(lens.catalog)[0].last_used_at == "2030-01-02T03:05:06Z"


def test_key_names_are_checked(lens: Pixlens) -> None:
    with pytest.raises(AccessError, match="printable"):
        create_key(lens.catalog, Scope.READ, "evil\x1b[31mname")
    with pytest.raises(AccessError, match="at most 100"):
        create_key(lens.catalog, Scope.READ, "x" * 101)
    key, _ = create_key(lens.catalog, Scope.READ, "   ")
    assert key.name is None


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    made = runner.invoke(app, [*home, "keys", "create", "--scope", "admin", "--name", "ops"])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith(KEY_PREFIX) and "shown only now" in made.stderr
    listed = runner.invoke(app, [*home, "keys", "list", "--json"])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows == [
        {
            "Id": 1,
            "Name": "ops",
            "Scope": "admin",
            "Prefix": secret[:12],
            "CreatedAt": rows[0]["CreatedAt"],
            "LastUsedAt": None,
            "RevokedAt": None,
        }
    ]
    assert secret not in runner.invoke(app, [*home, "keys", "list"]).output
    assert runner.invoke(app, [*home, "keys", "create", "--scope", "root"]).exit_code == 1
    lens = make_lens(tmp_path / "home")
    try:
        assert verify(lens.catalog, secret) is not None
        assert runner.invoke(app, [*home, "keys", "revoke", "1"]).exit_code == 0
        assert verify(lens.catalog, secret) is None
    finally:
        lens.close()
    missing = runner.invoke(app, [*home, "keys", "revoke", "5"])
    assert missing.exit_code == 1 and "no API key 5" in missing.stderr
    as_json = runner.invoke(app, [*home, "keys", "create", "--scope", "read", "--json"])
    assert json.loads(as_json.stdout)["Key"].startswith(KEY_PREFIX)


# --- image keys from clients -------------------------------------------------------------------------------
ACCEPTED = [
    "a.jpg",
    "trips/2024/beach.jpg",
    "名前/写真.png",
    "with space.jpg",
    "a..b.jpg",
    "emoji 👨‍👩‍👧.jpg",  # zero-width joiners are format characters, not control ones
    "\uf7ff.jpg",  # an escaped undecodable byte, as pixlens's own --json output gives it
    "d/" * 100 + "e.jpg",
    "n" * 255,
    ("s" * 200 + "/") * 5 + "t" * 19,  # 1,024 bytes
]
REFUSED = {
    "": "empty",
    "/etc/passwd": "relative",
    "../up.jpg": "'..' segment",
    "a/../../b.jpg": "'..' segment",
    "a/..": "'..' segment",
    "..": "'..' segment",
    "./a.jpg": "'.' segment",
    "a/./b": "'.' segment",
    "a//b.jpg": "empty segment",
    "a/": "empty segment",
    "a\\b.jpg": "backslash",
    "..\\..\\win.ini": "backslash",
    "nul\x00.jpg": "control character",
    "tab\t.jpg": "control character",
    "line\n.jpg": "control character",
    "del\x7f.jpg": "U\\+007F",
    "c1\x85.jpg": "U\\+0085",
    "c1\x9b.jpg": "U\\+009B",
    "esc\x1b[2J.jpg": "control character",
    ".hidden.jpg": "start with '.'",
    "a/.git/config": "start with '.'",
    "x/..y/z.jpg": "start with '.'",
    "surrogate\udcff.jpg": "not valid Unicode",
    "x" * 1025: "1025 bytes",
    "é" * 513: "1026 bytes",
    "n" * 256: "longer than 255",
}


@pytest.mark.parametrize("key", ACCEPTED)
def test_safe_keys_are_accepted_unchanged(key: str) -> None:
    assert validate_key_name(key) == key
    assert LocalStore(ROOT).path_of(key).is_relative_to(ROOT)


@pytest.mark.parametrize(("key", "reason"), REFUSED.items(), ids=range(len(REFUSED)))
def test_unsafe_keys_are_refused_with_the_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidKeyError, match=f"invalid key.*{reason}"):
        validate_key_name(key)


def test_an_accepted_key_of_the_longest_kind_can_be_stored(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.ensure()
    source = tmp_path / "source.jpg"
    source.write_bytes(b"\xff\xd8\xff")
    for key in ("n" * 255, ("s" * 200 + "/") * 5 + "t" * 19, "\uf7ff.jpg"):
        store.put_file(validate_key_name(key), source)
        assert store.stat(key) is not None


def _inside(key: str) -> None:
    """Either refused, or a path strictly inside the store folder once normalised (no '..' can climb out)."""
    try:
        validate_key_name(key)
    except InvalidKeyError:
        return
    path = LocalStore(ROOT).path_of(key)  # the store's own check agrees: no StoreError
    normal = Path(os.path.normpath(path))
    assert normal.is_relative_to(ROOT) and normal != ROOT
    assert normal == path  # nothing to normalise away: the key names exactly this path
    assert not any(part.startswith(".") for part in normal.relative_to(ROOT).parts)


DANGEROUS = st.text(
    alphabet=st.sampled_from(["a", ".", "/", "\\", "\x00", "\x7f", "\x85", " ", "é", "\uf7ae", "\udcfe", "~"]),
    max_size=40,
)


@settings(max_examples=600, deadline=None)
@given(DANGEROUS)
def test_no_accepted_key_leaves_the_store_dangerous_alphabet(key: str) -> None:
    _inside(key)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_no_accepted_key_leaves_the_store_any_text(key: str) -> None:
    _inside(key)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["..", ".", "", "a", "b.jpg", "/x"]), min_size=1, max_size=8))
def test_no_accepted_key_leaves_the_store_joined_segments(segments: list[str]) -> None:
    _inside("/".join(segments))
