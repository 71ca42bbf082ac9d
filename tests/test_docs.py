"""The documentation site: a strict build, an API reference that covers every public name, and the
built site opened in a real headless browser.

Marked ``docs``: run by ``make docs-test`` (and so by .ci/run), which installs the docs extra
first; the default suite deselects them. The build runs the gallery examples; their results are
cached in .cache/docs-gallery/ (keyed by the sources), so after ``make docs`` this build is quick.
"""

from __future__ import annotations

import functools
import http.server
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
import threading
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("ebm", "samplers")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """Build the site strictly into a temporary folder; return (folder, build log)."""
    pytest.importorskip("mkdocs", reason="install the docs extra: pip install -e '.[docs]' (or run `make docs-test`)")
    pytest.importorskip("mkdocstrings_handlers.python", reason="install the docs extra: pip install -e '.[docs]'")
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3000)
    return site, proc.returncode, proc.stdout + proc.stderr


def test_strict_build_succeeds_without_warnings(built_site):
    site, rc, log = built_site
    assert rc == 0, log[-6000:]
    assert "WARNING" not in log, log[-6000:]
    for page in ("index.html", "install/index.html", "guide/writing-an-energy/index.html", "gallery/index.html",
                 "api/samplers/index.html", "notebooks/index.html"):
        assert (site / page).is_file(), f"{page} was not built"


def _inventory(site: Path) -> set[str]:
    """The object names of the site's objects.inv (Sphinx inventory v2, written by mkdocstrings)."""
    data = (site / "objects.inv").read_bytes()
    offset = 0
    for _ in range(4):  # four plain-text header lines, then a zlib stream
        offset = data.index(b"\n", offset) + 1
    return {line.split(" ", 1)[0] for line in zlib.decompress(data[offset:]).decode().splitlines() if line.strip()}


def _public_modules():
    """Every importable module of ebm and samplers with no private (underscore) component."""
    for package in PACKAGES:
        module = importlib.import_module(package)
        yield module
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            try:
                yield importlib.import_module(info.name)
            except ImportError as err:  # an optional extra (e.g. the playground's web stack) is missing
                pytest.skip(f"cannot import {info.name} ({err}); install every extra to check the whole reference")


def _documented(inventory: set[str], module_name: str, name: str, obj) -> bool:
    """True if the object is in the reference under the module's path, a parent package's or its own."""
    candidates = {f"{module_name}.{name}"}
    parts = module_name.split(".")
    candidates |= {".".join(parts[:i] + [name]) for i in range(1, len(parts))}
    owner, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and owner and qualname:
        candidates.add(f"{owner}.{qualname}")
        owner_parts = owner.split(".")
        candidates |= {".".join(owner_parts[:i] + [qualname]) for i in range(1, len(owner_parts))}
    return bool(candidates & inventory)


def test_api_reference_covers_every_public_name(built_site):
    """Every name in an __all__ of ebm / samplers (modules without a private component) and every
    registered energy and objective has an entry in the API reference."""
    site, rc, log = built_site
    assert rc == 0, log[-3000:]
    inventory = _inventory(site)
    missing = []
    modules = list(_public_modules())
    assert len(modules) > 20
    for module in modules:
        for name in getattr(module, "__all__", ()):
            if name.startswith("__"):
                continue  # __version__
            if not hasattr(module, name):
                missing.append(f"{module.__name__}.{name} (listed in __all__ but not defined)")
            elif not _documented(inventory, module.__name__, name, getattr(module, name)):
                missing.append(f"{module.__name__}.{name}")
    from ebm import registry

    for entry in registry.ENERGIES.values():
        if not _documented(inventory, entry.cls.__module__, entry.cls.__qualname__, entry.cls):
            missing.append(f"registry energy {entry.name!r}: {entry.cls.__module__}.{entry.cls.__qualname__}")
    for entry in registry.OBJECTIVES.values():
        obj = entry.obj if (inspect.isclass(entry.obj) or inspect.isfunction(entry.obj)) else type(entry.obj)
        if not _documented(inventory, obj.__module__, obj.__qualname__, obj):
            missing.append(f"registry objective {entry.name!r}: {obj.__module__}.{obj.__qualname__}")
    assert not missing, "missing from the API reference (add the module to a page under docs/api/): " + ", ".join(sorted(set(missing)))


@pytest.fixture(scope="session")
def served_site(built_site):
    """Serve the built site over HTTP on the loopback interface (the search worker needs HTTP)."""
    site, rc, log = built_site
    assert rc == 0, log[-3000:]
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output to the failures
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


def _not_blank(png: Path) -> float:
    """Standard deviation of the screenshot's pixel values (0 for a blank page)."""
    import matplotlib.image

    pixels = matplotlib.image.imread(png)  # (h, w, channels) in [0, 1]
    return float(pixels[..., :3].std())


def test_site_renders_and_search_finds_a_class_in_a_real_browser(served_site, tmp_path):
    from tests.browser_support import browser_page

    with browser_page() as page:
        page.goto(f"{served_site}/", wait_until="networkidle")
        assert "ebm-playground" in page.title()
        assert page.locator("h1").first.inner_text().strip().startswith("ebm-playground")
        page.screenshot(path=str(tmp_path / "index.png"), full_page=False)
        assert _not_blank(tmp_path / "index.png") > 0.05

        page.goto(f"{served_site}/api/energies/", wait_until="networkidle")
        assert page.locator("[id='ebm.energies.BernoulliRBM']").count() == 1  # the class's heading anchor
        assert "joint_energy" in page.locator("article").inner_text()  # and its methods, from the docstrings
        page.screenshot(path=str(tmp_path / "api.png"), full_page=False)
        assert _not_blank(tmp_path / "api.png") > 0.05

        # Search through the site's own search box (Material's client-side index, in a web worker).
        page.goto(f"{served_site}/", wait_until="networkidle")
        box = page.locator("input.md-search__input")
        box.click()
        page.keyboard.type("GaussianBernoulliRBM", delay=20)  # key events, as a person types
        found = page.locator(".md-search-result").filter(has_text="GaussianBernoulliRBM(n_visible, n_hidden")
        found.wait_for(timeout=30_000)  # the class's entry, with its signature, from the API page
        assert "matching document" in page.locator(".md-search-result__meta").inner_text()
        page.screenshot(path=str(tmp_path / "search.png"), full_page=False)
        assert _not_blank(tmp_path / "search.png") > 0.05


GUIDE_PAGES = sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "docs" / "guide").glob("*.md"))


@pytest.mark.parametrize("page", GUIDE_PAGES, ids=[p.stem for p in GUIDE_PAGES])
def test_guide_code_blocks_run(page, tmp_path, monkeypatch):
    """Every ```python block of a guide page runs, in order, in one namespace (files go to tmp)."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
    if not blocks:
        pytest.skip(f"{page.name} has no Python code")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"guide_{page.stem}"}
    for i, code in enumerate(blocks):
        exec(compile(code, f"{page.name} block {i + 1}", "exec"), namespace)
