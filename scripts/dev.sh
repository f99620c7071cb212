#!/usr/bin/env bash
# The one run command (README): install, then start the whole stack and the Dagster UI.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/market-assets dev "$@"
