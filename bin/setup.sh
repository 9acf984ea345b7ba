#!/usr/bin/env bash
# Create .venv and install requirements.txt when missing or changed, and Debian's Java 17 (for
# Spark) when java is missing; with --browser, also make sure Debian's chromium is installed and
# package-lock.json's test tools (axe-core) are in node_modules/ (for the browser tests). Safe to
# run repeatedly.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
QUIET=0; BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --quiet) QUIET=1 ;;
    --browser) BROWSER=1 ;;
    -h|--help) echo "usage: bin/setup.sh [--quiet] [--browser]"; echo "Create .venv from requirements.txt; --browser also installs Debian chromium and node_modules/ (npm ci)."; exit 0 ;;
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

# Java 17 for Apache Spark (pyspark, the --engine spark of bin/ingest.sh and bin/label.sh).
if ! command -v java >/dev/null; then
  echo "installing Debian openjdk-17-jre-headless for Apache Spark..." >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >&2
fi

if [ "$BROWSER" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian chromium for the browser tests..." >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi

# axe-core (the accessibility checker the browser tests run in Chromium), at package-lock.json's
# pinned version, from the npm registry; reinstalled when the lock file changes.
NODE_STAMP="$ROOT/node_modules/.goldloop-lock.sha256"
NODE_WANT="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
if [ "$BROWSER" = 1 ] && [ "$(cat "$NODE_STAMP" 2>/dev/null)" != "$NODE_WANT" ]; then
  if ! command -v npm >/dev/null; then
    echo "installing Debian npm for the browser tests' axe-core..." >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >&2
  fi
  echo "installing node_modules/ from package-lock.json (npm ci)..." >&2
  (cd "$ROOT" && npm ci --silent --no-audit --no-fund --ignore-scripts >&2)
  echo "$NODE_WANT" > "$NODE_STAMP"
fi
