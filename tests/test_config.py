"""Settings: arguments > PIXLENS_* > pixlens.toml > defaults; clear errors; docs generated from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pixlens.config import load_settings
from pixlens.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_live_in_the_home_folder(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "h")
    assert settings.store_path == tmp_path / "h" / "images"
    assert settings.catalog_url == f"sqlite:///{tmp_path / 'h' / 'catalog.db'}"
    assert settings.labels.min_confidence == 55
    assert settings.labels.max_labels == 10


def test_home_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXLENS_HOME", str(tmp_path / "elsewhere"))
    assert load_settings().home == tmp_path / "elsewhere"


def test_precedence_arguments_then_environment_then_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pixlens.toml").write_text('batch_size = 4\nstore = "/photos"\n[labels]\nmin_confidence = 70\n')
    settings = load_settings(tmp_path)
    assert (settings.batch_size, settings.labels.min_confidence, settings.store_path) == (4, 70, Path("/photos"))
    monkeypatch.setenv("PIXLENS_LABELS__MIN_CONFIDENCE", "80")
    monkeypatch.setenv("PIXLENS_BATCH_SIZE", "6")
    settings = load_settings(tmp_path)
    assert (settings.batch_size, settings.labels.min_confidence) == (6, 80)
    assert load_settings(tmp_path, batch_size=2).batch_size == 2


def test_invalid_values_name_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXLENS_LABELS__MAX_LABELS", "0")
    with pytest.raises(ConfigError, match=r"labels\.max_labels"):
        load_settings(tmp_path)


def test_unknown_settings_in_the_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "pixlens.toml").write_text("bach_size = 4\n")
    with pytest.raises(ConfigError, match="bach_size"):
        load_settings(tmp_path)


def test_a_malformed_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "pixlens.toml").write_text("batch_size = = 4\n")
    with pytest.raises(ConfigError, match=r"pixlens\.toml"):
        load_settings(tmp_path)


def test_configuration_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "CONFIGURATION.md").read_text() == module.render(), (
        "docs/CONFIGURATION.md is stale: run scripts/gen_config_docs.py"
    )


@pytest.mark.parametrize(
    "text",
    ["[labels]\nmin_confidense = 70\n", "[decode]\nmax_byte = 10\n", "[faces]\n[faces.extra]\nx = 1\n"],
)
def test_a_misspelt_setting_in_a_table_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "pixlens.toml").write_text(text)

    with pytest.raises(ConfigError, match="Extra inputs are not permitted"):
        load_settings(tmp_path)


def test_a_misspelt_nested_environment_variable_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXLENS_LABELS__MIN_CONFIDENSE", "70")

    with pytest.raises(ConfigError, match="min_confidense"):
        load_settings(tmp_path)
