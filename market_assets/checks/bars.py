"""Asset checks on the OHLCV family, evaluated over the run's partitions (one or a batch).

The raw-bar checks that guard correctness (contract, OHLC sanity, uniqueness) are blocking:
when they fail, nothing downstream runs in that run. Continuity against the calendar is a
warning, because a vendor's missing minutes (quarantined or never sent) must not hold back
the good partitions of a batch; those partitions are already gated inside the assets.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    MetadataValue,
    asset_check,
    multi_asset_check,
)

from market_assets.assets.bar_rollups import bar_rollups
from market_assets.assets.bar_snapshots import bar_snapshots
from market_assets.assets.db_bars import db_bars
from market_assets.assets.raw_bars import raw_bars
from market_assets.checks.evaluation import (
    CheckOutcome,
    check_continuity,
    check_contract,
    check_d1_rollup,
    check_ohlc_sanity,
    check_s3_db_reconciliation,
    check_snapshot_reconciliation,
    check_unique,
    load_batch,
    record_metrics,
)
from market_assets.partitions import BarPartition, parse_partitions
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource

RAW_SPECS = [
    AssetCheckSpec(
        "schema_contract",
        asset=raw_bars,
        blocking=True,
        description="Types, nullability and OHLC invariants (pandera contract).",
    ),
    AssetCheckSpec(
        "ohlc_sanity",
        asset=raw_bars,
        blocking=True,
        description="low <= open, close <= high; prices > 0 and finite; volume >= 0.",
    ),
    AssetCheckSpec(
        "unique_symbol_timeframe_ts",
        asset=raw_bars,
        blocking=True,
        description="No two bars share (symbol, timeframe, ts).",
    ),
    AssetCheckSpec(
        "session_continuity",
        asset=raw_bars,
        description="No missing M1 bar inside a session, none outside (warning).",
    ),
]


def _parts(context: AssetCheckExecutionContext) -> list[BarPartition]:
    return parse_partitions(context.op_execution_context.partition_keys)


def _result(outcome: CheckOutcome) -> AssetCheckResult:
    metadata = {k: MetadataValue.text(str(v)) for k, v in outcome.figures.items()}
    if outcome.failures:
        metadata["first_failures"] = MetadataValue.md(
            "\n".join(f"- {line}" for line in outcome.failures[:10])
        )
    return AssetCheckResult(
        asset_key=outcome.asset,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity(outcome.severity),
        metadata=metadata,
    )


def _recorded(
    context: AssetCheckExecutionContext,
    postgres: PostgresResource,
    parts: list[BarPartition],
    outcome: CheckOutcome,
) -> AssetCheckResult:
    """Write the evaluation to data_quality_metrics, then report it to Dagster."""
    record_metrics(postgres, [outcome], context.run.run_id, parts)
    return _result(outcome)


@multi_asset_check(specs=RAW_SPECS, description="Raw bars in S3, checked once per batch.")
def raw_bars_checks(
    context: AssetCheckExecutionContext, s3: S3Resource, postgres: PostgresResource
) -> Iterator[AssetCheckResult]:
    parts = _parts(context)
    batch = load_batch(s3, parts)
    outcomes = [check_contract(batch), check_ohlc_sanity(batch), check_unique(batch)]
    continuity = check_continuity(batch)
    continuity.severity = "WARN"
    outcomes.append(continuity)
    record_metrics(postgres, outcomes, context.run.run_id, parts)
    yield from (_result(o) for o in outcomes)


@asset_check(asset=db_bars, blocking=True, description="Same rows in S3 and the database.")
def s3_db_reconciliation(
    context: AssetCheckExecutionContext, s3: S3Resource, postgres: PostgresResource
) -> AssetCheckResult:
    parts = _parts(context)
    return _recorded(
        context, postgres, parts, check_s3_db_reconciliation(load_batch(s3, parts), postgres)
    )


@asset_check(asset=bar_rollups, description="Each D1 bar equals the aggregate of its M1 bars.")
def d1_equals_m1_aggregate(
    context: AssetCheckExecutionContext, postgres: PostgresResource
) -> AssetCheckResult:
    parts = _parts(context)
    return _recorded(context, postgres, parts, check_d1_rollup(parts, postgres))


@asset_check(asset=bar_snapshots, description="The Redis M1 snapshot equals the database.")
def snapshot_matches_database(
    context: AssetCheckExecutionContext, postgres: PostgresResource, redis: RedisResource
) -> AssetCheckResult:
    parts = _parts(context)
    outcome = check_snapshot_reconciliation({p.symbol for p in parts}, postgres, redis)
    return _recorded(context, postgres, parts, outcome)


BAR_CHECKS = [
    raw_bars_checks,
    s3_db_reconciliation,
    d1_equals_m1_aggregate,
    snapshot_matches_database,
]
