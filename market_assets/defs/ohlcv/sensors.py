"""OHLCV sensors: new landing files, and the automation sensor that evaluates the assets'
conditions.

The landing sensor's cursor is the ledger table itself (each file version recorded once, in
the database), so a restart of the daemon never counts a file twice and never forgets one.
"""

from collections import defaultdict

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import plan_touched_runs
from market_assets.defs.ohlcv.jobs import ohlcv_job
from market_assets.defs.ohlcv.partitions import symbols
from market_assets.defs.status import sensor_status
from market_assets.ohlcv.landing_ledger import discover_new_files, partitions_of, record_files
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.base import SourceError


def landing_run_requests(
    touched: dict[str, set], registered: list[str], tag: str
) -> list[RunRequest]:
    """One run per session date and contiguous block of the symbols the files touch."""
    return [
        RunRequest(
            run_key=f"landing:{tag}:{window.start}:{window.first_symbol}",
            tags={**window.range_tags(), "market-assets/trigger": "landing"},
        )
        for window in plan_touched_runs(touched, registered)
    ]


@sensor(
    job=ohlcv_job,
    minimum_interval_seconds=60,
    default_status=sensor_status(),
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
    registered = list(context.instance.get_dynamic_partitions(SYMBOLS_PARTITIONS))
    new_symbols = sorted(s for s in touched if s not in registered)
    with postgres.transaction() as conn:
        record_files(conn, good, "processed")
        record_files(conn, bad, "rejected")
    tag = files[0].etag[:12]
    return SensorResult(
        run_requests=landing_run_requests(touched, registered + new_symbols, tag),
        dynamic_partitions_requests=[symbols.build_add_request(new_symbols)] if new_symbols else [],
    )


ohlcv_automation = AutomationConditionSensorDefinition(
    "ohlcv_automation",
    target=AssetSelection.all(),
    default_status=sensor_status(),
    minimum_interval_seconds=60,
    run_tags={"market-assets/trigger": "automation"},
    description="Evaluates the assets' automation conditions (db_bars, bar_rollups and "
    "bar_snapshots follow their parent; see market_assets.defs.ohlcv.automation).",
)
