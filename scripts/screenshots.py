"""Take the README's screenshots of the web page (docs/screenshots/*.png) from a real ``pixlens serve``.

The sample photos are analysed into a temporary home, the server started on a free loopback port, and Debian's
chromium (scripts/install-browser.sh) driven through the main views: the search grid with its facets, an image with
its boxes, the people, the status.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402 (tests/ holds the one browser set-up)

PIXLENS = Path(sys.executable).parent / "pixlens"
DETAIL = "samples/000000519208.jpg"  # a man beside an elephant: objects, a face and text
NAMED = {"samples/astronaut.png": "Eileen Collins"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"pixlens serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    sys.exit("pixlens serve was not ready within 4 minutes")


def settle(page: Page) -> None:
    """Wait until the images on screen are loaded (a screenshot of grey squares shows nothing)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => [...document.images].every((img) => img.complete)")
    page.wait_for_timeout(300)


def shoot(page: Page, base: str, out: Path) -> None:
    page.goto(base + "/?q=person")
    page.locator(".grid img").first.wait_for()
    settle(page)
    page.screenshot(path=str(out / "search.png"))

    page.goto(base + "/?image=" + DETAIL)
    page.locator(".box-face").first.wait_for()
    settle(page)
    page.screenshot(path=str(out / "detail.png"))

    page.goto(base + "/?view=people")
    page.locator(".person").first.wait_for()
    for key, name in NAMED.items():
        person = page.evaluate(
            "async (key) => (await (await fetch('/v1/images/' + key)).json()).FaceDetails[0].PersonId", key
        )
        card = page.locator(f'.person[data-person="{person}"]')
        card.locator("input").fill(name)
        card.locator("button", has_text="Save").click()
        card.locator(".person-name", has_text=name).wait_for()
    page.reload()
    page.locator(".person").first.wait_for()
    settle(page)
    page.screenshot(path=str(out / "people.png"))

    # A file that is no image pixlens reads, uploaded to show a failure with its reason on the status page.
    with tempfile.TemporaryDirectory() as folder:
        broken = Path(folder) / "holiday-cut-short.jpg"
        broken.write_bytes((ROOT / DETAIL).read_bytes()[:4000])
        page.goto(base + "/?q=cat")
        page.locator("#file-input").set_input_files(str(broken))
        page.locator('.upload[data-state="failed"]').wait_for(timeout=120_000)
    page.goto(base + "/?view=status")
    page.locator(".failures tr", has_text="holiday").wait_for()
    settle(page)
    page.screenshot(path=str(out / "status.png"))

    page.goto(base + "/?q=color:green")
    page.locator(".grid img").first.wait_for()
    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("ca")
    page.locator(".suggestion").first.wait_for()
    settle(page)
    page.screenshot(path=str(out / "suggestions.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: install it with sudo sh scripts/install-browser.sh")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pixlens-screenshots-") as folder:
        home = Path(folder) / "home"
        print("analysing the sample photos...", flush=True)
        subprocess.run([str(PIXLENS), "--home", str(home), "ingest", str(ROOT / "samples")], check=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [str(PIXLENS), "--home", str(home), "serve", "--port", str(port), "--no-watch"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(base, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800}, color_scheme="light")
                page.set_default_timeout(30_000)
                shoot(page, base, args.out)
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    for png in sorted(args.out.glob("*.png")):
        # 256 colours: a quarter of the bytes in the repository, and the photos still read well.
        Image.open(png).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(png, optimize=True)
        print(f"{png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}: {png.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
