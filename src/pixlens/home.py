"""Which home a command uses, and the store and catalog that a home belongs to.

The home is found as git finds its repository: ``--home``, else ``PIXLENS_HOME``, else the nearest ``.pixlens``
folder in the working folder or above it, else the user's data folder (``$XDG_DATA_HOME/pixlens``, by default
``~/.local/share/pixlens``). So ``pixlens search`` run from any folder below a project answers from that
project's home, and never from a new empty one.

A home remembers its store and catalog in ``home.json`` at first use. A later command that names none uses them;
one that names others is refused unless it says ``--move-store`` (or ``--move-catalog``), because a home pointed
at the wrong folder would take every image it catalogued for deleted. Places inside the home are remembered
relative to it, so that a home moved together with its images still works.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pixlens.config import SETTINGS_FILE, Settings
from pixlens.errors import ConfigError, StoreError
from pixlens.store.urls import canonical_store_url

HOME_FOLDER = ".pixlens"
BINDING_FILE = "home.json"
SQLITE = "sqlite:///"


def find_home(explicit: Path | str | None = None, cwd: Path | None = None) -> Path:
    """The home to use (see the module docstring for the rule)."""
    if explicit is not None:
        return Path(explicit)
    if os.environ.get("PIXLENS_HOME"):
        return Path(os.environ["PIXLENS_HOME"])
    start = Path(os.path.abspath(cwd or Path.cwd()))
    for folder in (start, *start.parents):
        if (folder / HOME_FOLDER).is_dir():
            return folder / HOME_FOLDER
    return user_data_folder() / "pixlens"


def user_data_folder() -> Path:
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"])
    return Path.home() / ".local" / "share"


@dataclass(frozen=True)
class Binding:
    """The store and catalog a home belongs to, as absolute places (a path, or a URL for other kinds)."""

    store: str
    catalog: str


def bind(settings: Settings, move_store: bool = False, move_catalog: bool = False) -> Settings:
    """``settings`` with the home's own store and catalog: recorded at first use, then checked on every use."""
    home = Path(os.path.abspath(settings.home))
    _ensure_home(home)
    wanted = Binding(_store_place(settings, home), _catalog_place(settings, home))
    recorded = _read(home)
    if recorded is None:
        _write(home, wanted)
        return _applied(settings, wanted)
    store, catalog = recorded.store, recorded.catalog
    if settings.store and not _same_place(wanted.store, recorded.store):
        if not move_store:
            raise ConfigError(
                f"this home ({home}) belongs to the store {recorded.store}, not {wanted.store}: a home pointed at "
                "another folder would take its images for deleted. To move the store, add --move-store; "
                "for another collection, use another --home."
            )
        store = wanted.store
    if settings.catalog and wanted.catalog != recorded.catalog:
        if not move_catalog:
            raise ConfigError(
                f"this home ({home}) keeps its catalog at {recorded.catalog}, not {wanted.catalog}. "
                "To move it, add --move-catalog."
            )
        catalog = wanted.catalog
    binding = Binding(store, catalog)
    if binding != recorded:
        _write(home, binding)
    _check_store_exists(binding.store, home)
    return _applied(settings, binding)


def _same_place(given: str, recorded: str) -> bool:
    """The same store, perhaps reached through a symbolic link."""
    return given == recorded or ("://" not in given and os.path.realpath(given) == os.path.realpath(recorded))


def _ensure_home(home: Path) -> None:
    if home.exists() and not home.is_dir():
        raise ConfigError(f"the home {home} is a file, not a folder (choose another with --home or PIXLENS_HOME)")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the home folder {home}: {exc.strerror or exc}") from exc
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigError(f"the home folder {home} is not writable (pixlens keeps its catalog there)")


def _store_place(settings: Settings, home: Path) -> str:
    if "://" in settings.store and not settings.store.startswith("file://"):
        return canonical_store_url(settings.store)
    if not settings.store:
        return str(home / "images")
    return os.path.abspath(settings.store.removeprefix("file://"))


def _catalog_place(settings: Settings, home: Path) -> str:
    url = settings.catalog or f"{SQLITE}{home / 'catalog.db'}"
    if url.startswith(SQLITE):
        return SQLITE + os.path.abspath(url.removeprefix(SQLITE))
    return url


def _applied(settings: Settings, binding: Binding) -> Settings:
    return settings.model_copy(update={"home": Path(os.path.abspath(settings.home)), **binding.__dict__})


def _check_store_exists(store: str, home: Path) -> None:
    if "://" in store or store == str(home / "images"):
        return
    if not Path(store).is_dir():
        raise StoreError(
            f"the store folder {store} is missing (unmounted or moved?); nothing was changed. If it moved, "
            "run pixlens --store NEW_PLACE --move-store ..."
        )


# -- home.json: places inside the home are written relative to it ----
def _read(home: Path) -> Binding | None:
    path = home / BINDING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc} (fix it, or delete it to record the current store)") from exc
    for name in ("store", "catalog"):
        if not isinstance(data, dict) or not isinstance(data.get(name), str) or not data[name].strip():
            raise ConfigError(
                f"{path} does not say which {name} this home belongs to (a text field {name!r} is needed); fix it, "
                "or delete the file to record the current store and catalog"
            )
    store = data["store"]
    store = canonical_store_url(store) if "://" in store else _absolute(store, home)
    binding = Binding(store, _absolute_url(data["catalog"], home))
    if binding.store == str(home):
        raise ConfigError(f'{path} names the home folder itself as the store: fix it (e.g. "store": "images")')
    return binding


def _write(home: Path, binding: Binding) -> None:
    data = {"store": _relative(binding.store, home), "catalog": _relative_url(binding.catalog, home)}
    path = home / BINDING_FILE
    temporary = path.with_name(f".{BINDING_FILE}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _relative(place: str, home: Path) -> str:
    if "://" in place:
        return place
    path = Path(place)
    return path.relative_to(home).as_posix() if path.is_relative_to(home) else place


def _absolute(place: str, home: Path) -> str:
    if "://" in place or os.path.isabs(place):
        return place
    return str(home / place)


def _relative_url(url: str, home: Path) -> str:
    return SQLITE + _relative(url.removeprefix(SQLITE), home) if url.startswith(SQLITE) else url


def _absolute_url(url: str, home: Path) -> str:
    return SQLITE + _absolute(url.removeprefix(SQLITE), home) if url.startswith(SQLITE) else url


def describe(settings: Settings) -> dict[str, str]:
    """Where a command's home, settings file, store and catalog are, for ``pixlens stats``."""
    return {
        "home": str(settings.home),
        "settings_file": str(settings.home / SETTINGS_FILE),
        "store": settings.store or str(settings.store_path),
        "catalog": settings.catalog_url,
    }
