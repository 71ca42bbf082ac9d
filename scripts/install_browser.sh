#!/usr/bin/env bash
# Install a real browser for the browser tests from Debian's own packages (never a download at run time).
# Skipped quietly when chromium is already there or when apt-get is unavailable (tests then skip with a message).
set -uo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != "0" ]; then
  echo "[install_browser] no apt-get or not root: browser tests will be skipped" >&2
  exit 0
fi
apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null \
  || echo "[install_browser] apt-get could not install chromium: browser tests will be skipped" >&2
exit 0
