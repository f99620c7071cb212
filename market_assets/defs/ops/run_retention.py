"""Instance upkeep: the run-retention job and its weekly schedule (operations/run_retention.py
says which runs go and why successful runs never do)."""

import datetime as dt

from dagster import OpExecutionContext, ScheduleDefinition, job, op

from market_assets.defs.status import schedule_status
from market_assets.operations.run_retention import prune_runs, retention_days


@op(description="Delete failed and canceled runs older than MARKET_ASSETS_RUN_RETENTION_DAYS.")
def prune_old_runs(context: OpExecutionContext) -> None:
    days = retention_days()
    if days is None:
        context.log.info("run retention is off (MARKET_ASSETS_RUN_RETENTION_DAYS=off)")
        return
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    report = prune_runs(context.instance, cutoff)
    context.log.info(
        f"deleted {report.deleted} failed/canceled runs last updated before {cutoff:%Y-%m-%d};"
        f" kept {report.kept_for_backfills} of backfills still running"
    )


@job(description="Instance upkeep: delete old failed and canceled runs (successful runs stay).")
def run_retention() -> None:
    prune_old_runs()


run_retention_schedule = ScheduleDefinition(
    name="weekly_run_retention",
    cron_schedule="0 4 * * 6",
    execution_timezone="UTC",
    job=run_retention,
    default_status=schedule_status(),
    description="Saturday 04:00 UTC, after the database maintenance.",
)
