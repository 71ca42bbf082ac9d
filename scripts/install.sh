#!/usr/bin/env bash
# Install ebm-playground into ./.venv without ever pulling a multi-GB CUDA build of torch.
#
# - The venv sees the system site-packages, so an already-installed torch (any >= 2.2) is reused.
# - Otherwise torch==2.13.0 is installed explicitly first (on this kind of machine pip finds a
#   local CPU wheel of it), so the `torch>=2.2` requirement is already met when the project installs.
# Usage: scripts/install.sh [extra]   e.g. scripts/install.sh dev, scripts/install.sh docs (make docs)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
extra=${1:-}

# SYSTEM_SITE=0 builds an isolated venv (what a machine without torch looks like).
if [ ! -x "$VENV/bin/python" ]; then
  if [ "${SYSTEM_SITE:-1}" = "1" ]; then
    "$PYTHON" -m venv --system-site-packages "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
py="$VENV/bin/python"
if ! "$py" -c "import torch, sys; v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 2))" 2>/dev/null; then
  echo "[install] no torch >= 2.2 found; installing the CPU build torch==2.13.0" >&2
  "$py" -m pip install --quiet "torch==2.13.0"
fi
target="."
[ -n "$extra" ] && target=".[$extra]"
# Skip the (network-touching) reinstall when the editable install is already current.
stamp="$VENV/.installed-${extra:-core}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$py" -m pip install --quiet -e "$target"
  touch "$stamp"
fi
