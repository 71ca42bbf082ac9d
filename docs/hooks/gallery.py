"""MkDocs hook: the gallery of numbered examples, executed at build time.

Every ``examples/NN_*.py`` is run in a fresh Python process (its own temporary working directory,
so the figures it writes to ``out/...`` land there), with ``--quick`` where the script accepts it
and ``EBM_DOCS_QUICK=1`` in its environment. Its page shows the source, what it printed and every
PNG it wrote, so each figure on the site is produced by the code shown beside it. A script that
fails fails the build (with its stderr), which is what keeps the examples from rotting.

Results are cached in ``.cache/docs-gallery/`` (ignored by git), keyed by a hash of the script,
its arguments and every ``.py`` file of ``ebm`` and ``samplers``, so a rebuild after editing only
the docs does not rerun the examples. ``EBM_DOCS_GALLERY_CACHE=0`` disables the cache.
``EBM_DOCS_JOBS`` sets how many scripts run at once (default 2; each gets one torch thread).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CACHE = ROOT / ".cache" / "docs-gallery"
TIMEOUT_S = 900


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))


def _arguments(source: str) -> list[str]:
    return ["--quick"] if re.search(r"""["']--quick["']""", source) else []


def _library_hash() -> str:
    h = hashlib.sha256()
    for package in ("ebm", "samplers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _docstring_and_body(source: str) -> tuple[str, str]:
    """Split a script into its module docstring (the page's text) and the rest (the code)."""
    match = re.match(r'\s*(?:"""(.*?)"""|\'\'\'(.*?)\'\'\')\s*\n', source, re.S)
    if not match:
        return "", source
    return (match.group(1) or match.group(2) or "").strip(), source[match.end():].lstrip("\n")


def _run(script: Path, key: str) -> dict:
    """Run one example (or read it from the cache): {'stdout', 'seconds', 'figures': {name: bytes}}."""
    use_cache = os.environ.get("EBM_DOCS_GALLERY_CACHE", "1") != "0"
    cached = CACHE / key
    if use_cache and (cached / "result.json").is_file():
        meta = json.loads((cached / "result.json").read_text())
        meta["figures"] = {name: (cached / name).read_bytes() for name in meta["figure_names"]}
        meta["cached"] = True
        return meta
    args = _arguments(script.read_text())
    env = dict(os.environ, EBM_DOCS_QUICK="1", MPLBACKEND="Agg", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    with tempfile.TemporaryDirectory(prefix="ebm-gallery-") as work:
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(script), *args], cwd=work, env=env, capture_output=True,
                                  text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise PluginError(f"gallery: {script.name} ran past {TIMEOUT_S} s; give it a --quick setting") from exc
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise PluginError(f"gallery: {script.name} {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        pngs = sorted(Path(work).rglob("*.png"))
        figures = {f"{i:02d}_{p.name}": p.read_bytes() for i, p in enumerate(pngs)}
    meta = {"stdout": proc.stdout, "seconds": seconds, "args": args, "figure_names": list(figures)}
    if use_cache:
        if cached.exists():
            shutil.rmtree(cached)
        cached.mkdir(parents=True)
        for name, data in figures.items():
            (cached / name).write_bytes(data)
        (cached / "result.json").write_text(json.dumps(meta))
    meta["figures"] = figures
    meta["cached"] = False
    return meta


def _page(script: Path, result: dict) -> str:
    source = script.read_text()
    doc, body = _docstring_and_body(source)
    title, _, rest = doc.partition("\n")
    command = " ".join(["python", f"examples/{script.name}", *result["args"]])
    lines = [f"# {title or script.stem}", "", rest.strip(), "",
             f"Source: `examples/{script.name}` — rendered by running `{command}` while the site was built"
             f" ({result['seconds']:.0f} s on the build machine).", ""]
    if result["figures"]:
        lines += ["## Figures", ""]
        for name in result["figures"]:
            lines += [f"![{name}]({script.stem}/{name})", ""]
    if result["stdout"].strip():
        lines += ["## Output", "", "```text", result["stdout"].rstrip()[-6000:], "```", ""]
    lines += ["## Code", "", "```python", body.rstrip(), "```", ""]
    return "\n".join(lines)


def _title(script: Path) -> str:
    return _docstring_and_body(script.read_text())[0].partition("\n")[0] or script.stem


def _nav_title(script: Path) -> str:
    number, _, words = script.stem.partition("_")
    return f"{number} · {words.replace('_', ' ').capitalize()}"


def on_config(config):
    """Expand the nav's ``Gallery: gallery/index.md`` entry into the index plus one page per example."""
    for i, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and item.get("Gallery") == "gallery/index.md":
            pages = [{"Overview": "gallery/index.md"}] + [{_nav_title(s): f"gallery/{s.stem}.md"} for s in _examples()]
            config["nav"][i] = {"Gallery": pages}
    return config


def on_files(files, config):
    scripts = _examples()
    if not scripts:
        raise PluginError(f"gallery: no examples found in {EXAMPLES}")
    library = _library_hash()
    keys = {}
    for script in scripts:
        source = script.read_text()
        keys[script] = hashlib.sha256((source + repr(_arguments(source)) + library).encode()).hexdigest()[:24]
    jobs = max(1, int(os.environ.get("EBM_DOCS_JOBS", "2")))
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        results = dict(zip(scripts, pool.map(lambda s: _run(s, keys[s]), scripts)))
    index = ["# Gallery", "",
             "The numbered teaching scripts in `examples/`, each run while this site was built (with its"
             " `--quick` setting where it has one), shown with the figures it produced and what it printed."
             " Run one yourself with `python examples/NN_name.py` (figures go to `out/examples/`).", ""]
    for script, result in results.items():
        index.append(f"- [{_title(script)}]({script.stem}.md)")
        files.append(File.generated(config, f"gallery/{script.stem}.md", content=_page(script, result)))
        for name, data in result["figures"].items():
            files.append(File.generated(config, f"gallery/{script.stem}/{name}", content=data))
    files.append(File.generated(config, "gallery/index.md", content="\n".join(index) + "\n"))
    ran = [s.name for s, r in results.items() if not r["cached"]]
    print(f"[gallery] {len(results)} examples ({len(ran)} executed, {len(results) - len(ran)} from cache)", file=sys.stderr)
    return files
