"""A backfill the daemon runs: the object the UI's backfill dialog creates, from a terminal.

The in-process backfill (operations/backfill.py) skips the run queue: its runs ignore the
`dagster/backfill` concurrency limit that keeps the daily schedules from starving, and its
process must stay up until the end. This one adds a `PartitionBackfill` to the instance as the
UI's `launchPartitionBackfill` mutation does (same asset selection, partition names of the
date range x symbols, Dagster's own planning into runs), and the daemon launches, queues,
retries and records it; `wait` follows it and reports progress. The caller passes the asset
graph (the CLI takes it from the code location), so this service imports no definitions.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dagster import AssetKey, DagsterInstance, RunsFilter
from dagster._core.definitions.assets.graph.base_asset_graph import BaseAssetGraph
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from dagster._core.storage.tags import BACKFILL_ID_TAG
from dagster._core.utils import make_new_backfill_id

from market_assets.core.partition_keys import partition_key
from market_assets.operations.backfill import register_symbols
from market_assets.operations.progress import ProgressFn, Step, report

DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}
SUCCEEDED = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS}


def partition_names(start: dt.date, end: dt.date, symbols: Sequence[str]) -> list[str]:
    """Every date key of the range x the symbols: what the dialog sends for that selection."""
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return [partition_key(day, symbol) for day in days for symbol in symbols]


def daemon_is_live(instance: DagsterInstance) -> bool:
    """The instance's backfill daemon sent a heartbeat recently (errors or not)."""
    from dagster._daemon.controller import get_daemon_statuses

    statuses = get_daemon_statuses(instance, ["BACKFILL"], ignore_errors=True)
    status = statuses.get("BACKFILL")
    return bool(status and status.healthy)


def submit_backfill(
    instance: DagsterInstance,
    asset_graph: BaseAssetGraph,
    asset_names: Sequence[str],
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    tags: dict[str, str] | None = None,
) -> str:
    """Register the symbols, add the backfill for the daemon; returns its id."""
    register_symbols(instance, chosen)
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_asset_partitions(
        backfill_id=backfill_id,
        asset_graph=asset_graph,
        partition_names=partition_names(start, end, chosen),
        asset_selection=[AssetKey(name) for name in asset_names],
        backfill_timestamp=time.time(),
        tags={"market-assets/trigger": "cli-backfill", **(tags or {})},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title=f"market-assets backfill {start}..{end} x {len(chosen)} symbols",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


@dataclass(frozen=True)
class BackfillOutcome:
    backfill_id: str
    status: BulkActionStatus
    runs: int

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCEEDED


def _partitions_done(backfill: PartitionBackfill) -> tuple[int, int]:
    """(materialised, targeted) partitions of the backfill's first asset by name."""
    data = backfill.asset_backfill_data
    if data is None or not data.target_subset.asset_keys:
        return 0, 0
    anchor = min(data.target_subset.asset_keys, key=lambda k: k.to_user_string())
    total = len(data.target_subset.get_partitions_subset(anchor))
    if anchor not in data.materialized_subset.asset_keys:
        return 0, total
    return len(data.materialized_subset.get_partitions_subset(anchor)), total


def wait_for_backfill(
    instance: DagsterInstance,
    backfill_id: str,
    progress: ProgressFn | None = None,
    *,
    poll_s: float = 2.0,
    timeout_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillOutcome:
    """Follow the backfill until the daemon finishes it; a Step each time more partitions of
    one of its assets (the first by name: every asset has the same partitions) are done."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    reported = -1
    while True:
        backfill = instance.get_backfill(backfill_id)
        if backfill is None:
            raise LookupError(f"backfill {backfill_id} is not in the instance")
        done, total = _partitions_done(backfill)
        if done != reported:
            report(progress, Step(backfill.status.value.lower(), done - max(reported, 0), total))
            reported = done
        if backfill.status in DONE:
            runs = len(instance.get_run_ids(RunsFilter(tags={BACKFILL_ID_TAG: backfill_id})))
            return BackfillOutcome(backfill_id, backfill.status, runs)
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"backfill {backfill_id} still {backfill.status.value}")
        sleep(poll_s)
