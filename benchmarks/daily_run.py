"""A scheduled daily run at production's partition count: what Dagster costs per check step.

`python -m benchmarks.daily_run [--symbols 12] [--registered 12 54] [--repeats 3]` (by hand;
not part of `python -m benchmarks`, which holds the issue's targets).

One session date x `--symbols` universe symbols, as one run over a partition range (what the
market schedules launch), every OHLCV asset and check, on the embedded servers. The same run
is timed with only those symbols registered as partitions and with filler symbols registered
up to each `--registered` count (54 is production's), because Dagster's work in an
unpartitioned check's step grows with every date x symbol key of the checked asset, while the
project's work does not. One JSON line per count: run seconds (warm-up excluded), the median,
and the last run's step durations.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import time
from collections import Counter

from dagster import materialize

from benchmarks.backfill import (
    FAMILY,
    RUN_CONFIG,
    _instance,
    _resources,
    _step_seconds,
    _stores,
    backfill_symbols,
)
from benchmarks.stack import BenchStack
from market_assets.core.partition_keys import partition_key
from market_assets.defs.ohlcv.partitions import session_dates

DAY = dt.date(2024, 3, 12)


def measure(stack: BenchStack, symbols: list[str], registered: int, repeats: int) -> dict:
    fillers = [f"ZZ{i:04d}" for i in range(max(0, registered - len(symbols)))]
    tags = {
        "dagster/asset_partition_range_start": str(partition_key(DAY, symbols[0])),
        "dagster/asset_partition_range_end": str(partition_key(DAY, symbols[-1])),
    }
    with _stores(stack, f"daily{registered}") as (schema, s3, redis):
        resources = _resources(schema, s3, redis)
        instance = _instance(symbols + fillers)
        seconds: list[float] = []
        steps: Counter[str] = Counter()
        try:
            for attempt in range(repeats + 1):  # the first run warms up and is not counted
                start = time.perf_counter()
                result = materialize(
                    FAMILY, instance=instance, resources=resources, tags=tags, run_config=RUN_CONFIG
                )
                if not result.success:
                    raise RuntimeError(f"daily run with {registered} registered symbols failed")
                if attempt:
                    seconds.append(time.perf_counter() - start)
            _step_seconds(result, steps)
        finally:
            resources["postgres"].close()
            instance.dispose()
    dates = len(session_dates.get_partition_keys())
    return {
        "benchmark": "daily_run",
        "partitions_in_run": len(symbols),
        "registered_symbols": len(symbols) + len(fillers),
        "partition_keys": dates * (len(symbols) + len(fillers)),
        "seconds": [round(s, 3) for s in seconds],
        "median_seconds": round(statistics.median(seconds), 3),
        "last_run_step_seconds": {k: round(v, 3) for k, v in steps.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=12)
    parser.add_argument("--registered", type=int, nargs="+", default=[12, 54])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    symbols = backfill_symbols(args.symbols)
    with BenchStack(["postgres", "redis", "s3"]) as stack:
        for registered in args.registered:
            print(json.dumps(measure(stack, symbols, registered, args.repeats)), flush=True)


if __name__ == "__main__":
    main()
