"""Run retention for the Dagster instance: old failed and canceled runs are deleted.

Dagster's `retention:` settings in dagster.yaml cover schedule and sensor ticks only; runs and
their events stay forever, and a UI backfill of 3,650 partitions writes about 30,000 event
rows. Which runs may go, and why only those:

- **Failed and canceled runs** older than the retention (`MARKET_ASSETS_RUN_RETENTION_DAYS`,
  default 30 days; `off` keeps everything): their failure is in the alerts already sent and in
  `data_quality_metrics`; a later run has materialised their partitions or the operator chose
  not to. A run of a backfill that is still in progress is kept, since the backfill daemon
  reads its runs' outcomes.
- **Successful runs are never deleted.** Their materialization events are each partition's
  history: Dagster computes a partition's status from them, so deleting an old run would make
  its partitions read as missing, and the automation conditions would rebuild them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import BACKFILL_ID_TAG

from market_assets.core import settings as s

PRUNABLE = [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
_BACKFILL_RUNNING = {BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING}
#: Runs looked at per call: a first pruning of a long-lived instance is done in a few calls.
BATCH = 500


class RunRetentionError(ValueError):
    """The retention setting cannot be read."""


def retention_days(environ: Mapping[str, str] = os.environ) -> int | None:
    """Days failed/canceled runs are kept, or None when retention is off."""
    raw = environ.get(s.RUN_RETENTION_DAYS, "").strip().lower()
    if not raw:
        return s.DEFAULT_RUN_RETENTION_DAYS
    if raw == "off":
        return None
    try:
        days = int(raw)
    except ValueError:
        raise RunRetentionError(
            f"{s.RUN_RETENTION_DAYS} must be a number of days or 'off', got {raw[:20]!r}"
        ) from None
    if days < 1:
        raise RunRetentionError(f"{s.RUN_RETENTION_DAYS} must be at least 1 day, got {days}")
    return days


@dataclass(frozen=True)
class PruneReport:
    deleted: int
    kept_for_backfills: int
    cutoff: dt.datetime


def prune_runs(instance: DagsterInstance, cutoff: dt.datetime, limit: int = BATCH) -> PruneReport:
    """Delete failed/canceled runs last updated before `cutoff` (their events go with them)."""
    records = instance.get_run_records(
        RunsFilter(statuses=PRUNABLE, updated_before=cutoff), limit=limit, ascending=True
    )
    running_backfills: dict[str, bool] = {}
    deleted = kept = 0
    for record in records:
        backfill_id = record.dagster_run.tags.get(BACKFILL_ID_TAG)
        if backfill_id is not None:
            if backfill_id not in running_backfills:
                backfill = instance.get_backfill(backfill_id)
                running_backfills[backfill_id] = (
                    backfill is not None and backfill.status in _BACKFILL_RUNNING
                )
            if running_backfills[backfill_id]:
                kept += 1
                continue
        instance.delete_run(record.dagster_run.run_id)
        deleted += 1
    return PruneReport(deleted=deleted, kept_for_backfills=kept, cutoff=cutoff)
