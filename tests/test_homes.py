"""Which home a command uses, the store and catalog a home remembers, and reconcile's guard against mass deletion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, make_lens
from pixlens.config import load_settings
from pixlens.errors import ConfigError, StoreError
from pixlens.home import BINDING_FILE, find_home
from pixlens.service import Pixlens, ReconcileRefusedError

PIXLENS = Path(sys.executable).with_name("pixlens")
PHOTOS = ("chelsea.png", "rocket.jpg", "coffee.png")


def cli(*args: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment.update(COLUMNS="500", **env)
    return subprocess.run(
        [str(PIXLENS), *map(str, args)], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def photos(folder: Path, names: tuple[str, ...] = PHOTOS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(SAMPLES / name, folder / name)
    return folder


# -- finding the home ----
def test_the_home_is_the_nearest_dot_pixlens_above_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "project" / ".pixlens").mkdir(parents=True)
    deep = tmp_path / "project" / "a" / "b"
    deep.mkdir(parents=True)

    assert find_home(cwd=deep) == tmp_path / "project" / ".pixlens"
    assert find_home(tmp_path / "given", cwd=deep) == tmp_path / "given"


def test_without_any_dot_pixlens_the_home_is_the_users_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIXLENS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    (tmp_path / "work").mkdir()

    assert find_home(cwd=tmp_path / "work") == tmp_path / "data" / "pixlens"
    monkeypatch.setenv("PIXLENS_HOME", str(tmp_path / "env-home"))
    assert find_home(cwd=tmp_path / "work") == tmp_path / "env-home"


def test_search_from_another_folder_answers_from_the_project_home_not_a_new_empty_one(tmp_path: Path) -> None:
    project = tmp_path / "project"
    photos(project / "in", ("chelsea.png",))
    done = cli("--features", "labels", "--home", project / ".pixlens", "ingest", project / "in", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    below = project / "sub" / "deeper"
    below.mkdir(parents=True)

    found = cli("search", "cat", "--json", cwd=below)

    assert found.returncode == 0, found.stderr
    assert [json.loads(line)["ImageName"] for line in found.stdout.splitlines()] == ["in/chelsea.png"]
    assert not (below / ".pixlens").exists()
    stats = json.loads(cli("stats", "--json", cwd=below).stdout)
    assert stats["Home"] == str(project / ".pixlens")
    assert stats["Store"] == str(project / ".pixlens" / "images")


# -- the store a home remembers ----
def test_a_folder_analysed_in_place_is_remembered_and_reconcile_without_store_deletes_nothing(tmp_path: Path) -> None:
    store = photos(tmp_path / "S")
    first = cli("--features", "properties", "--home", tmp_path / "H", "--store", store, "ingest", store, cwd=tmp_path)
    assert first.returncode == 0, first.stderr

    again = cli("--features", "properties", "--home", tmp_path / "H", "reconcile", "--json", cwd=tmp_path)

    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["Deleted"] == 0
    stats = json.loads(cli("--home", tmp_path / "H", "stats", "--json", cwd=tmp_path).stdout)
    assert stats["Images"] == 3 and stats["Store"] == str(store)


def test_naming_another_store_is_refused_unless_moved(tmp_path: Path) -> None:
    store = photos(tmp_path / "S")
    make_lens(tmp_path / "H", store=str(store)).close()
    other = photos(tmp_path / "T", ("chelsea.png",))

    with pytest.raises(ConfigError, match="--move-store"):
        make_lens(tmp_path / "H", store=str(other))

    moved = Pixlens(load_settings(tmp_path / "H", store=str(other)), move_store=True)
    assert moved.store.describe() == str(other)
    moved.close()
    assert make_lens(tmp_path / "H").store.describe() == str(other)  # the move is remembered


def test_naming_another_catalog_is_refused_unless_moved(tmp_path: Path) -> None:
    make_lens(tmp_path / "H").close()

    with pytest.raises(ConfigError, match="--move-catalog"):
        make_lens(tmp_path / "H", catalog=f"sqlite:///{tmp_path / 'elsewhere.db'}")


def test_a_home_moved_with_its_images_still_finds_them(tmp_path: Path) -> None:
    lens = make_lens(tmp_path / "H", analyzers=["properties"])
    lens.ingest([photos(tmp_path / "in", ("chelsea.png",))])
    lens.close()
    (tmp_path / "H").rename(tmp_path / "H2")

    moved = make_lens(tmp_path / "H2", analyzers=["properties"])

    assert moved.stats()["images"] == 1
    assert moved.plan_reconcile().summary()["deleted"] == 0
    moved.close()


def test_a_store_that_vanished_is_an_error_not_a_mass_deletion(tmp_path: Path) -> None:
    store = photos(tmp_path / "S")
    lens = make_lens(tmp_path / "H", store=str(store), analyzers=["properties"])
    lens.ingest([store])
    lens.close()
    store.rename(tmp_path / "unmounted")

    with pytest.raises(StoreError, match="missing"):
        make_lens(tmp_path / "H")
    done = cli("--home", tmp_path / "H", "reconcile", cwd=tmp_path)
    assert done.returncode == 2 and "missing (unmounted or moved?)" in done.stderr
    assert "Traceback" not in done.stderr


def test_reconcile_refuses_to_forget_most_of_the_catalog_without_yes(tmp_path: Path) -> None:
    store = photos(tmp_path / "S")
    lens = make_lens(tmp_path / "H", store=str(store), analyzers=["properties"])
    lens.ingest([store])
    for name in PHOTOS[:2]:
        (store / name).unlink()  # emptied by mistake: 2 of 3 gone

    with pytest.raises(ReconcileRefusedError, match="--yes"):
        lens.reconcile()
    assert lens.stats()["images"] == 3
    refused = cli("--home", tmp_path / "H", "--features", "properties", "reconcile", cwd=tmp_path)
    assert refused.returncode == 2 and "would forget 2 of the 3" in refused.stderr

    confirmed = cli("--home", tmp_path / "H", "--features", "properties", "reconcile", "--yes", cwd=tmp_path)
    assert confirmed.returncode == 0, confirmed.stderr
    lens.close()
    assert make_lens(tmp_path / "H").stats()["images"] == 1


def test_reconcile_forgets_a_few_deleted_images_without_asking(tmp_path: Path) -> None:
    store = photos(tmp_path / "S")
    lens = make_lens(tmp_path / "H", store=str(store), analyzers=["properties"])
    lens.ingest([store])
    (store / PHOTOS[0]).unlink()

    assert lens.reconcile().summary()["deleted"] == 1
    assert lens.stats()["images"] == 2
    lens.close()


# -- homes that cannot be used ----
def test_a_home_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "H").write_text("not a folder")

    done = cli("--home", tmp_path / "H", "stats", cwd=tmp_path)

    assert done.returncode == 2
    assert "is a file, not a folder" in done.stderr and "Traceback" not in done.stderr


def test_a_home_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    done = cli("--home", "/sys/pixlens-home", "search", "cat", cwd=tmp_path)

    assert done.returncode == 2
    assert "cannot create the home folder /sys/pixlens-home" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to nobody")
def test_a_read_only_home_is_a_clear_error() -> None:
    top = Path(tempfile.mkdtemp(prefix="pixlens-read-only-"))  # a place that "nobody" can reach
    top.chmod(0o755)
    home = top / "H"
    home.mkdir(mode=0o755)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIXLENS_")}
    environment["HOME"] = str(top)

    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(PIXLENS), "--home", str(home), "stats"],
        cwd=top,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    shutil.rmtree(top)

    assert done.returncode == 2, done.stderr
    assert f"the home folder {home} is not writable" in done.stderr and "Traceback" not in done.stderr


def test_a_damaged_home_json_is_a_clear_error(tmp_path: Path) -> None:
    make_lens(tmp_path / "H").close()
    (tmp_path / "H" / BINDING_FILE).write_text("{ not json")

    with pytest.raises(ConfigError, match=BINDING_FILE):
        make_lens(tmp_path / "H")


def test_init_makes_a_home_here_that_commands_below_find(tmp_path: Path) -> None:
    store = photos(tmp_path / "Pictures", ("chelsea.png",))
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)

    made = cli("--store", store, "init", "--json", cwd=project)

    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["Home"] == str(project / ".pixlens")
    done = cli("--features", "labels", "ingest", store, cwd=project / "sub")  # analysed in place, in that home
    assert done.returncode == 0, done.stderr
    found = cli("search", "cat", "--json", cwd=project / "sub")
    assert [json.loads(line)["ImageName"] for line in found.stdout.splitlines()] == ["chelsea.png"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda catalog: None,
        lambda catalog: {"store": 5, "catalog": catalog},
        lambda catalog: {"store": "images"},
        lambda catalog: {"store": ".", "catalog": catalog},  # the home itself
    ],
)
def test_a_home_json_without_a_usable_store_or_catalog_says_which(tmp_path: Path, damage: Any) -> None:
    make_lens(tmp_path / "H").close()
    binding = tmp_path / "H" / BINDING_FILE
    binding.write_text(json.dumps(damage(json.loads(binding.read_text())["catalog"])))

    with pytest.raises(ConfigError, match=r"(store|catalog)"):
        make_lens(tmp_path / "H")


def test_a_store_named_through_a_symbolic_link_is_the_same_store(tmp_path: Path) -> None:
    store = photos(tmp_path / "S", ("chelsea.png",))
    make_lens(tmp_path / "H", store=str(store)).close()
    (tmp_path / "link").symlink_to(store)

    lens = make_lens(tmp_path / "H", store=str(tmp_path / "link"))

    assert lens.store.describe() == str(store)  # the recorded place, not replaced by the link
    lens.close()
