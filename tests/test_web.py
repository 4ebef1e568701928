"""The web page in a real browser (Debian's chromium through Playwright) against a real ``pixlens serve``.

One server over a temporary home for the module: a few sample photos ingested before it starts, the rest of what
the tests need uploaded through the page itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont
from playwright.sync_api import Page, expect

from browser import browser_fixture, page_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
PIXLENS = Path(sys.executable).parent / "pixlens"
# Photos with people in them, ingested before the server starts: enough for two pages of "person" results.
PRELOADED = [
    "000000397133.jpg",
    "000000229358.jpg",
    "000000214753.jpg",
    "000000423617.jpg",
    "000000000785.jpg",
    "000000000872.jpg",
    "000000001268.jpg",
    "000000012280.jpg",
    "000000000436.jpg",
    "000000000885.jpg",
]
FACES_PHOTO = "000000519208.jpg"  # a man beside an elephant: one face, labels Elephant and Person
ANALYSED_WITHIN_MS = 180_000

IMG_PAYLOAD = "<img src=x onerror=window.__xss=1>"
SCRIPT_PAYLOAD = "<script>window.__xss=1</script>"
SVG_PAYLOAD = "<svg onload=window.__xss=1>"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


class Server:
    def __init__(self, home: Path, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.home, self.port, self.process, self.log = home, port, process, log
        self.url = f"http://127.0.0.1:{port}"

    def api(self, path: str) -> Any:
        return get_json(self.url + path)

    def record(self, key: str) -> Any:
        return self.api("/v1/images/" + urllib.parse.quote(key, safe="/"))


def start_server(home: Path) -> Server:
    port = free_port()
    log = home.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(PIXLENS), "--home", str(home), "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(home, port, process, log)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"pixlens serve exited ({process.returncode}):\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(server.url + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    stop_server(server)
    pytest.fail(f"pixlens serve was not ready in time:\n{log.read_text(errors='replace')}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("web") / "home"
    photos = home.parent / "photos"
    photos.mkdir()
    for name in PRELOADED:
        shutil.copy(SAMPLES / name, photos / name)
    subprocess.run([str(PIXLENS), "--home", str(home), "ingest", str(photos)], check=True, capture_output=True)
    running = start_server(home)
    yield running
    stop_server(running)


def open_page(page: Page, server: Server, path: str = "/") -> None:
    page.goto(server.url + path)
    expect(page.locator("#q")).to_be_visible()


def upload(page: Page, *files: Path) -> None:
    page.locator("#file-input").set_input_files([str(f) for f in files])


def hostile_photo(folder: Path) -> Path:
    """A photo whose file name, text (drawn large for OCR) and EXIF (Make, Model) hold HTML that would run; taken in
    Paris."""
    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")  # the regular weight reads upside down
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont = (
        ImageFont.truetype(str(font_path), 60) if font_path.exists() else ImageFont.load_default(60)
    )
    image = Image.new("RGB", (1500, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.text((40, 50), IMG_PAYLOAD, fill="black", font=font)
    draw.text((40, 180), SCRIPT_PAYLOAD, fill="black", font=font)
    exif = Image.Exif()
    exif[0x010F] = IMG_PAYLOAD  # Make
    exif[0x0110] = SCRIPT_PAYLOAD  # Model
    exif[0x010E] = SVG_PAYLOAD  # ImageDescription
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.2), 3: "E", 4: (2.0, 17.0, 40.2)})  # the Eiffel Tower
    path = folder / f"{IMG_PAYLOAD}.jpg"  # no "/" in it: a legal file name
    image.save(path, "JPEG", quality=92, exif=exif)
    return path


def xss_ran(page: Page) -> bool:
    return bool(page.evaluate("() => window.__xss !== undefined"))


def test_upload_watch_search_detail_and_name_a_person(page: Page, server: Server) -> None:
    open_page(page, server)
    upload(page, SAMPLES / FACES_PHOTO)
    row = page.locator(".upload", has_text=FACES_PHOTO)
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-state", "analyzed", timeout=ANALYSED_WITHIN_MS)
    expect(row.locator("progress")).to_have_attribute("value", "100")
    assert server.record(FACES_PHOTO)["Status"] == "analyzed"

    # Search its label, chosen from the suggestions while typing.
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("eleph")
    suggestion = page.locator(".suggestion", has_text="Elephant").first
    expect(suggestion).to_be_visible()
    for _ in range(10):  # arrow down to it
        if page.locator("#q").get_attribute("aria-activedescendant") == suggestion.get_attribute("id"):
            break
        page.locator("#q").press("ArrowDown")
    expect(suggestion).to_have_attribute("aria-selected", "true")
    page.locator("#q").press("Enter")  # takes the suggestion
    expect(page.locator("#q")).to_have_value("Elephant ")
    page.locator("#q").press("Enter")  # searches
    page.wait_for_url("**/?q=Elephant")
    tile = page.locator(f'.grid img[alt="{FACES_PHOTO}"]')
    expect(tile).to_be_visible()

    # A facet refines the query (in the URL, so it can be bookmarked).
    page.locator(".facets a", has_text="Person").first.click()
    page.wait_for_url("**/?q=Elephant+AND+Person")
    expect(page.locator("#q")).to_have_value("Elephant AND Person")
    expect(tile).to_be_visible()

    # The detail view draws the boxes; each kind can be hidden.
    tile.click()
    page.wait_for_url(f"**/?image={FACES_PHOTO}")
    expect(page.locator(".box-label").first).to_be_visible()
    faces = page.locator(".box-face")
    expect(faces.first).to_be_visible()
    # Measured once the picture is loaded and sized to its column (the boxes are percentages of it).
    page.wait_for_function("() => (i => i.complete && i.style.width)(document.querySelector('.stage img'))")
    box = faces.first.bounding_box()
    picture = page.locator(".stage img").bounding_box()
    assert box is not None and picture is not None and box["width"] > 5 and box["height"] > 5
    assert picture["x"] <= box["x"] and box["x"] + box["width"] <= picture["x"] + picture["width"] + 1
    assert picture["y"] <= box["y"] and box["y"] + box["height"] <= picture["y"] + picture["height"] + 1
    page.locator("#show-face").uncheck()
    expect(faces.first).to_be_hidden()
    expect(page.locator(".box-label").first).to_be_visible()
    expect(page.locator(".labels").get_by_role("link", name="Elephant", exact=True)).to_be_visible()
    expect(page.locator(".similar .tile").first).to_be_visible()

    # Name the person whose face it is, then find them by name.
    person_id = next(face["PersonId"] for face in server.record(FACES_PHOTO)["FaceDetails"] if "PersonId" in face)
    page.locator("nav a", has_text="People").click()
    page.wait_for_url("**/?view=people")
    card = page.locator(f'.person[data-person="{person_id}"]')
    card.locator("input").fill("Alice Example")
    card.locator("button", has_text="Save").click()
    expect(card.locator(".person-name")).to_have_text("Alice Example")
    page.reload()
    expect(page.locator(f'.person[data-person="{person_id}"] .person-name')).to_have_text("Alice Example")
    named = [p for p in server.api("/v1/people")["People"] if p["PersonId"] == person_id]
    assert named[0]["Name"] == "Alice Example"
    open_page(page, server, "/?q=" + urllib.parse.quote('person:"Alice Example"'))
    expect(page.locator(f'.grid img[alt="{FACES_PHOTO}"]')).to_be_visible()
    page.locator(f'.grid img[alt="{FACES_PHOTO}"]').click()
    expect(page.locator(".box-face .box-caption").first).to_have_text("Alice Example")


def test_infinite_scroll_loads_every_page_once(page: Page, server: Server) -> None:
    page.set_viewport_size({"width": 480, "height": 400})  # a small screen: pages of 8
    pages: list[str] = []
    page.on("request", lambda request: pages.append(request.url) if "/v1/search?" in request.url else None)
    open_page(page, server, "/?q=person")
    total = server.api("/v1/search?q=person&limit=1")["Total"]
    assert total > 8
    expect(page.locator(".summary")).to_have_text(f"{total} images")
    tiles = page.locator(".grid img")
    expect(tiles.first).to_be_visible()
    for _ in range(20):
        if tiles.count() >= total:
            break
        page.mouse.wheel(0, 4000)
        page.wait_for_timeout(300)
    expect(tiles).to_have_count(total)
    keys = [tiles.nth(i).get_attribute("alt") for i in range(total)]
    assert len(set(keys)) == total  # nothing twice
    expect(page.locator(".more")).to_be_hidden()
    # Several pages, each after the first asked with the cursor the one before gave.
    assert len(pages) >= 2
    assert "cursor=" not in pages[0] and all("cursor=" in url for url in pages[1:])


def test_bad_queries_are_explained(page: Page, server: Server) -> None:
    open_page(page, server, "/?q=" + urllib.parse.quote("dog>=150"))
    problem = page.locator(".notice-error")
    expect(problem).to_contain_text("between 0 and 100")
    expect(problem.locator(".caret")).to_contain_text("^")
    open_page(page, server, "/?q=eleph4nt")
    expect(page.locator(".notice")).to_contain_text("eleph4nt")


def test_hostile_names_text_and_exif_run_nothing(page: Page, server: Server, tmp_path: Path) -> None:
    photo = hostile_photo(tmp_path)
    not_an_image = tmp_path / f"{SVG_PAYLOAD}.jpg"
    not_an_image.write_bytes(b"<html><script>window.__xss=1</script></html>")
    broken = tmp_path / f"{SVG_PAYLOAD} broken.jpg"
    broken.write_bytes((SAMPLES / FACES_PHOTO).read_bytes()[:3000])  # a JPEG cut short: accepted, then failed
    open_page(page, server)
    upload(page, photo, not_an_image, broken)
    row = page.locator(".upload", has_text=IMG_PAYLOAD)
    expect(row).to_have_attribute("data-state", "analyzed", timeout=ANALYSED_WITHIN_MS)
    expect(page.locator(".upload", has_text=f"{SVG_PAYLOAD}.jpg")).to_have_attribute("data-state", "failed")
    expect(page.locator(".upload", has_text="broken")).to_have_attribute(
        "data-state", "failed", timeout=ANALYSED_WITHIN_MS
    )
    key = photo.name
    record = server.record(key)
    assert record["Exif"].get("Make") == IMG_PAYLOAD
    lines = [t["DetectedText"] for t in record["TextDetections"] if t["Type"] == "LINE"]
    assert any("onerror" in line.lower() or "script" in line.lower() for line in lines), lines

    # The detail view: name, text and EXIF shown as text.
    open_page(page, server, "/?image=" + urllib.parse.quote(key))
    expect(page.locator(".detail-title")).to_have_text(key)
    expect(page.locator(".ocr li")).to_have_text(lines)
    expect(page.locator(".panel", has_text="EXIF")).to_contain_text(IMG_PAYLOAD)
    expect(page.locator(".panel", has_text="EXIF")).to_contain_text(SCRIPT_PAYLOAD)
    expect(page.locator(".panel", has_text="EXIF")).to_contain_text("Paris")  # the place its GPS is at
    expect(page.locator(".box-text").first).to_be_visible()

    # The search grid, its facets and the suggestions.
    open_page(page, server, "/?q=has:text")
    expect(page.locator(".grid .tile-name", has_text=IMG_PAYLOAD)).to_be_visible()

    # A person named with HTML, on the people page and in the facets.
    person = server.api("/v1/people")["People"][0]["PersonId"]
    open_page(page, server, "/?view=people")
    card = page.locator(f'.person[data-person="{person}"]')
    card.locator("input").fill(SCRIPT_PAYLOAD)
    card.locator("button", has_text="Save").click()
    expect(card.locator(".person-name")).to_have_text(SCRIPT_PAYLOAD)
    open_page(page, server, f"/?q=person:{person}")
    expect(page.locator(".facets")).to_contain_text(SCRIPT_PAYLOAD)
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("person:")
    expect(page.locator(".suggestion", has_text=SCRIPT_PAYLOAD)).to_be_visible()

    # The status page lists the failure, its name as text, with a retry button.
    open_page(page, server, "/?view=status")
    failure = page.locator(".failures tr", has_text="broken")
    expect(failure).to_contain_text(SVG_PAYLOAD)
    failure.locator("button", has_text="Retry").click()
    expect(page.locator(".toast").first).to_contain_text("queued")

    assert not xss_ran(page)
    # Nothing was turned into an element either: no <img src=x>, <svg> or inline <script> on the page.
    assert page.locator('img[src="x"], svg, script:not([src])').count() == 0


def test_keys_with_url_characters_open_and_show(page: Page, server: Server, tmp_path: Path) -> None:
    odd = tmp_path / "50% off #1 ?+ café & co.png"  # each of these means something in a URL
    shutil.copy(SAMPLES / "coffee.png", odd)
    open_page(page, server)
    upload(page, odd)
    row = page.locator(".upload", has_text=odd.name)
    expect(row).to_have_attribute("data-state", "analyzed", timeout=ANALYSED_WITHIN_MS)
    row.locator("a").click()
    expect(page.locator(".detail-title")).to_have_text(odd.name)
    assert urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)["image"] == [odd.name]
    page.wait_for_function("() => document.querySelector('.stage img').naturalWidth > 0")
    page.reload()  # the URL alone names it
    expect(page.locator(".detail-title")).to_have_text(odd.name)


def test_bookmarked_search_and_deep_links_open_their_views(page: Page, server: Server) -> None:
    open_page(page, server, "/?q=person")
    expect(page.locator("#q")).to_have_value("person")
    expect(page.locator(".grid img").first).to_be_visible()
    open_page(page, server, "/?view=status")
    expect(page.locator(".card").first).to_be_visible()
    expect(page.locator("nav a[aria-current=page]")).to_have_text("Status")
    page.locator("nav a", has_text="Search").click()
    page.go_back()
    page.wait_for_url("**/?view=status")
    expect(page.locator(".status-view")).to_be_visible()


def test_a_server_with_keys_asks_for_one_and_keeps_it(page: Page, tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = subprocess.run(
        [str(PIXLENS), "--home", str(home), "keys", "create", "--scope", "write", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    key = json.loads(made.stdout)["Key"]
    running = start_server(home)
    try:
        page.goto(running.url + "/")
        dialog = page.locator("#key-dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("needs an API key")
        page.locator("#key-input").fill("plk_not-a-key")
        dialog.locator("button", has_text="Save").click()
        expect(dialog).to_contain_text("refused")  # asked again
        page.locator("#key-input").fill(key)
        dialog.locator("button", has_text="Save").click()
        expect(dialog).to_be_hidden()
        expect(page.locator(".summary")).to_contain_text("No images yet")
        assert page.evaluate("() => localStorage.getItem('pixlens.apiKey')") == key

        # Uploads and images carry the key too (an <img> cannot send it: the page fetches them).
        upload(page, SAMPLES / "chelsea.png")
        row = page.locator(".upload", has_text="chelsea.png")
        expect(row).to_have_attribute("data-state", "analyzed", timeout=ANALYSED_WITHIN_MS)
        page.reload()  # the key is remembered: no prompt
        open_page(page, running, "/?q=cat")
        thumbnail = page.locator('.grid img[alt="chelsea.png"]')
        expect(thumbnail).to_be_visible()
        expect(thumbnail).to_have_attribute("src", re.compile("^blob:"))
        page.wait_for_function("() => document.querySelector('.grid img').naturalWidth > 0")
        expect(dialog).to_be_hidden()
    finally:
        stop_server(running)
