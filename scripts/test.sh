#!/usr/bin/env bash
# The one test command (README, CI): install, lint, validate definitions, run the whole suite
# on embedded servers, then again against PostgreSQL/Redis on their usual local ports when
# they answer, then the extra passes (benchmarks at smoke size, asset checks).
set -uo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

bash scripts/bootstrap.sh || exit 1
if [ "$(id -u)" = "0" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  # Debian's chromium for the browser test (browsers cannot be downloaded by Playwright here).
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
    >/tmp/market-assets-apt.log 2>&1 || echo "note: chromium install failed (see /tmp/market-assets-apt.log)" >&2
fi
export PATH="$PWD/.venv/bin:$PATH"

status=0
step() { echo; echo "== $*"; }
run_pytest() {
  pytest "$@"
  local rc=$?
  # Exit code 5: no test was collected for this selection; not a failure of the suite.
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi
}

step "lint (ruff)"
ruff check . || status=1
ruff format --check . || status=1

step "import contracts (lint-imports: layers, pure core, no cycles; pyproject.toml)"
lint-imports || status=1

step "Dagster definitions load (dg check defs)"
dg_home="$(mktemp -d)"; printf 'telemetry:\n  enabled: false\n' > "$dg_home/dagster.yaml"
DAGSTER_HOME="$dg_home" VIRTUAL_ENV="$PWD/.venv" dg check defs || status=1

step "test suite on the embedded servers (PostgreSQL 18, Valkey, SeaweedFS, PGlite+TimescaleDB)"
# The embedded servers must be started by the fixtures, not borrowed from the environment.
env -u MARKET_ASSETS_TEST_PG_ADMIN_URL -u MARKET_ASSETS_TEST_REDIS_URL \
  -u MARKET_ASSETS_TEST_S3_ENDPOINT pytest -q -p no:cacheprovider --timeout=600 -rs \
  --durations=15 --junitxml=artifacts/pytest-junit.xml
rc=$?; if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status=1; fi

if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  step "integration tests against the local PostgreSQL and Redis (the versions users deploy)"
  MARKET_ASSETS_TEST_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:5432/postgres" \
  MARKET_ASSETS_TEST_REDIS_URL="redis://127.0.0.1:6379/15" \
    run_pytest -q -p no:cacheprovider -m "integration and not timescale" tests/integration \
      --ignore=tests/integration/test_devstack.py \
      --ignore=tests/integration/test_dev_environment.py \
      --ignore=tests/integration/test_operator_cli.py \
      --ignore=tests/integration/test_benchmarks_smoke.py
fi

step "asset checks from the shell on a small materialised range (market-assets check)"
check_home="$(mktemp -d)"
MARKET_ASSETS_HOME="$check_home" MARKET_ASSETS_RETENTION_M1=off \
  market-assets stack-run --seed-days 4 -- market-assets check \
    --start "$(date -u -d '4 days ago' +%F)" --end "$(date -u -d '1 day ago' +%F)" \
    --junit artifacts/checks-junit.xml || status=1
rm -rf "$check_home"

echo
echo "== done in $(( $(date +%s) - started )) s, status $status"
exit $status
