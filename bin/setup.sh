#!/usr/bin/env bash
# Create .venv and install requirements.txt when missing or changed; with --browser, also make
# sure Debian's chromium is installed (for the browser tests). Safe to run repeatedly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUIET=0; BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --browser) BROWSER=1 ;;
    -h|--help) echo "usage: bin/setup.sh [--quiet] [--browser]"; echo "Create .venv from requirements.txt; --browser also installs Debian chromium."; exit 0 ;;
    *) echo "error: unknown option $arg" >&2; exit 1 ;;
  esac
done
say() { [ "$QUIET" = 1 ] || echo "$@"; }

VENV="$ROOT/.venv"
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$ROOT/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "setting up $VENV (first run takes about 2 minutes)..." >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements.txt" >&2
  echo "$WANT" > "$STAMP"
else
  say "venv up to date"
fi

if [ "$BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium for the browser tests..." >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi
