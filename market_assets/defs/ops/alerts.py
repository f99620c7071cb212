"""Alerts for failed runs and failed freshness checks (open-source Dagster has no alerting of
its own): each recorded in data_collection_log and posted to MARKET_ASSETS_ALERT_WEBHOOK."""

import datetime as dt
import json

from dagster import (
    AssetCheckEvaluation,
    DagsterEventType,
    EventRecordsFilter,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from market_assets.defs.status import sensor_status
from market_assets.operations.alerts import MAX_ALERT_CHARS, post_alert, record_failure
from resources.postgres import PostgresResource


@run_failure_sensor(
    default_status=sensor_status(),
    description="Record failed runs in data_collection_log and post to a webhook if set.",
)
def run_failure_alert(context: RunFailureSensorContext, postgres: PostgresResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    partition = run.tags.get("dagster/partition") or run.tags.get(
        "dagster/asset_partition_range_start", ""
    )
    record_failure(postgres, run.job_name, partition, message, run.run_id)
    post_alert(
        f"market-assets run {run.run_id} ({run.job_name}) failed: {message[:MAX_ALERT_CHARS]}",
        context.log,
    )


FRESHNESS_MARK = "freshness"
FRESHNESS_BATCH = 500
FIRST_TICK_LOOKBACK = dt.timedelta(days=1)


def is_freshness_check(check_name: str) -> bool:
    """`freshness_*` checks of the bars and the master's `sync_freshness`."""
    return FRESHNESS_MARK in check_name


def _evaluation_text(evaluation: AssetCheckEvaluation) -> str:
    asset = evaluation.asset_key.to_user_string()
    where = f" [{evaluation.partition}]" if evaluation.partition else ""
    detail = evaluation.description or ", ".join(
        f"{k}={getattr(v, 'value', v)}" for k, v in list(evaluation.metadata.items())[:5]
    )
    severity = evaluation.severity.value if evaluation.severity else "ERROR"
    return f"freshness check {asset}.{evaluation.check_name}{where} failed ({severity}): {detail}"


@sensor(
    minimum_interval_seconds=60,
    default_status=sensor_status(),
    description="Failed freshness check evaluations: recorded in data_collection_log and "
    "posted to MARKET_ASSETS_ALERT_WEBHOOK if set.",
)
def freshness_alert(
    context: SensorEvaluationContext, postgres: PostgresResource
) -> SensorResult | SkipReason:
    """Reads check evaluations from the event log after the last storage id handled, and
    alerts once per stale spell: a freshness check that fails is recorded and posted when it
    was not already failing, and is forgotten when it passes again. Freshness checks also run
    inside every OHLCV run (backfills included), so alerting on each failed evaluation would
    repeat one outage many times. The cursor holds the storage id and the failing checks; the
    first tick looks back one day only, so switching the sensor on does not replay old
    failures. Storage ids are a global order in the PostgreSQL event log that dagster.yaml
    configures; SQLite's run-sharded default has one sequence per run, so it is refused rather
    than read wrongly."""
    storage = context.instance.event_log_storage
    if storage.is_run_sharded:
        return SkipReason(
            "freshness alerts need a non-sharded event log (dagster.yaml: PostgreSQL)"
        )
    after_id, failing = _freshness_cursor(context.cursor)
    records = storage.get_event_records(
        EventRecordsFilter(
            event_type=DagsterEventType.ASSET_CHECK_EVALUATION,
            after_cursor=after_id,
            after_timestamp=None
            if after_id is not None
            else (dt.datetime.now(dt.UTC) - FIRST_TICK_LOOKBACK).timestamp(),
        ),
        limit=FRESHNESS_BATCH,
        ascending=True,
    )
    if not records:
        return SkipReason("no new check evaluation")
    alerts = 0
    for record in records:
        event = record.event_log_entry.dagster_event
        evaluation = event.event_specific_data if event else None
        if not isinstance(evaluation, AssetCheckEvaluation):
            continue
        if not is_freshness_check(evaluation.check_name):
            continue
        name = f"{evaluation.asset_key.to_user_string()}.{evaluation.check_name}"
        if evaluation.passed:
            failing.discard(name)
            continue
        if name in failing:
            continue  # the same stale spell, already alerted
        failing.add(name)
        text = _evaluation_text(evaluation)
        record_failure(
            postgres,
            evaluation.asset_key.to_user_string(),
            evaluation.partition or "",
            text,
            record.run_id,
        )
        post_alert(f"market-assets {text[:MAX_ALERT_CHARS]}", context.log)
        alerts += 1
    cursor = json.dumps({"after": records[-1].storage_id, "failing": sorted(failing)})
    if not alerts:
        return SensorResult(skip_reason=SkipReason("no new freshness failure"), cursor=cursor)
    return SensorResult(cursor=cursor)


def _freshness_cursor(cursor: str | None) -> tuple[int | None, set[str]]:
    """(storage id handled, checks failing); a bare integer is the cursor's first form."""
    if not cursor:
        return None, set()
    if cursor.isdigit():
        return int(cursor), set()
    state = json.loads(cursor)
    return int(state["after"]), set(state.get("failing", []))
