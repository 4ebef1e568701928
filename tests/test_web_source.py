"""The web page's source, read as text: rules that a browser test would only catch by luck."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "src" / "pixlens" / "api" / "web"


def web_files() -> list[Path]:
    files = sorted(p for p in WEB.iterdir() if p.suffix in {".html", ".js", ".css"})
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in files}
    return files


def test_no_markup_is_ever_built_from_strings() -> None:
    # Text from images (names, OCR text, EXIF) must stay text: elements are made with createElement and filled with
    # textContent / setAttribute only (dom.js).
    sink = re.compile(r"\.(innerHTML|outerHTML|insertAdjacentHTML)\b|document\.write|\beval\(|new Function\(")
    for path in web_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not sink.search(line), f"{path.name}:{number}: {line.strip()}"


def test_everything_comes_from_pixlens_itself() -> None:
    # No CDN, no web font, no other site: the page works offline.
    for path in web_files():
        text = path.read_text()
        assert not re.search(r"https?://|\burl\(\s*['\"]?//|@import", text), path.name


def test_the_modules_the_page_loads_exist() -> None:
    imported = set()
    for path in WEB.glob("*.js"):
        imported |= set(re.findall(r'from "\./([\w-]+\.js)"', path.read_text()))
    assert "app.js" in (WEB / "index.html").read_text()
    assert imported, "no imports found"
    assert not {name for name in imported if not (WEB / name).is_file()}
