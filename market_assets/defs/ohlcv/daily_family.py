"""The daily family's assets: D1, W1 and MN1 bases by year x symbol (core/families.py).

Three assets, sharing the intraday family's services and tables: `daily_raw_bars` (S3, one
object per year and symbol, `ohlcv/timeframe=D1/year=2004/symbol=X/bars.parquet`),
`daily_db_bars` (the same `ohlcv_bars` table) and `daily_snapshots` (Redis). No rollups asset:
a daily base's W1 and MN1 are views over `ohlcv_daily` UNION the D1-base rows (migration 0010),
so nothing is refreshed. A run's year keys expand to the sessions of those years on each
symbol's calendar up to today (`Family.expand_keys`): the services work on those sessions as
they do on the intraday family's days, and a year before a symbol's first session holds no
session, so it is skipped, never failed. Checks are the intraday family's, per session,
reported on these assets.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    Failure,
    MaterializeResult,
    MetadataValue,
    define_asset_job,
)

from market_assets.core import names
from market_assets.core.listing import ListedParts, clip_periods
from market_assets.core.partition_keys import BarPartition
from market_assets.core.settings import StoreSettings
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import Instrument, UnknownSymbolError, default_universe
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.automation import FOLLOW_PARENT
from market_assets.defs.ohlcv.checks import (
    RAW_SPECS,
    RECONCILIATION_SPEC,
    SNAPSHOT_SPEC,
    raw_bars_results,
    reconciliation_results,
    snapshot_results,
)
from market_assets.defs.ohlcv.partition_metadata import add_per_partition
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY, daily_bar_partitions
from market_assets.defs.ohlcv.raw_bars import batch_metadata, skipped_figures, skipped_result
from market_assets.defs.ohlcv.selection import materializing, selected_checks
from market_assets.ohlcv.bar_reads import RELATIONS
from market_assets.ohlcv.collect import PartitionOutcome, collect_raw_bars
from market_assets.ohlcv.load import load_db_bars
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.snapshots import DEFAULT_BARS
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource

GROUP = "ohlcv_daily"
DAILY_RAW_BARS = AssetKey(names.DAILY_RAW_BARS)
DAILY_DB_BARS = AssetKey(names.DAILY_DB_BARS)
DAILY_SNAPSHOTS = AssetKey(names.DAILY_SNAPSHOTS)


def _specs_for(specs: Iterable[AssetCheckSpec], key: AssetKey) -> list[AssetCheckSpec]:
    """The intraday family's checks, on this family's asset."""
    return [
        AssetCheckSpec(s.name, asset=key, blocking=s.blocking, description=s.description)
        for s in specs
    ]


def _on(key: AssetKey, results: Iterable[AssetCheckResult]) -> Iterator[AssetCheckResult]:
    """Check results the shared evaluators report on the intraday asset, moved to `key`."""
    for r in results:
        yield AssetCheckResult(
            asset_key=key,
            check_name=r.check_name,
            passed=r.passed,
            severity=r.severity,
            metadata=r.metadata,
        )


def daily_run_sessions(context: AssetExecutionContext) -> list[BarPartition]:
    """The sessions of the run's year x symbol range, up to today (UTC), inside each symbol's
    listing window."""
    return daily_run_listed(context).parts


def daily_run_listed(context: AssetExecutionContext) -> ListedParts:
    """The run's sessions (`daily_run_sessions`) and its years skipped whole, with why."""
    if not (context.has_partition_key or context.has_partition_key_range):
        raise Failure(description="this step works on the year x symbol partitions of its run")
    keys = daily_bar_partitions.get_partition_keys_in_range(
        context.partition_key_range, dynamic_partitions_store=context.instance
    )
    universe = default_universe()

    def instrument_of(symbol: str) -> Instrument:
        try:
            return universe.resolve(symbol)
        except UnknownSymbolError as exc:
            raise Failure(description=str(exc)) from None

    today = dt.datetime.now(dt.UTC).date()
    return clip_periods(DAILY_FAMILY, keys, instrument_of, until=today)


def year_metadata(outcomes: list[PartitionOutcome]) -> dict[str, dict[str, MetadataValue]]:
    """Each year partition's own figures: rows written and sessions held back, summed; a
    year with sessions before the symbol's first data counts them and, when that is all it
    holds, says so (`skipped`)."""
    rows: dict[str, int] = defaultdict(int)
    held: dict[str, int] = defaultdict(int)
    skipped: dict[str, list[str]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for o in outcomes:
        key = DAILY_FAMILY.key_of(o.partition)
        rows[key] += o.entry.rows_written
        held[key] += int(o.held_back)
        total[key] += 1
        if o.skipped:
            skipped[key].append(o.skipped)
    meta = {}
    for k in rows:
        figures = {"sessions_held_back": held[k]}
        if skipped[k]:
            figures["sessions_skipped"] = len(skipped[k])
        meta[k] = md.partition_rows(rows[k], **figures)
        if skipped[k] and len(skipped[k]) == total[k]:
            meta[k].update(md.skipped(skipped[k][0]))
    return meta


@ohlcv_asset(
    DAILY_RAW_BARS,
    description="""D1, W1 and MN1 base bars per year and symbol, as Parquet (zstd) in S3, one
object per partition at `<bucket>/<prefix>ohlcv/timeframe=<TF>/year=<YYYY>/symbol=<SYMBOL>/
bars.parquet`; a run rewrites the year's sessions it fetched over the object's others.""",
    kinds={"s3", "parquet"},
    check_specs=_specs_for(RAW_SPECS, DAILY_RAW_BARS),
    metadata=md.bar_table_definition(),
    partitions_def=daily_bar_partitions,
    group_name=GROUP,
)
def daily_raw_bars(
    context: AssetExecutionContext,
    sources: BarSourcesResource,
    s3: S3Resource,
    postgres: PostgresResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    listed = daily_run_listed(context)
    parts = listed.parts
    if materializing(context, DAILY_RAW_BARS) and listed.skipped and not parts:
        yield skipped_result(context, DAILY_RAW_BARS, listed.skipped)
    elif materializing(context, DAILY_RAW_BARS):
        result = collect_raw_bars(parts, sources, s3, postgres, context.run_id)
        for key in result.rejected_files:
            context.log.warning(f"landing file {key} rejected (see landing_files); skipped")
        keys = [s3.full_key(o.object_key) for o in result.outcomes if o.object_key]
        meta = batch_metadata(result.outcomes, s3.bucket, sorted(set(keys)))
        if result.held and len(result.held) == len(result.outcomes):
            raise Failure(
                description=f"every session of this run was held back ({len(result.held)})",
                metadata=meta,
            )
        for o in result.held:
            context.log.warning(f"held back {o.entry.partition_key}: {o.entry.error}")
        per_year = year_metadata(result.outcomes)
        per_year.update({key: md.skipped(reason) for key, reason in listed.skipped.items()})
        meta.update(skipped_figures(listed.skipped, result.outcomes))
        meta.update(add_per_partition(context, DAILY_RAW_BARS, per_year))
        yield MaterializeResult(asset_key=DAILY_RAW_BARS, metadata=meta)
        before_first = {o.partition for o in result.outcomes if o.skipped}
        parts = [p for p in parts if p not in before_first]  # nothing to check there
    checks = selected_checks(context, DAILY_RAW_BARS)
    yield from _on(
        DAILY_RAW_BARS,
        raw_bars_results(checks, parts, s3, postgres, context.run_id, context.log.exception),
    )


@ohlcv_asset(
    DAILY_DB_BARS,
    description=f"""D1, W1 and MN1 base bars in `<schema>.{RELATIONS[Timeframe.M1]}`
(the intraday family's table), each year's sessions replaced in one transaction from its S3
object.""",
    kinds={"postgres", "timescale"},
    check_specs=_specs_for([RECONCILIATION_SPEC], DAILY_DB_BARS),
    metadata=md.bar_table_definition(
        md.qualified(StoreSettings.from_env().pg_schema, RELATIONS[Timeframe.M1])
    ),
    deps=[DAILY_RAW_BARS],
    automation_condition=FOLLOW_PARENT,
    partitions_def=daily_bar_partitions,
    group_name=GROUP,
)
def daily_db_bars(
    context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    parts = daily_run_sessions(context)
    if materializing(context, DAILY_DB_BARS):
        outcome = load_db_bars(parts, s3, postgres, context.run_id)
        for part in outcome.held:
            context.log.warning(f"not loading {part.key}: daily_raw_bars held it back")
        figures = {
            **outcome.figures,
            "partitions_loaded": len(outcome.loaded),
            "partitions_held_back": len(outcome.held),
        }
        yield MaterializeResult(asset_key=DAILY_DB_BARS, metadata=md.batch_figures(figures))
    checks = selected_checks(context, DAILY_DB_BARS)
    yield from _on(
        DAILY_DB_BARS, reconciliation_results(checks, parts, s3, postgres, context.run_id)
    )


@ohlcv_asset(
    DAILY_SNAPSHOTS,
    description=f"""The latest {DEFAULT_BARS} bars per daily-base symbol and timeframe (its
base and coarser) in Redis, as the intraday family's bar_snapshots publishes them.""",
    kinds={"redis"},
    check_specs=_specs_for([SNAPSHOT_SPEC], DAILY_SNAPSHOTS),
    deps=[DAILY_DB_BARS],
    automation_condition=FOLLOW_PARENT,
    partitions_def=daily_bar_partitions,
    group_name=GROUP,
)
def daily_snapshots(
    context: AssetExecutionContext, postgres: PostgresResource, redis: RedisResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    parts = daily_run_sessions(context)
    if materializing(context, DAILY_SNAPSHOTS):
        symbols = sorted({p.symbol for p in parts})
        figures = publish_symbols(postgres, redis, symbols, DEFAULT_BARS)
        yield MaterializeResult(asset_key=DAILY_SNAPSHOTS, metadata=md.batch_figures(figures))
    checks = selected_checks(context, DAILY_SNAPSHOTS)
    yield from _on(
        DAILY_SNAPSHOTS, snapshot_results(checks, parts, postgres, redis, context.run_id)
    )


DAILY_ASSETS = [daily_raw_bars, daily_db_bars, daily_snapshots]
daily_job = define_asset_job(
    "ohlcv_daily_family",
    selection=AssetSelection.assets(*DAILY_ASSETS),
    partitions_def=daily_bar_partitions,
    description="Every daily-family asset (and its checks) for a batch of year x symbol"
    " partitions.",
)
