"""Sensors: new landing files, and run failures (open-source Dagster has no alerting).

The landing sensor's cursor is the ledger table itself (each file version recorded once, in
the database), so a restart of the daemon never counts a file twice and never forgets one.
"""

import json
import os
import urllib.request
from collections import defaultdict

from dagster import (
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from market_assets.backfill import plan_runs
from market_assets.collection_log import CollectionEntry, write_collection_log
from market_assets.jobs import ohlcv_job
from market_assets.landing import discover_new_files, partitions_of, record_files
from market_assets.partitions import symbols
from market_assets.schedules import AUTOMATION_ENV
from resources.errors import redact_url
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.base import SourceError

WEBHOOK_ENV = "MARKET_ASSETS_ALERT_WEBHOOK"


def _status() -> DefaultSensorStatus:
    off = os.environ.get(AUTOMATION_ENV, "").lower() in ("off", "0", "false")
    return DefaultSensorStatus.STOPPED if off else DefaultSensorStatus.RUNNING


def landing_run_requests(
    touched: dict[str, set], registered: list[str], tag: str
) -> list[RunRequest]:
    """One run per session date and contiguous block of the symbols the files touch."""
    by_date: dict = defaultdict(set)
    for symbol, dates in touched.items():
        for day in dates:
            by_date[day].add(symbol)
    requests = []
    for day in sorted(by_date):
        for window in plan_runs(day, day, sorted(by_date[day]), registered, 1):
            requests.append(
                RunRequest(
                    run_key=f"landing:{tag}:{day}:{window.first_symbol}",
                    tags={**window.range_tags(), "market-assets/trigger": "landing"},
                )
            )
    return requests


@sensor(
    job=ohlcv_job,
    minimum_interval_seconds=60,
    default_status=_status(),
    description="New or changed vendor files under landing/ trigger exactly their partitions.",
)
def landing_files_sensor(
    context: SensorEvaluationContext, s3: S3Resource, postgres: PostgresResource
) -> SensorResult | SkipReason:
    files = discover_new_files(s3, postgres)
    if not files:
        return SkipReason("no new landing files")
    touched: dict[str, set] = defaultdict(set)
    good, bad = [], []
    for f in files:
        try:
            for day, symbol in partitions_of(f):
                touched[symbol].add(day)
            good.append(f)
        except SourceError as exc:
            context.log.warning(str(exc))
            bad.append(f)
    registered = list(context.instance.get_dynamic_partitions(symbols.name or "symbols"))
    new_symbols = sorted(s for s in touched if s not in registered)
    with postgres.transaction() as conn:
        record_files(conn, good, "processed")
        record_files(conn, bad, "rejected")
    tag = files[0].etag[:12]
    return SensorResult(
        run_requests=landing_run_requests(touched, registered + new_symbols, tag),
        dynamic_partitions_requests=[symbols.build_add_request(new_symbols)] if new_symbols else [],
    )


@run_failure_sensor(
    default_status=_status(),
    description="Record failed runs in data_collection_log and post to a webhook if set.",
)
def run_failure_alert(context: RunFailureSensorContext, postgres: PostgresResource) -> None:
    run = context.dagster_run
    message = context.failure_event.message or "run failed"
    entry = CollectionEntry(
        asset=run.job_name,
        partition_key=run.tags.get("dagster/partition")
        or run.tags.get("dagster/asset_partition_range_start", ""),
        symbol="",
        session_date=None,  # type: ignore[arg-type]
        source="dagster",
        status="failed",
        error=message[:2000],
        run_id=run.run_id,
    )
    with postgres.transaction() as conn:
        write_collection_log(conn, [entry])
    url = os.environ.get(WEBHOOK_ENV)
    if url:
        body = json.dumps(
            {"text": f"market-assets run {run.run_id} ({run.job_name}) failed: {message[:300]}"}
        ).encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except OSError as exc:
            context.log.warning(f"alert webhook {redact_url(url)} failed: {exc}")


SENSORS = [landing_files_sensor, run_failure_alert]
