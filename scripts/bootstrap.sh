#!/usr/bin/env bash
# Installs everything the project needs into .venv (and pglite/node_modules), from its own
# pinned files: constraints.txt for Python, package-lock.json for the TimescaleDB server.
# Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e '.[test,bench]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The TimescaleDB test server (PGlite + TimescaleDB in WASM) runs on node.
if command -v npm >/dev/null 2>&1; then
  if [ ! -d pglite/node_modules ] || [ pglite/package-lock.json -nt pglite/node_modules ]; then
    (cd pglite && npm ci --no-audit --no-fund --loglevel=error)
    touch pglite/node_modules
  fi
else
  echo "note: npm not found; the TimescaleDB tests will be skipped (they fail under CI=true)" >&2
fi
