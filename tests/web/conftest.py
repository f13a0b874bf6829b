"""Browser fixtures: Debian's Chromium, driven by Playwright, against a real API server.

No browser is downloaded (this machine cannot, and CI installs Debian's `chromium` package):
Playwright is pointed at the system binary, `LEADLINE_CHROMIUM` or the first Chromium on PATH.
Without Playwright or without Chromium the browser tests skip and say which is missing.
Screenshots go to `LEADLINE_SCREENSHOT_DIR`, else `<tmp>/leadline-screenshots`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.harness import ApiHarness, Stack

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# As root Chromium needs --no-sandbox; the rest keep it from reaching for the network (which
# is closed here) at start-up.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOT_DIR = Path(
    os.environ.get("LEADLINE_SCREENSHOT_DIR")
    or Path(tempfile.gettempdir()) / "leadline-screenshots"
)
# Adds up the layout shifts the page makes on its own (not right after a click or key press).
LAYOUT_SHIFT_SCRIPT = """
window.__layoutShift = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__layoutShift += entry.value;
  }
}).observe({ type: "layout-shift", buffered: true });
"""

OpenPage = Callable[..., Any]


def find_chromium() -> str | None:
    explicit = os.environ.get("LEADLINE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -e '.[dev]'"
    )
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium found: apt-get install chromium, or set LEADLINE_CHROMIUM")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    """Factory: `open_page(api, viewport=DESKTOP)` -> a Playwright Page showing the research page.

    Each page gets its own browser context (own storage), and any uncaught error in the page's
    scripts fails the test.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def make(api: ApiHarness, viewport: dict[str, int] = DESKTOP) -> Any:
        context = browser.new_context(viewport=viewport, base_url=api.base_url)
        context.add_init_script(LAYOUT_SHIFT_SCRIPT)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto("/")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"the page's scripts failed: {errors}"


def save_screenshots(page: Any, name: str) -> list[Path]:
    """Full-page screenshots at desktop and phone width; the page must fit the phone's width."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    page.evaluate("document.activeElement && document.activeElement.blur()")  # no focus ring
    saved = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow}px wider than a {viewport['width']}px screen"
        path = SCREENSHOT_DIR / f"{name}-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        saved.append(path)
    page.set_viewport_size(original)
    return saved
