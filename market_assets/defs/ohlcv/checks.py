"""Asset checks on the OHLCV family: their specs and how each is evaluated over the partitions
of a run (one or a batch).

The checks live inside their assets' steps (`check_specs` on each subsettable
`@multi_asset`, market_assets/assets/), not in steps of their own. Why: for an unpartitioned
check of a partitioned asset in a run over a partition range, Dagster 1.13 looks up the
asset's data version over *every* partition key of the asset when it records the evaluation
(its input from the checked asset maps to all partitions). That walk cost 1.1-1.5 s per check
step at production's 136k date x symbol keys, most of a daily run
(`python -m benchmarks.daily_run`), and grows with every date and symbol. Inside the asset's
own step the checked asset is not an input, so there is no walk. The multi-assets are
subsettable, so a check still runs alone (the UI's "execute" button, or the freshness checks'
cron automation) without materialising anything.

The raw-bar checks that guard correctness (contract, OHLC sanity, uniqueness) are blocking:
when they fail, the raw_bars step fails after recording its results, and nothing downstream
runs in that run. Continuity against the calendar is a warning, because a vendor's missing
minutes (quarantined or never sent) must not hold back the good partitions of a batch; those
partitions are already gated inside the assets. Row counts (within each source's tolerance)
and the great-expectations suite are not blocking either: too few bars is not wrong data, and
the suite repeats the blocking rules in a form whose result is kept (S3 JSON); a GE failure of
its own (import, storing the JSON) must not hold back a batch whose blocking checks passed, so
it is reported as a failed WARN result.

Per-partition results inside batched runs: Dagster 1.13 accepts `partitions_def` on
`AssetCheckSpec` (marked preview), but an evaluation is attributed to the step's single
`partition_key` and, in a run over a partition range (our batches,
`BackfillPolicy.multi_run(1000)`), to no partition at all, while a PLANNED row is recorded for
every partition of the range and never resolved. So each check stays unpartitioned and
reports one result per run; its metadata lists the failing partitions (`partitions_failed`,
`failing_partitions`), and data_quality_metrics holds one row per check and partition (passed
or not, with that partition's figures), which is where per-partition quality is queried.
Inside the assets, db_bars gates each partition on its own outcome.
"""

from collections.abc import Callable, Iterable, Iterator

from dagster import AssetCheckResult, AssetCheckSpec, AssetKey

from market_assets.core import names
from market_assets.core.partition_keys import BarPartition
from market_assets.defs.ohlcv.check_results import to_check_result
from market_assets.quality.evaluation import (
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
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource

RAW_BARS = AssetKey(names.RAW_BARS)
DB_BARS = AssetKey(names.DB_BARS)
BAR_ROLLUPS = AssetKey(names.BAR_ROLLUPS)
BAR_SNAPSHOTS = AssetKey(names.BAR_SNAPSHOTS)

RAW_SPECS = [
    AssetCheckSpec(
        names.SCHEMA_CONTRACT,
        asset=RAW_BARS,
        blocking=True,
        description="Types, nullability and OHLC invariants (pandera contract).",
    ),
    AssetCheckSpec(
        names.OHLC_SANITY,
        asset=RAW_BARS,
        blocking=True,
        description="low <= open, close <= high; prices > 0 and finite; volume >= 0.",
    ),
    AssetCheckSpec(
        names.UNIQUE_SYMBOL_TIMEFRAME_TS,
        asset=RAW_BARS,
        blocking=True,
        description="No two bars share (symbol, timeframe, ts).",
    ),
    AssetCheckSpec(
        names.SESSION_CONTINUITY,
        asset=RAW_BARS,
        description="No missing bar of the symbol's base timeframe inside a session, none"
        " outside (warning).",
    ),
    AssetCheckSpec(
        names.ROW_COUNT,
        asset=RAW_BARS,
        description="Rows per partition against the calendar's count, within the source's"
        " tolerance (universe.yaml quality.row_count_tolerance); expected vs actual per"
        " partition in data_quality_metrics.",
    ),
    AssetCheckSpec(
        names.EXPECTATION_SUITE,
        asset=RAW_BARS,
        description="great-expectations suite over the whole batch in one validation; result"
        " JSON in S3 under quality/expectations/raw_bars/.",
    ),
]
RECONCILIATION_SPEC = AssetCheckSpec(
    names.S3_DB_RECONCILIATION,
    asset=DB_BARS,
    blocking=True,
    description="Same rows in S3 and the database.",
)
ROLLUP_SPECS = [
    AssetCheckSpec(
        names.D1_EQUALS_M1_AGGREGATE,
        asset=BAR_ROLLUPS,
        description="Each D1 bar of an M1-base symbol equals the aggregate of its M1 bars.",
    ),
    AssetCheckSpec(
        names.H1_EQUALS_M1_AGGREGATE,
        asset=BAR_ROLLUPS,
        description="Each H1 bar of an M1-base symbol equals the aggregate of its M1 bars.",
    ),
]
SNAPSHOT_SPEC = AssetCheckSpec(
    names.SNAPSHOT_MATCHES_DATABASE,
    asset=BAR_SNAPSHOTS,
    description="The Redis snapshot of each symbol's base timeframe equals the database.",
)


def _reported(
    postgres: PostgresResource, run_id: str, parts: list[BarPartition], outcomes: list[CheckOutcome]
) -> Iterator[AssetCheckResult]:
    """Write the evaluations to data_quality_metrics, then report them to Dagster."""
    if outcomes:
        record_metrics(postgres, outcomes, run_id, parts)
    yield from (to_check_result(o) for o in outcomes)


def raw_bars_results(
    selected: Iterable[str],
    parts: list[BarPartition],
    s3: S3Resource,
    postgres: PostgresResource,
    run_id: str,
    log_exception: Callable[[str], None],
) -> Iterator[AssetCheckResult]:
    """The raw-bar checks of `selected`, over one read of the batch's objects from S3 (what
    was stored, not what the step meant to store)."""
    wanted = set(selected)
    if not wanted:
        return
    batch = load_batch(s3, parts)
    evaluators = {
        names.SCHEMA_CONTRACT: check_contract,
        names.OHLC_SANITY: check_ohlc_sanity,
        names.UNIQUE_SYMBOL_TIMEFRAME_TS: check_unique,
        names.SESSION_CONTINUITY: check_continuity,
        names.ROW_COUNT: check_row_counts,
    }
    outcomes = [evaluate(batch) for name, evaluate in evaluators.items() if name in wanted]
    for outcome in outcomes:
        if outcome.name == names.SESSION_CONTINUITY:
            outcome.severity = "WARN"
    if names.EXPECTATION_SUITE in wanted:
        try:
            outcomes.append(check_expectation_suite(batch, s3, run_id))
        except Exception as exc:  # reported, never gating: see the module docstring
            log_exception("expectation suite could not be evaluated")
            outcomes.append(
                CheckOutcome(
                    names.RAW_BARS,
                    names.EXPECTATION_SUITE,
                    False,
                    {"error": f"{type(exc).__name__}: {exc}"[:500]},
                    severity="WARN",
                )
            )
    yield from _reported(postgres, run_id, parts, outcomes)


def reconciliation_results(
    selected: Iterable[str],
    parts: list[BarPartition],
    s3: S3Resource,
    postgres: PostgresResource,
    run_id: str,
) -> Iterator[AssetCheckResult]:
    if RECONCILIATION_SPEC.name not in set(selected):
        return
    outcome = check_s3_db_reconciliation(load_batch(s3, parts), postgres)
    yield from _reported(postgres, run_id, parts, [outcome])


def rollup_results(
    selected: Iterable[str], parts: list[BarPartition], postgres: PostgresResource, run_id: str
) -> Iterator[AssetCheckResult]:
    wanted = set(selected)
    evaluators = {
        names.D1_EQUALS_M1_AGGREGATE: check_d1_rollup,
        names.H1_EQUALS_M1_AGGREGATE: check_h1_rollup,
    }
    outcomes = [
        evaluate(parts, postgres) for name, evaluate in evaluators.items() if name in wanted
    ]
    yield from _reported(postgres, run_id, parts, outcomes)


def snapshot_results(
    selected: Iterable[str],
    parts: list[BarPartition],
    postgres: PostgresResource,
    redis: RedisResource,
    run_id: str,
) -> Iterator[AssetCheckResult]:
    if SNAPSHOT_SPEC.name not in set(selected):
        return
    outcome = check_snapshot_reconciliation({p.symbol for p in parts}, postgres, redis)
    yield from _reported(postgres, run_id, parts, [outcome])
