"""End to end: a backfill of 3 days x 2 symbols launched from the Dagster UI (issue 7).

What the browser (Debian's chromium, Playwright sync API) drives: it opens the ``raw_bars``
asset page, opens the ``ohlcv`` asset group, clicks "Materialize all…", types the date range
into the ``date`` dimension's range input, ticks USDJPY and EURUSD in the ``symbol``
dimension's selector and clicks "Launch backfill". After the runs finish it opens the
backfill page (overview and its runs) and the ``raw_bars`` Checks tab, and asserts there that
the backfill succeeded and that the six checks of ``raw_bars`` passed.

What GraphQL does (the webserver's API, from the test): find the backfill the UI created,
poll it until every run has finished (failing on a failed backfill or run), assert that it
launched 2 runs (the date range batched per symbol), and verify that the 6 partitions are
materialised by the backfill's runs for all four OHLCV assets and that each asset's checks
succeeded.

The stack is `market-assets dev` on a free port with schedules and sensors stopped (see
``conftest.py``), so the backfill's runs are the only runs. Screenshots go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PROJECT_ROOT, DevStack, browser_context, require_chromium, shot

LOCATION = "market_assets"
GROUP = "ohlcv"
ASSETS = ("raw_bars", "db_bars", "bar_rollups", "bar_snapshots")
RAW_BARS_CHECKS = (
    "expectation_suite",
    "ohlc_sanity",
    "row_count",
    "schema_contract",
    "session_continuity",
    "unique_symbol_timeframe_ts",
)
DATES = ("2024-03-11", "2024-03-12", "2024-03-13")
SYMBOLS = ("USDJPY", "EURUSD")
PARTITIONS = frozenset(f"{day}|{symbol}" for day in DATES for symbol in SYMBOLS)
EXPECTED_RUNS = len(SYMBOLS)  # 2
BACKFILL_TIMEOUT_S = 600.0
UI_TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

BACKFILLS_QUERY = """
{ partitionBackfillsOrError(limit: 10) {
    __typename
    ... on PartitionBackfills { results { id partitionNames assetSelection { path } } }
    ... on PythonError { message }
} }
"""
BACKFILL_QUERY = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status runs(limit: 100) { id status } }
    ... on PythonError { message }
  }
}
"""
ASSET_QUERY = """
query ($path: [String!]!, $partitions: [String!]) {
  assetOrError(assetKey: { path: $path }) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions) { partition runId }
      definition {
        assetChecksOrError {
          ... on AssetChecks {
            checks { name executionForLatestMaterialization { status runId } }
          }
        }
      }
    }
  }
}
"""

# Every evaluation of a check, newest first: with the backfill's runs overlapping, Dagster's
# `executionForLatestMaterialization` is None when the latest materialization came from one run
# and the latest evaluation from the other (each evaluation targets its own run's event), so the
# test asks instead that each of the backfill's runs evaluated the check and it succeeded.
CHECK_EXECUTIONS_QUERY = """
query ($path: [String!]!, $name: String!) {
  assetCheckExecutions(assetKey: { path: $path }, checkName: $name, limit: 50) {
    runId status
  }
}
"""


@pytest.fixture(scope="module", autouse=True)
def _require_chromium() -> None:
    require_chromium()


@pytest.fixture
def page() -> Iterator[Any]:
    with browser_context({"width": 1600, "height": 1000}, UI_TIMEOUT_MS) as context:
        yield context.new_page()


def _backfills(stack: DevStack) -> list[dict[str, Any]]:
    result = stack.graphql(BACKFILLS_QUERY)["partitionBackfillsOrError"]
    assert result["__typename"] == "PartitionBackfills", result
    return result["results"]


def _launch_backfill_in_ui(stack: DevStack, page: Any) -> None:
    """Asset page, then the group's "Materialize all…" dialog: date range, symbols, launch."""
    from playwright.sync_api import expect

    page.goto(f"{stack.base_url}/assets/raw_bars", wait_until="domcontentloaded")
    expect(page.get_by_role("button", name="Materialize…")).to_be_visible()
    expect(page.get_by_text("Base-timeframe bars per session")).to_be_visible()
    shot(page, "01_asset_raw_bars")

    page.goto(
        f"{stack.base_url}/locations/{LOCATION}/asset-groups/{GROUP}",
        wait_until="domcontentloaded",
    )
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize 4 assets")
    expect(dialog).to_be_visible()

    date_input = dialog.get_by_placeholder("ex: 2020-01-01", exact=False)
    date_input.fill(f"[{DATES[0]}...{DATES[-1]}]")
    date_input.press("Enter")

    dialog.get_by_text("Select a partition or create one").click()
    picker = page.get_by_role("dialog").filter(has=page.get_by_placeholder("Filter partitions"))
    for symbol in SYMBOLS:
        picker.get_by_placeholder("Filter partitions").fill(symbol)
        item = picker.get_by_role("menuitem").filter(has=page.get_by_title(symbol, exact=True))
        item.click()
        expect(item.locator("input[type=checkbox]")).to_be_checked()
    # Close the symbol picker by clicking the dialog's title (Escape would close the dialog).
    dialog.get_by_text("Launch runs to materialize").click()
    expect(picker).to_have_count(0)

    expect(dialog.get_by_text(f"{len(PARTITIONS)} partitions", exact=True)).to_be_visible()
    shot(page, "02_backfill_dialog")
    dialog.get_by_role("button", name="Launch backfill").click()
    expect(dialog).to_have_count(0, timeout=120_000)


def _wait_for_backfill(stack: DevStack, backfill_id: str) -> list[dict[str, Any]]:
    """Poll until the backfill completes; fail at once on a failed backfill or run."""
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        last = stack.graphql(BACKFILL_QUERY, {"id": backfill_id})["partitionBackfillOrError"]
        assert last["__typename"] == "PartitionBackfill", last
        runs = last["runs"]
        bad = [
            f"{run['id']} {run['status']}"
            for run in runs
            if run["status"] in {"FAILURE", "CANCELED"}
        ]
        if bad or last["status"] in {"FAILED", "FAILING", "CANCELED", "CANCELING"}:
            pytest.fail(
                f"backfill {backfill_id} is {last['status']}; runs: {bad or runs}\n"
                f"{stack.log_tail()}"
            )
        if last["status"] in {"COMPLETED", "COMPLETED_SUCCESS"}:
            assert runs and all(run["status"] == "SUCCESS" for run in runs), runs
            return runs
        time.sleep(3)
    pytest.fail(f"backfill {backfill_id} not done after {BACKFILL_TIMEOUT_S:.0f} s: {last}")


def _status_in_runs(stack: DevStack, asset: str, check: str, run_ids: set[str]) -> str:
    """SUCCEEDED when every one of the runs evaluated the check and it succeeded, else what
    those runs' evaluations were (missing runs named)."""
    result = stack.graphql(CHECK_EXECUTIONS_QUERY, {"path": [asset], "name": check})
    by_run = {e["runId"]: e["status"] for e in reversed(result["assetCheckExecutions"])}
    seen = {run: by_run.get(run, "MISSING") for run in sorted(run_ids)}
    return "SUCCEEDED" if set(seen.values()) == {"SUCCEEDED"} else str(seen)


def _assert_materialized_and_checked(stack: DevStack, run_ids: set[str]) -> None:
    for asset in ASSETS:
        result = stack.graphql(ASSET_QUERY, {"path": [asset], "partitions": sorted(PARTITIONS)})
        node = result["assetOrError"]
        assert node["__typename"] == "Asset", node
        materialized = {
            event["partition"]
            for event in node["assetMaterializations"]
            if event["runId"] in run_ids
        }
        assert materialized == PARTITIONS, f"{asset}: materialized {sorted(materialized)}"
        checks = node["definition"]["assetChecksOrError"]["checks"]
        assert checks, f"{asset} has no asset checks"
        statuses = {
            check["name"]: _status_in_runs(stack, asset, check["name"], run_ids)
            for check in checks
            if not check["name"].startswith("freshness")  # 2024 data is stale by today's clock
        }
        assert all(status == "SUCCEEDED" for status in statuses.values()), (asset, statuses)
        if asset == "raw_bars":
            assert set(RAW_BARS_CHECKS) <= set(statuses), statuses


def test_ui_backfill_three_days_two_symbols(dev_stack: DevStack, page: Any) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()
    assert _backfills(dev_stack) == [], "the fresh stack already has a backfill"
    try:
        _launch_backfill_in_ui(dev_stack, page)

        backfills = _backfills(dev_stack)
        assert len(backfills) == 1, backfills
        backfill = backfills[0]
        assert set(backfill["partitionNames"]) == PARTITIONS, backfill["partitionNames"]
        assert {tuple(key["path"]) for key in backfill["assetSelection"]} == {
            (asset,) for asset in ASSETS
        }
        backfill_id = backfill["id"]

        runs = _wait_for_backfill(dev_stack, backfill_id)
        run_ids = {run["id"] for run in runs}
        print(f"backfill {backfill_id}: {len(runs)} runs, all SUCCESS: {sorted(run_ids)}")
        # BackfillPolicy.multi_run(1000) batches the date range per symbol: one run per
        # symbol (the README's "3 days x 2 symbols launched 2 runs"), not one per partition.
        assert len(runs) == len(run_ids) == EXPECTED_RUNS, runs

        page.goto(f"{dev_stack.base_url}/runs/b/{backfill_id}", wait_until="domcontentloaded")
        expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
        expect(page.get_by_text("100% completed")).to_have_count(len(ASSETS))
        shot(page, "03_backfill_done")
        page.goto(
            f"{dev_stack.base_url}/runs/b/{backfill_id}?tab=runs", wait_until="domcontentloaded"
        )
        for run_id in run_ids:
            expect(page.get_by_text(run_id[:8]).first).to_be_visible()
        expect(page.get_by_text("Success", exact=True)).to_have_count(len(run_ids))
        shot(page, "04_backfill_runs")

        page.goto(
            f"{dev_stack.base_url}/assets/raw_bars?view=checks", wait_until="domcontentloaded"
        )
        expect(page.get_by_text(f"Checks ({len(RAW_BARS_CHECKS)})")).to_be_visible()
        for check in RAW_BARS_CHECKS:
            expect(page.get_by_text(check, exact=True).first).to_be_visible()
        expect(page.get_by_text("Succeeded", exact=True)).to_have_count(len(RAW_BARS_CHECKS))
        page.get_by_text("schema_contract", exact=True).first.click()
        expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
        shot(page, "05_asset_checks_raw_bars")

        # The asset's page shows the bar contract's columns (dagster/column_schema in the
        # definition) and the partition's row count (dagster/row_count of its materialization).
        page.goto(
            f"{dev_stack.base_url}/assets/raw_bars?view=overview", wait_until="domcontentloaded"
        )
        expect(page.get_by_text("adj_factor", exact=True).first).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        expect(page.get_by_text("session_date", exact=True).first).to_be_visible()
        expect(page.get_by_text("Row count", exact=False).first).to_be_visible()
        shot(page, "06_asset_overview_schema_rows")
    except BaseException:
        with contextlib.suppress(Exception):
            shot(page, "failure")
        raise

    _assert_materialized_and_checked(dev_stack, run_ids)
    print(f"UI backfill end to end in {time.monotonic() - started:.0f} s")


def test_the_terminal_backfill_goes_through_the_daemon(dev_stack: DevStack) -> None:
    """`market-assets backfill` from a second terminal (no variable set, the stack found by its
    state folder) submits the same backfill object the dialog creates; the daemon runs it."""
    import subprocess
    import sys

    home = dev_stack.log_path.parent / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MARKET_ASSETS_", "DAGSTER_", "AWS_"))
    }
    env["MARKET_ASSETS_HOME"] = str(home)
    before = {b["id"] for b in _backfills(dev_stack)}
    cli = Path(sys.executable).with_name("market-assets")
    done = subprocess.run(
        [str(cli), "backfill", "--start", "2024-03-18", "--end", "2024-03-19", "-s", "USDJPY"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=BACKFILL_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submitted to the daemon" in done.stdout and "COMPLETED_SUCCESS" in done.stdout
    new = [b for b in _backfills(dev_stack) if b["id"] not in before]
    assert len(new) == 1
    assert sorted(new[0]["partitionNames"]) == ["2024-03-18|USDJPY", "2024-03-19|USDJPY"]
    assert {tuple(a["path"]) for a in new[0]["assetSelection"]} == {(a,) for a in ASSETS}
    runs = _wait_for_backfill(dev_stack, new[0]["id"])
    assert runs and all(run["status"] == "SUCCESS" for run in runs)
