"""The teaching notebooks: each .ipynb matches its paired plain-Python source, and each runs top to
bottom (with EBM_NOTEBOOK_QUICK=1, the lessons' small settings) in a real Jupyter kernel.

Marked ``docs``: run by ``make notebooks`` / ``make docs-test`` (and so by .ci/run), which install
the docs extra (jupytext, nbclient, ipykernel) first; the default suite deselects them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.docs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT_S = 600


def test_every_lesson_has_a_notebook_source():
    assert len(NOTEBOOKS) >= 13, "expected the thirteen lessons in notebooks/"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_paired_with_its_source(source):
    """The committed .ipynb has exactly the cells of the .py (run `make notebooks` to resync)."""
    jupytext = pytest.importorskip("jupytext", reason="install the docs extra: pip install -e '.[docs]'")
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.is_file(), f"{ipynb.name} is missing: run `jupytext --sync {source.relative_to(ROOT)}`"
    from_py = jupytext.read(source)
    from_ipynb = jupytext.read(ipynb)
    cells = lambda nb: [(c.cell_type, c.source.strip()) for c in nb.cells]  # noqa: E731
    assert cells(from_py) == cells(from_ipynb), f"{ipynb.name} differs from {source.name}: run `make notebooks`"
    assert from_ipynb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    for cell in from_ipynb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{ipynb.name}: commit notebooks without outputs"


@pytest.mark.parametrize("source", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(source, tmp_path, monkeypatch):
    """Execute the lesson in a fresh kernel (working directory: a temporary folder)."""
    jupytext = pytest.importorskip("jupytext", reason="install the docs extra: pip install -e '.[docs]'")
    nbclient = pytest.importorskip("nbclient", reason="install the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("ipykernel", reason="install the docs extra: pip install -e '.[docs]'")
    monkeypatch.setenv("EBM_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = jupytext.read(source)
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, f"{source.name} drew no figure"
