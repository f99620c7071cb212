"""Asset checks on the OHLCV family, evaluated over the run's partitions (one or a batch).

The raw-bar checks that guard correctness (contract, OHLC sanity, uniqueness) are blocking:
when they fail, nothing downstream runs in that run. Continuity against the calendar is a
warning, because a vendor's missing minutes (quarantined or never sent) must not hold back
the good partitions of a batch; those partitions are already gated inside the assets. Row
counts (within each source's tolerance) and the great-expectations suite are not blocking
either: too few bars is not wrong data, and the suite repeats the blocking rules in a form
whose result is kept (S3 JSON); a GE failure of its own (import, storing the JSON) must not
hold back a batch whose blocking checks passed, so it is reported as a failed WARN result.

Per-partition results inside batched runs: Dagster 1.13 accepts `partitions_def` on
`@asset_check`/`AssetCheckSpec` (marked preview), but `AssetCheckResult` has no partition
argument: the evaluation is attributed to the step's single `partition_key` and, in a run
over a partition range (our batches, `BackfillPolicy.multi_run(1000)`), to no partition at
all (`AssetCheckResult.to_asset_check_evaluation` in dagster 1.13). So each check here stays
unpartitioned and reports one result per run; its metadata lists the failing partitions
(`partitions_failed`, `failing_partitions`), and data_quality_metrics holds one row per check
and partition (passed or not, with that partition's figures), which is where per-partition
quality is queried. Inside the assets, db_bars gates each partition on its own outcome.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSpec,
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
    check_expectation_suite,
    check_h1_rollup,
    check_ohlc_sanity,
    check_row_counts,
    check_s3_db_reconciliation,
    check_snapshot_reconciliation,
    check_unique,
    load_batch,
    record_metrics,
)
from market_assets.checks.freshness import freshness_checks
from market_assets.checks.results import to_check_result as _result
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
    AssetCheckSpec(
        "row_count",
        asset=raw_bars,
        description="Rows per partition against the calendar's count, within the source's"
        " tolerance (universe.yaml quality.row_count_tolerance); expected vs actual per"
        " partition in data_quality_metrics.",
    ),
    AssetCheckSpec(
        "expectation_suite",
        asset=raw_bars,
        description="great-expectations suite over the whole batch in one validation; result"
        " JSON in S3 under quality/expectations/raw_bars/.",
    ),
]


def _parts(context: AssetCheckExecutionContext) -> list[BarPartition]:
    return parse_partitions(context.op_execution_context.partition_keys)


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
    outcomes += [continuity, check_row_counts(batch)]
    try:
        outcomes.append(check_expectation_suite(batch, s3, context.run.run_id))
    except Exception as exc:  # reported, never gating: see the module docstring
        context.log.exception("expectation suite could not be evaluated")
        outcomes.append(
            CheckOutcome(
                "raw_bars",
                "expectation_suite",
                False,
                {"error": f"{type(exc).__name__}: {exc}"[:500]},
                severity="WARN",
            )
        )
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


ROLLUP_SPECS = [
    AssetCheckSpec(
        "d1_equals_m1_aggregate",
        asset=bar_rollups,
        description="Each D1 bar equals the aggregate of its M1 bars.",
    ),
    AssetCheckSpec(
        "h1_equals_m1_aggregate",
        asset=bar_rollups,
        description="Each H1 bar equals the aggregate of its M1 bars.",
    ),
]


@multi_asset_check(
    specs=ROLLUP_SPECS,
    can_subset=True,
    description="Rollups against their M1 bars, in one step (one Dagster step per check costs"
    " a walk over every partition key of bar_rollups in a batched run).",
)
def rollup_checks(
    context: AssetCheckExecutionContext, postgres: PostgresResource
) -> Iterator[AssetCheckResult]:
    parts = _parts(context)
    selected = {key.name for key in context.selected_asset_check_keys}
    evaluators = {
        "d1_equals_m1_aggregate": check_d1_rollup,
        "h1_equals_m1_aggregate": check_h1_rollup,
    }
    outcomes = [
        evaluate(parts, postgres) for name, evaluate in evaluators.items() if name in selected
    ]
    record_metrics(postgres, outcomes, context.run.run_id, parts)
    yield from (_result(o) for o in outcomes)


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
    rollup_checks,
    snapshot_matches_database,
    freshness_checks,
]
