"""The browser for the web page's tests: Debian's chromium driven by Playwright (never a downloaded browser).

scripts/install-browser.sh installs it (``./dev test`` runs that). Without it the tests fail, saying how to get it:
a browser test that skips would let the page break unseen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_browser() -> Iterator[Browser]:
    """Start chromium (stopped when the generator is closed); a clear failure when it is not installed."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the web page's tests need Debian's chromium. "
            "Install it with: sudo sh scripts/install-browser.sh (./dev test does)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Browser]:
    yield from launch_browser()


class PageErrors:
    """What went wrong inside a page: uncaught exceptions and console errors (a broken page often says only that)."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda error: self.messages.append(f"uncaught: {error}"))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text}")


@pytest.fixture(name="page")
def page_fixture(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no stored key, no cache) and page; fails the test when the page threw."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors = PageErrors(page)
    yield page
    context.close()
    assert not [m for m in errors.messages if "uncaught" in m], errors.messages
