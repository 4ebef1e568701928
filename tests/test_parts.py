"""The registries of parts picked by URL: lazy imports, clear errors for unknown schemes and missing drivers."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from pixlens.catalog import CATALOGS, open_catalog
from pixlens.catalog.sqlite import SqliteCatalog
from pixlens.config import Settings
from pixlens.errors import ConfigError
from pixlens.parts import Registry, require
from pixlens.store import STORES, open_store
from pixlens.store.local import LocalStore


def test_sqlite_catalog_by_url(tmp_path: Path) -> None:
    catalog = open_catalog(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        assert isinstance(catalog, SqliteCatalog)
        assert (tmp_path / "c.db").exists()
    finally:
        catalog.close()


def test_unknown_scheme_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unsupported catalog URL scheme 'mongodb'.*sqlite://"):
        open_catalog("mongodb://localhost/x")
    assert "sqlite" in CATALOGS.schemes()


def test_folder_store_by_path_and_file_url(tmp_path: Path) -> None:
    for url in (str(tmp_path / "a"), f"file://{tmp_path / 'b'}"):
        store = open_store(Settings(home=tmp_path / "home", store=url))
        assert isinstance(store, LocalStore)
        assert Path(url.removeprefix("file://")).is_dir()
    assert "file" in STORES.schemes()


def test_module_is_imported_only_when_a_url_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    registry: Registry[object] = Registry("widget")
    registry.register("lazy", "pixlens_test_lazy_part:make", extra="lazy")
    assert "pixlens_test_lazy_part" not in sys.modules
    module = types.ModuleType("pixlens_test_lazy_part")
    module.make = lambda url, size: ("made", url, size)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pixlens_test_lazy_part", module)
    assert registry.create("lazy://x", 3) == ("made", "lazy://x", 3)


def test_a_missing_driver_names_the_extra(tmp_path: Path) -> None:
    module = tmp_path / "pixlens_test_needs_driver.py"
    module.write_text("import no_such_driver_package_xyz\n\ndef make(url):\n    return url\n")
    sys.path.insert(0, str(tmp_path))
    try:
        registry: Registry[object] = Registry("queue")
        registry.register(("fancy", "fancy+tls"), "pixlens_test_needs_driver:make", extra="fancy")
        with pytest.raises(ConfigError, match=r"needs the no_such_driver_package_xyz package: .*pixlens\[fancy\]"):
            registry.create("FANCY+TLS://host")
    finally:
        sys.path.remove(str(tmp_path))


def test_require_says_which_extra() -> None:
    assert require("json", "none", "a test").dumps([]) == "[]"
    with pytest.raises(ConfigError, match=r"the S3 store needs the no_such_boto package: .*pixlens\[s3\]"):
        require("no_such_boto", "s3", "the S3 store")
