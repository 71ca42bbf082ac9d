"""`ebm playground` in a real browser: Debian's headless Chromium driven by Playwright's Python package.

Loads the page from a live uvicorn server, chooses a data set, model and principle through the page's
own controls, trains for a few seconds and checks what a student would see: the landscape changed
(pixel statistics of the canvas), the chains moved, the loss went down; then a shared link reproduces
a scene and a diverging run shows the library's message while the session keeps streaming.
Screenshots are kept under ``out/test-artifacts/playground/`` (or ``$EBM_TEST_ARTIFACTS``).
Skips with the fix where no Chromium or Playwright is installed (`tests/browser_support.py`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from browser_support import browser_page, require_browser

uvicorn = pytest.importorskip("uvicorn", reason="the playground extra is missing: pip install 'ebm-playground[playground]'")

ARTIFACTS = Path(os.environ.get("EBM_TEST_ARTIFACTS", "out/test-artifacts")) / "playground"


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; each test opens (and closes) its own tab."""
    with browser_page() as first:
        yield first.context


@pytest.fixture(scope="module")
def live_server():
    require_browser()
    from ebm.playground.server import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(max_sessions=4, max_fps=10), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the playground server did not start within 30 s"
    yield f"http://127.0.0.1:{port}/", server
    server.should_exit = True
    thread.join(timeout=10)


CANVAS_PIXELS = """() => {
  const c = document.getElementById('landscape');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const step = 16, out = [];
  for (let i = 0; i < d.length; i += 4 * step) out.push(d[i], d[i + 1], d[i + 2]);
  return out;
}"""


def _pixels(page):
    import numpy as np

    return np.array(page.evaluate(CANVAS_PIXELS), dtype=float)


def _wait_scene(page, settings: dict, timeout: float = 30.0):
    """Wait until the server's settings in force contain ``settings`` and a frame of that build has arrived."""
    page.wait_for_function(
        """(s) => { const p = window.playground;
          return Object.entries(s).every(([k, v]) => p.settings[k] === v) && p.sceneId !== undefined && p.frameScene === p.sceneId; }""",
        arg=settings,
        timeout=timeout * 1000,
    )


@contextlib.contextmanager
def _tab(browser):
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()  # closing the tab closes its WebSocket, which ends its session


def test_train_in_the_browser_carves_the_landscape_and_moves_the_chains(live_server, browser):
    import numpy as np

    url, server = live_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _tab(browser) as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function("window.playground.frames > 0", timeout=60000)
        assert page.locator("#connection").inner_text() == "connected"
        # Choose the scene through the page's own controls.
        page.select_option("#k-data", "moons")
        page.select_option("#k-model", "mlp")
        _wait_scene(page, {"model": "mlp"})
        page.select_option("#k-principle", "nce")
        _wait_scene(page, {"data": "moons", "model": "mlp", "principle": "nce"})
        page.wait_for_function("window.playground.grid !== null", timeout=30000)
        before = _pixels(page)
        chains_before = np.array(page.evaluate("window.playground.chains"))
        page.screenshot(path=str(ARTIFACTS / "before.png"))

        page.click("#run")
        page.wait_for_function("window.playground.losses.length >= 120", timeout=60000)
        page.click("#run")  # pause
        page.wait_for_function("!window.playground.running", timeout=10000)
        page.screenshot(path=str(ARTIFACTS / "trained.png"))
        if os.environ.get("EBM_PLAYGROUND_SCREENSHOT"):  # how docs/images/playground.png was made
            page.screenshot(path=os.environ["EBM_PLAYGROUND_SCREENSHOT"], clip={"x": 0, "y": 0, "width": 1280, "height": 680})

        after = _pixels(page)
        chains_after = np.array(page.evaluate("window.playground.chains"))
        losses = page.evaluate("window.playground.losses")
        quality = page.evaluate("window.playground.quality")
        # The landscape changed: the canvas' mean absolute pixel change is far above zero (an unchanged
        # canvas gives exactly 0; the chains alone cover well under 5 % of the pixels).
        assert np.abs(after - before).mean() > 10.0
        assert abs(after.std() - before.std()) > 1.0 or np.abs(after - before).mean() > 20.0
        # The chains moved (MALA with step 0.05 moves a chain ~0.3 per step; 120 optimiser steps = 48 sweeps).
        assert np.linalg.norm(chains_after - chains_before, axis=1).mean() > 0.3
        # The NCE loss went down (it starts near 4 on moons and falls below 2 within a hundred steps).
        assert np.mean(losses[-30:]) < np.mean(losses[:10])
        assert quality["loglik"] > -6.0
        assert page.locator("#quality").inner_text().startswith("held-out log-likelihood")
        # Export: a PNG drawn by ebm.plot comes back.
        page.click("#export")
        page.wait_for_function("window.playground.lastExport > 10000", timeout=60000)
        assert errors == []


def test_a_shared_link_reproduces_the_scene_and_divergence_is_shown(live_server, browser):
    url, server = live_server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _tab(browser) as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # A link with drawn points: the page sends them, the server trains on exactly those.
        points = ";".join(f"{x:.2f},{y:.2f}" for x, y in [(-2, 0), (-2.2, 0.3), (-1.8, -0.2), (2, 1), (2.1, 0.9)])
        page.goto(url + f"#mode=train&data=drawn&model=kmeans&components=2&points={points}")
        page.wait_for_function("window.playground.data && window.playground.data.length === 5 && window.playground.grid !== null", timeout=30000)
        page.click("#landscape", position={"x": 100, "y": 100})  # one click adds a cloud of 24 points
        page.wait_for_function("window.playground.data && window.playground.data.length === 29", timeout=30000)
        assert "points=" in page.evaluate("location.hash") and page.evaluate("window.playground.drawn.length") == 29
        # Another link on the same page (a hash change): the scene follows it.
        page.goto(url + "#mode=train&data=8gaussians&model=mlp&principle=sm&optimizer=sgd&lr=100&v_kind=density&v_log=1")
        _wait_scene(page, {"data": "8gaussians", "principle": "sm", "optimizer": "sgd", "lr": 100})
        assert page.locator("#k-principle").input_value() == "sm"
        assert page.locator("#view-kind").input_value() == "density" and page.locator("#view-log").is_checked()
        page.click("#run")
        page.wait_for_function("document.getElementById('message').textContent.includes('Fix:')", timeout=60000)
        message = page.locator("#message").inner_text()
        assert "Training stopped rather than hide it" in message or "non-finite" in message
        page.screenshot(path=str(ARTIFACTS / "diverged.png"))
        # The session survives: a step with a sane learning rate still brings frames.
        frames = page.evaluate("window.playground.frames")
        page.evaluate("window.playground.socket.send(JSON.stringify({type: 'settings', settings: {lr: 0.001}}))")
        page.click("#step")
        page.wait_for_function(f"window.playground.frames > {frames}", timeout=30000)
        assert page.locator("#connection").inner_text() == "connected"
        assert errors == []
    deadline = time.monotonic() + 10
    while server.config.app.state.manager.count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.config.app.state.manager.count == 0  # the closed tab freed its session
