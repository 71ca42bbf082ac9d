#!/usr/bin/env bash
# Create an isolated virtual environment for the peer library ebmkit.
# ebmkit's import name is `ebm`, which clashes with this project, so it lives in
# its own venv (git-ignored: .venv-*) and benchmarks call it through a subprocess.
# Usage: bash benchmarks/peers/setup_ebmkit.sh   (from the repository root)
set -euo pipefail
VENV="${EBMKIT_VENV:-.venv-ebmkit}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# Pin torch to the version the rest of the benchmark uses so timings are comparable.
"$VENV/bin/pip" install --quiet "torch==2.13.0" ebmkit
"$VENV/bin/python" -c 'import torch, ebm; print("ebmkit venv ok: torch", torch.__version__, "ebm at", ebm.__file__)'
