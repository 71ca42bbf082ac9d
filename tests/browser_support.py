"""A headless system Chromium for the browser tests, driven by Playwright's Python package.

The browser comes from Debian's ``chromium`` package (``scripts/install_browser.sh``, run by ``.ci/run``);
nothing downloads a browser at run time. Where no Chromium or no Playwright is installed the tests skip
with a message that says how to get them.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile

import pytest

# Flags as the workplace's own probe used them: a root user needs --no-sandbox, and the background
# networking flags stop Chromium from trying to reach hosts that a closed network refuses.
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


def chromium_path() -> str | None:
    """The system Chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_browser() -> str:
    """Skip the calling test, with the fix, unless a system Chromium and Playwright are installed."""
    path = chromium_path()
    if path is None:
        pytest.skip("no system Chromium: install it with `sudo apt-get install chromium` (or run scripts/install_browser.sh as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright's Python package is missing: pip install -e '.[dev]'")
    return path


@contextlib.contextmanager
def browser_page(width: int = 1280, height: int = 900):
    """Yield a Playwright page in a fresh headless system Chromium (own profile directory)."""
    path = require_browser()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=path, headless=True, args=CHROMIUM_ARGS, viewport={"width": width, "height": height}
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()
