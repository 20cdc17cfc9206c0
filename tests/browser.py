"""A real headless Chromium for the web page tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download cannot work offline, so the browser is the one ``make test``
installs with apt (``/usr/bin/chromium``). Without it (or without Playwright) a browser test
module skips with one line saying so. Screenshots go to ``$OUT/screenshots`` (default
``out/screenshots`` in the repository).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CONVZOO_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("OUT", Path(__file__).resolve().parent.parent / "out")) / "screenshots"
XSS = '<img src=x onerror="window.__xss=1">'  # shown as text, it must never run


def require_browser() -> None:
    """Skip the calling test module (one line) when the browser or Playwright is missing."""
    if not CHROMIUM.is_file() and not shutil.which("chromium"):
        pytest.skip(
            f"browser tests need Debian's chromium at {CHROMIUM} (make test installs it as root: apt-get install -y chromium)",
            allow_module_level=True,
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("browser tests need Playwright for Python (pip install -e '.[test]')", allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module."""
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if CHROMIUM.is_file() else Path(shutil.which("chromium"))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    """A fresh page; the test fails if the page logged a JavaScript error or ran injected markup."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.allowed_errors = []  # a test that provokes an error response adds its text here
    yield page
    executed = page.evaluate("window.__xss") if not page.is_closed() else None
    context.close()
    assert executed is None, "markup from the data was executed"
    unexpected = [e for e in errors if not any(allowed in e for allowed in page.allowed_errors)]
    assert not unexpected, f"JavaScript errors: {unexpected}"


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as ``<SCREENSHOTS>/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
