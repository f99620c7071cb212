"""OHLCV sensors: new landing files, and the automation sensor that evaluates the assets'
conditions.

The landing sensor's cursor is the ledger table itself (each file version recorded once, in
the database), so a restart of the daemon never counts a file twice and never forgets one.
"""

from collections import defaultdict

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DynamicPartitionsDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from market_assets.core.families import Family
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import plan_touched_periods, plan_touched_runs
from market_assets.defs.ohlcv.daily_family import daily_job
from market_assets.defs.ohlcv.declared_families import DECLARED, DECLARED_JOBS
from market_assets.defs.ohlcv.jobs import ohlcv_job
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY, daily_symbols, symbols
from market_assets.defs.status import sensor_status
from market_assets.masters.registration import symbols_set_of
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
            job_name=ohlcv_job.name,
            tags={**window.range_tags(), "market-assets/trigger": "landing"},
        )
        for window in plan_touched_runs(touched, registered)
    ]


# The families whose runs are periods of their grain: symbols set -> (family, job name).
PERIOD_FAMILIES: dict[str, tuple[Family, str]] = {
    DAILY_FAMILY.symbols_set: (DAILY_FAMILY, daily_job.name),
    **{b.family.symbols_set: (b.family, b.job.name) for b in DECLARED.values()},
}
SETS: dict[str, DynamicPartitionsDefinition] = {
    SYMBOLS_PARTITIONS: symbols,
    DAILY_FAMILY.symbols_set: daily_symbols,
}


@sensor(
    jobs=[ohlcv_job, daily_job, *DECLARED_JOBS],
    minimum_interval_seconds=60,
    default_status=sensor_status(),
    description="New or changed vendor files under landing/ trigger exactly their partitions,"
    " in the family of each symbol's base (a daily file: its years x symbols).",
)
def landing_files_sensor(
    context: SensorEvaluationContext, s3: S3Resource, postgres: PostgresResource
) -> SensorResult | SkipReason:
    files = discover_new_files(s3, postgres)
    if not files:
        return SkipReason("no new landing files")
    touched: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    good, bad = [], []
    for f in files:
        try:
            for day, symbol in partitions_of(f):
                touched[symbols_set_of(symbol)][symbol].add(day)
            good.append(f)
        except SourceError as exc:
            context.log.warning(str(exc))
            bad.append(f)
    with postgres.transaction() as conn:
        record_files(conn, good, "processed")
        record_files(conn, bad, "rejected")
    tag = files[0].etag[:12]
    requests: list[RunRequest] = []
    adds = []
    for name in sorted(touched, key=lambda n: (n != SYMBOLS_PARTITIONS, n)):
        registered = list(context.instance.get_dynamic_partitions(name))
        new_symbols = sorted(s for s in touched[name] if s not in registered)
        if new_symbols:
            set_def = SETS.get(name) or DynamicPartitionsDefinition(name=name)
            adds.append(set_def.build_add_request(new_symbols))
        if name == SYMBOLS_PARTITIONS:
            requests += landing_run_requests(touched[name], registered + new_symbols, tag)
        else:
            family, job_name = PERIOD_FAMILIES[name]
            requests += period_landing_run_requests(
                family, job_name, touched[name], registered + new_symbols, tag
            )
    return SensorResult(run_requests=requests, dynamic_partitions_requests=adds)


def period_landing_run_requests(
    family: Family, job_name: str, touched: dict[str, set], registered: list[str], tag: str
) -> list[RunRequest]:
    """One run of a family's job per date key and contiguous block of the symbols the files
    touch (the daily family's years, a declared family's months or days)."""
    return [
        RunRequest(
            run_key=f"landing:{tag}:{family.date_key(window.start)}:{window.first_symbol}",
            job_name=job_name,
            tags={**window.range_tags(family), "market-assets/trigger": "landing"},
        )
        for window in plan_touched_periods(family, touched, registered)
    ]


def daily_landing_run_requests(
    touched: dict[str, set], registered: list[str], tag: str
) -> list[RunRequest]:
    """One daily-family run per year and contiguous block of the symbols the files touch."""
    return period_landing_run_requests(DAILY_FAMILY, daily_job.name, touched, registered, tag)


ohlcv_automation = AutomationConditionSensorDefinition(
    "ohlcv_automation",
    target=AssetSelection.all(),
    default_status=sensor_status(),
    minimum_interval_seconds=60,
    run_tags={"market-assets/trigger": "automation"},
    description="Evaluates the assets' automation conditions (db_bars, bar_rollups and "
    "bar_snapshots follow their parent; see market_assets.defs.ohlcv.automation).",
)
