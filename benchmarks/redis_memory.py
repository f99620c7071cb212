"""Redis memory of the snapshots: 5 FX pairs x 9 timeframes x 2000 bars.

Project format: what `publish_snapshot` stores (Arrow IPC stream with lz4, plus a small JSON
info key per snapshot), published through the project's function.

Baselines, the same frames stored the naive ways: JSON rows
(`frame.reset_index().to_json(orient="records", date_format="iso")`, what a hand-written cache
usually holds) and pickled DataFrames (`pickle.dumps(frame)`, highest protocol).

Memory is Redis's own accounting, `MEMORY USAGE key SAMPLES 0` summed over the keys (value,
key name and allocator overhead), which is exact and unaffected by other clients; the growth
of `INFO memory` `used_memory` while the project's snapshots are written is reported too.

The frames: M1 to H4 are rollups of the generator's M1 bars (pandas resample of a year of
M1), D1 the generator's D1 bars over eight years. 2000 W1 bars need 38 years of history and
2000 MN1 bars 166 years, so those two take 2000 D1 bars relabelled weekly and monthly: the
budget is for 2000 bars of every timeframe, and values with real intraday-to-daily ranges keep
the compression ratio honest.
"""

from __future__ import annotations

import datetime as dt
import pickle
import time
from typing import Any

import pandas as pd

from benchmarks import FX_PAIRS, BenchResult, Target, m1_bars, ratio, repeat, spread
from benchmarks.stack import BenchStack
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import default_universe
from market_assets.ohlcv.snapshots import DEFAULT_BARS, encode, publish_snapshot
from resources.redis import RedisResource
from resources.sources.generator import GeneratorSource

NAME = "redis_memory"
TARGET_BYTES = 10 * 1024 * 1024  # 10 MB, read as MiB (the stricter reading)
LAST_DAY = dt.date(2024, 12, 31)
READ_COLUMNS = ["open", "high", "low", "close", "volume"]

SIZES: dict[bool, dict[str, int]] = {
    True: {"pairs": 1, "repeats": 2},
    False: {"pairs": 5, "repeats": 3},
}


def _rollup(m1: pd.DataFrame, minutes: int) -> pd.DataFrame:
    grouped = m1.resample(f"{minutes}min", origin="2000-01-01 00:00:00+00:00")
    out = grouped.agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return out.dropna(subset=["open"])


def timeframe_frames(symbol: str, bars: int) -> dict[Timeframe, pd.DataFrame]:
    """`bars` bars of every timeframe for `symbol`, shaped like `read_bars` output."""
    inst = default_universe().resolve(symbol)
    # 240 minutes x 2000 bars needs ~333 FX sessions of M1: a year and a half of days.
    days = 560
    m1 = m1_bars([symbol], LAST_DAY - dt.timedelta(days=days - 1), days)
    m1 = m1.set_index("ts")[READ_COLUMNS]
    frames: dict[Timeframe, pd.DataFrame] = {}
    for tf in Timeframe.intraday():
        assert tf.minutes is not None
        frame = m1 if tf is Timeframe.M1 else _rollup(m1, tf.minutes)
        frames[tf] = frame.iloc[-bars:]
    d1_days = int(bars * 7 / 5) + 40
    first = LAST_DAY - dt.timedelta(days=d1_days)
    d1 = GeneratorSource().fetch_many(
        [inst], [first + dt.timedelta(days=i) for i in range(d1_days + 1)], timeframe="D1"
    )
    d1 = d1.set_index("ts")[READ_COLUMNS].iloc[-bars:]
    frames[Timeframe.D1] = d1
    weekly = pd.date_range(end=pd.Timestamp(LAST_DAY, tz="UTC"), periods=bars, freq="7D")
    monthly = pd.date_range(end=pd.Timestamp(LAST_DAY, tz="UTC"), periods=bars, freq="MS")
    frames[Timeframe.W1] = d1.set_axis(weekly.rename("ts"))
    frames[Timeframe.MN1] = d1.set_axis(monthly.rename("ts"))
    for tf, frame in frames.items():
        if len(frame) != bars:
            raise RuntimeError(f"{symbol} {tf}: {len(frame)} bars, wanted {bars}")
        frame.index = frame.index.astype("datetime64[ns, UTC]").rename("ts")
    return frames


def _memory(redis: RedisResource, keys: list[str]) -> int:
    client = redis.client()
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(v or 0) for v in pipe.execute())


def _used_memory(redis: RedisResource) -> int:
    return int(redis.client().info("memory")["used_memory"])


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    pairs = list(FX_PAIRS[: size["pairs"]])
    frames = {p: timeframe_frames(p, DEFAULT_BARS) for p in pairs}
    n_snapshots = sum(len(f) for f in frames.values())
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["repeats"],
        params={
            "pairs": pairs,
            "timeframes": [str(tf) for tf in Timeframe],
            "bars_per_snapshot": DEFAULT_BARS,
            "snapshots": n_snapshots,
            "target_bytes": TARGET_BYTES,
        },
    )
    universe = default_universe()
    with stack.redis("memory") as redis:
        client = redis.client()
        prefix = redis.key_prefix

        def publish_all() -> list[str]:
            keys: list[str] = []
            for pair, by_tf in frames.items():
                calendar = universe.resolve(pair).calendar
                for tf, frame in by_tf.items():
                    snap = publish_snapshot(redis, pair, str(tf), frame, calendar)
                    keys += [snap.key, snap.key + ":info"]
            return keys

        before = _used_memory(redis)
        keys = publish_all()
        used_delta = _used_memory(redis) - before
        project_bytes = _memory(redis, keys)
        payload_bytes = sum(len(encode(f)) for by_tf in frames.values() for f in by_tf.values())
        publish_s = repeat(publish_all, size["repeats"])

        baselines: dict[str, dict[str, Any]] = {}
        for name, dump in (
            (
                "json_rows",
                lambda f: f.reset_index().to_json(orient="records", date_format="iso"),
            ),
            ("pickled_dataframe", lambda f: pickle.dumps(f, protocol=pickle.HIGHEST_PROTOCOL)),
        ):
            base_keys: list[str] = []
            pipe = client.pipeline(transaction=False)
            for pair, by_tf in frames.items():
                for tf, frame in by_tf.items():
                    key = f"{prefix}baseline:{name}:{pair}:{tf}"
                    pipe.set(key, dump(frame), ex=3600)
                    base_keys.append(key)
            pipe.execute()
            baselines[name] = {"bytes": _memory(redis, base_keys), "keys": len(base_keys)}

    mib = 1024 * 1024
    result.metrics = {
        "bytes": project_bytes,
        "mib": project_bytes / mib,
        "payload_bytes": payload_bytes,
        "bytes_per_snapshot": project_bytes / n_snapshots,
        "used_memory_delta_bytes": used_delta,
        "publish_all_seconds": spread(publish_s),
        "keys": len(keys),
    }
    result.baseline = {name: {**b, "mib": b["bytes"] / mib} for name, b in baselines.items()} | {
        "method": "same frames as JSON rows (to_json records) and as pickled DataFrames"
    }
    result.ratios = {
        f"smaller_than_{name}": ratio(b["bytes"], project_bytes) for name, b in baselines.items()
    }
    # The target is for 5 pairs; a smoke run with fewer pairs is judged pro rata.
    budget = TARGET_BYTES * len(pairs) / len(FX_PAIRS)
    result.targets = [
        Target(
            f"Redis memory, {len(pairs)} pairs x 9 timeframes x {DEFAULT_BARS} bars",
            project_bytes / mib,
            "<=",
            budget / mib,
            "MiB",
        )
    ]
    result.notes = [
        "MEMORY USAGE SAMPLES 0 summed over snapshot and info keys",
        "W1 and MN1 frames are D1 values relabelled (2000 real bars need 38 and 166 years)",
    ]
    if len(pairs) != len(FX_PAIRS):
        result.notes.append(f"budget scaled to {len(pairs)} of {len(FX_PAIRS)} pairs")
    result.elapsed_s = time.perf_counter() - started
    return result
