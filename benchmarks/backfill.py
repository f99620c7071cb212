"""Backfill through every OHLCV asset: batched runs against one run per partition.

Project path: `materialize(OHLCV_ASSETS)` with every check (raw_bars -> db_bars -> bar_rollups ->
bar_snapshots) with a partition range per run, as Dagster's backfill daemon launches them
under `BATCHED_BACKFILL` (at most `MAX_PARTITIONS_PER_RUN` date x symbol partitions per run):
the date range is cut into chunks of `MAX_PARTITIONS_PER_RUN // symbols` days and each chunk
is one run over every symbol. Runs execute one after the other in this process with the
in-process executor, against real servers, into a fresh schema, bucket prefix and Redis
prefix, on an ephemeral Dagster instance (so Dagster's own storage is not what is measured;
production keeps it in PostgreSQL).

Baseline: one run per partition, the same assets and resources. Running all 3,650 would take
tens of minutes, so a fixed random sample of the target's partitions (weekends and holidays
included, in their true proportion) is run one by one into a fresh schema, and the mean time
per run is extrapolated to every partition.

Scaling table: the same 10 symbols over 1x, 4x and 16x the days, with 1x a quarter of the
target so that 4x *is* the target (10 symbols x 365 days) and 16x is four years. Scaling by
days keeps the symbol mix (5 FX pairs at 1,440 bars per session, indices and equities at
300-390) and the partitions per run constant; 16 x 365 days would reach back before the first
partition (2020-01-01), and scaling by symbols would add TSE equities only (the universe has 12
symbols), changing the mix. Each scale runs once (minutes each); the JSON says so.

The console logger is set to WARNING for both paths: Dagster's DEBUG lines to a terminal are
not part of a backfill's cost in production (the daemon writes them to the event log).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dagster import DagsterInstance, materialize

from benchmarks import BenchResult, Target, ratio
from benchmarks.stack import BenchSchema, BenchStack
from market_assets.core.partition_keys import partition_key
from market_assets.core.run_plan import MAX_PARTITIONS_PER_RUN
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource

NAME = "backfill"
LAST_DAY = dt.date(2024, 12, 31)
TARGET_SECONDS = 180.0
TARGET_RATIO = 20.0
# Every asset and every check, as a backfill launched from the UI runs them.
FAMILY = OHLCV_ASSETS  # their checks are check_specs of the assets
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SCALES = (1, 4, 16)
TARGET_SCALE = 4  # the scale that is the backfill


@dataclass(frozen=True)
class Size:
    symbols: int
    target_days: int
    sample_partitions: int


SIZES: dict[bool, Size] = {
    True: Size(symbols=2, target_days=5, sample_partitions=3),
    False: Size(symbols=10, target_days=365, sample_partitions=24),
}


def scale_days(size: Size, scale: int) -> int:
    """Days at `scale`: the target is TARGET_SCALE, so 1x is a quarter of it."""
    return max(1, round(size.target_days * scale / TARGET_SCALE))


def backfill_symbols(count: int) -> list[str]:
    """The first `count` symbols of the universe file: FX pairs, indices, then equities."""
    symbols = default_universe().symbols()
    if count == 2:
        return [symbols[0], "7203"]  # an FX pair and an equity: both calendars in a smoke run
    return symbols[:count]


@dataclass
class RunFigures:
    seconds: float
    runs: int
    partitions: int
    rows: int
    snapshots: int
    step_seconds: dict[str, float]


@contextlib.contextmanager
def _stores(stack: BenchStack, tag: str) -> Iterator[tuple[BenchSchema, S3Resource, RedisResource]]:
    with stack.schema(tag) as schema, stack.s3(tag) as s3, stack.redis(tag) as redis:
        yield schema, s3, redis


def _resources(schema: BenchSchema, s3: S3Resource, redis: RedisResource) -> dict[str, Any]:
    return {
        "s3": s3,
        "postgres": schema.postgres(),
        "redis": redis,
        "sources": BarSourcesResource(),
    }


def _instance(symbols: list[str]) -> DagsterInstance:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", symbols)  # registration order = range order
    return instance


def _count_rows(schema: BenchSchema) -> tuple[int, int]:
    with schema.connect() as conn:
        bars = conn.execute("SELECT count(*) FROM ohlcv_bars").fetchone()
        m5 = conn.execute("SELECT count(*) FROM ohlcv_m5").fetchone()
    return int(bars[0]) if bars else 0, int(m5[0]) if m5 else 0


def _step_seconds(result: Any, into: Counter[str]) -> None:
    for event in result.get_step_success_events():
        into[event.step_key] += event.event_specific_data.duration_ms / 1000.0


def batched_backfill(
    stack: BenchStack, symbols: list[str], first: dt.date, days: int
) -> RunFigures:
    """Every date x symbol partition in runs of at most MAX_PARTITIONS_PER_RUN partitions."""
    per_run = max(1, MAX_PARTITIONS_PER_RUN // len(symbols))
    with _stores(stack, "backfill") as (schema, s3, redis):
        resources = _resources(schema, s3, redis)
        instance = _instance(symbols)
        steps: Counter[str] = Counter()
        snapshots = runs = 0
        elapsed = 0.0
        try:
            for offset in range(0, days, per_run):
                lo = first + dt.timedelta(days=offset)
                hi = first + dt.timedelta(days=min(days, offset + per_run) - 1)
                tags = {
                    "dagster/asset_partition_range_start": str(partition_key(lo, symbols[0])),
                    "dagster/asset_partition_range_end": str(partition_key(hi, symbols[-1])),
                }
                start = time.perf_counter()
                result = materialize(
                    FAMILY,
                    instance=instance,
                    resources=resources,
                    tags=tags,
                    run_config=RUN_CONFIG,
                )
                elapsed += time.perf_counter() - start
                if not result.success:
                    raise RuntimeError(f"backfill run {lo}..{hi} failed")
                runs += 1
                _step_seconds(result, steps)
                meta = result.asset_materializations_for_node("bar_snapshots")[0].metadata
                snapshots += int(meta["batch_snapshots"].value)
        finally:
            resources["postgres"].close()
            instance.dispose()
        rows, _ = _count_rows(schema)
    return RunFigures(
        seconds=elapsed,
        runs=runs,
        partitions=days * len(symbols),
        rows=rows,
        snapshots=snapshots,
        step_seconds=dict(steps),
    )


def per_partition_sample(
    stack: BenchStack, symbols: list[str], first: dt.date, days: int, sample: int
) -> dict[str, Any]:
    """One run per partition for a fixed random sample of the target's partitions."""
    every = [(first + dt.timedelta(days=d), s) for d in range(days) for s in symbols]
    chosen = sorted(random.Random(20240101).sample(every, min(sample, len(every))))
    seconds: list[float] = []
    steps: Counter[str] = Counter()
    with _stores(stack, "perpart") as (schema, s3, redis):
        resources = _resources(schema, s3, redis)
        instance = _instance(symbols)
        try:
            for day, symbol in chosen:
                start = time.perf_counter()
                result = materialize(
                    FAMILY,
                    instance=instance,
                    resources=resources,
                    partition_key=str(partition_key(day, symbol)),
                    run_config=RUN_CONFIG,
                )
                seconds.append(time.perf_counter() - start)
                if not result.success:
                    raise RuntimeError(f"per-partition run {day}|{symbol} failed")
                _step_seconds(result, steps)
        finally:
            resources["postgres"].close()
            instance.dispose()
        rows, _ = _count_rows(schema)
    return {
        "sampled_partitions": len(chosen),
        "sample_rows": rows,
        "mean_run_seconds": statistics.fmean(seconds),
        "median_run_seconds": statistics.median(seconds),
        "min_run_seconds": min(seconds),
        "max_run_seconds": max(seconds),
        "step_seconds_per_run": {k: v / len(chosen) for k, v in steps.items()},
    }


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    symbols = backfill_symbols(size.symbols)
    target_days = scale_days(size, TARGET_SCALE)
    target_first = LAST_DAY - dt.timedelta(days=target_days - 1)
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=1,
        params={
            "symbols": symbols,
            "days": target_days,
            "first_date": str(target_first),
            "last_date": str(LAST_DAY),
            "partitions": target_days * len(symbols),
            "max_partitions_per_run": MAX_PARTITIONS_PER_RUN,
            "baseline_sample_partitions": size.sample_partitions,
            "scaled_by": "days",
            "scales": {str(s): scale_days(size, s) for s in SCALES},
        },
    )

    # Baseline first: its fresh schema must not inherit a warm cache from the big runs.
    base = per_partition_sample(stack, symbols, target_first, target_days, size.sample_partitions)
    scaling: list[dict[str, Any]] = []
    target: RunFigures | None = None
    for scale in SCALES:
        days = scale_days(size, scale)
        figures = batched_backfill(stack, symbols, LAST_DAY - dt.timedelta(days=days - 1), days)
        if scale == TARGET_SCALE:
            target = figures
        scaling.append(
            {
                "scale": f"{scale}x",
                "days": days,
                "symbols": len(symbols),
                "partitions": figures.partitions,
                "runs": figures.runs,
                "rows": figures.rows,
                "seconds": figures.seconds,
                "rows_per_s": figures.rows / figures.seconds if figures.seconds else None,
                "step_seconds": figures.step_seconds,
            }
        )
    assert target is not None
    base_rows = scaling[0]["rows"] or 1
    base_secs = scaling[0]["seconds"] or 1.0
    for row in scaling:
        row["rows_vs_1x"] = row["rows"] / base_rows
        row["seconds_vs_1x"] = row["seconds"] / base_secs

    extrapolated = base["mean_run_seconds"] * target.partitions
    speedup = ratio(extrapolated, target.seconds)
    result.metrics = {
        "seconds": target.seconds,
        "rows": target.rows,
        "rows_per_s": target.rows / target.seconds if target.seconds else None,
        "runs": target.runs,
        "partitions": target.partitions,
        "snapshots_published": target.snapshots,
        "step_seconds": target.step_seconds,
    }
    result.baseline = {
        "method": "one materialize() run per partition (sampled, extrapolated)",
        **base,
        "extrapolated_seconds": extrapolated,
    }
    result.ratios = {"speedup_vs_run_per_partition": speedup}
    result.targets = [
        Target(
            f"backfill {len(symbols)} symbols x {target_days} days",
            target.seconds,
            "<",
            TARGET_SECONDS,
            "s",
        ),
        Target("speedup vs one run per partition", speedup, ">=", TARGET_RATIO, "x"),
    ]
    result.extra = {"scaling": scaling}
    result.notes = [
        f"baseline: {base['sampled_partitions']} randomly sampled partitions run one by one, "
        f"mean run time x {target.partitions} partitions",
        f"scaling by days over the same {len(symbols)} symbols; 1x = {scale_days(size, 1)} "
        f"days, {TARGET_SCALE}x = the target",
        "each scale measured once (single repeat): minutes per run",
    ]
    result.elapsed_s = time.perf_counter() - started
    return result
