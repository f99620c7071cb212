"""Benchmarks that prove (or disprove) the speed targets of the OHLCV pipeline.

Each benchmark measures the project's path and a naive baseline in the same run, on the same
rows and the same servers, so that a noisy machine moves both and their ratio stays
meaningful. Run with ``python -m benchmarks`` (see benchmarks/README.md).

This module holds what every benchmark shares: the result record printed as one JSON line,
targets with their verdict, and timing helpers that report medians of several repeats (one
timing on a 2-core machine shared with servers says little; the median of five says more).
"""

from __future__ import annotations

import gc
import math
import operator
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Op = Literal["<=", "<", ">=", ">"]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}

# Keys every benchmark line has; the smoke test checks them.
RESULT_KEYS = (
    "benchmark",
    "mode",
    "target_met",
    "targets",
    "metrics",
    "baseline",
    "ratios",
    "repeats",
    "params",
    "notes",
    "elapsed_s",
)


@dataclass(frozen=True)
class Target:
    """One target of the issue: `value op threshold`, e.g. rows/s >= 300,000."""

    name: str
    value: float
    op: Op
    threshold: float
    unit: str

    @property
    def met(self) -> bool:
        return not math.isnan(self.value) and _OPS[self.op](self.value, self.threshold)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _round(self.value),
            "op": self.op,
            "threshold": self.threshold,
            "unit": self.unit,
            "met": self.met,
        }


@dataclass
class BenchResult:
    """What one benchmark prints: medians, the baseline, ratios and the targets' verdicts.

    `metrics` are the project's figures, `baseline` the naive path's, `ratios` how many times
    better the project is (always "bigger is better"), `params` the sizes actually used.
    """

    benchmark: str
    mode: str
    repeats: int
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def target_met(self) -> bool:
        return all(t.met for t in self.targets)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "benchmark": self.benchmark,
            "mode": self.mode,
            "target_met": self.target_met,
            "targets": [t.as_dict() for t in self.targets],
            "metrics": _rounded(self.metrics),
            "baseline": _rounded(self.baseline),
            "ratios": _rounded(self.ratios),
            "repeats": self.repeats,
            "params": self.params,
            "notes": self.notes,
            "elapsed_s": round(self.elapsed_s, 2),
        }
        data.update(_rounded(self.extra))
        return data


def _round(value: Any) -> Any:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None  # JSON has no NaN
        return float(f"{value:.6g}")
    return value


def _rounded(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _rounded(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_rounded(v) for v in data]
    return _round(data)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds taken by one call (after a collection, so an earlier repeat's garbage does not
    land in this one's timing) and its result."""
    gc.collect()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def repeat(
    fn: Callable[[], Any],
    repeats: int,
    setup: Callable[[], Any] | None = None,
    warmup: int = 0,
) -> list[float]:
    """Timings of `repeats` calls of `fn`, each after an untimed `setup` (e.g. TRUNCATE)."""
    for _ in range(warmup):
        if setup is not None:
            setup()
        fn()
    samples: list[float] = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        seconds, _ = timed(fn)
        samples.append(seconds)
    return samples


def latencies(fn: Callable[[], Any], count: int, warmup: int = 10) -> list[float]:
    """Per-call latencies in seconds of `count` calls (after `warmup` untimed ones).

    No gc.collect() between calls: a latency distribution should include the collector's
    pauses that real callers see.
    """
    for _ in range(warmup):
        fn()
    out: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        fn()
        out.append(clock() - start)
    return out


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation; NaN for no samples."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def spread(samples: Sequence[float]) -> dict[str, float]:
    """Median, min and max of repeat timings (the median is what targets use)."""
    if not samples:
        return {"median": math.nan, "min": math.nan, "max": math.nan}
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
    }


def latency_summary(samples: Sequence[float], scale: float = 1000.0) -> dict[str, float]:
    """p50/p90/p99/mean/max, in milliseconds by default."""
    return {
        "p50": percentile(samples, 50) * scale,
        "p90": percentile(samples, 90) * scale,
        "p99": percentile(samples, 99) * scale,
        "mean": statistics.fmean(samples) * scale if samples else math.nan,
        "max": max(samples) * scale if samples else math.nan,
    }


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN (printed as null) when undefined."""
    if denominator == 0 or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


# -- data ---------------------------------------------------------------------------------------

FX_PAIRS = ("USDJPY", "EURUSD", "GBPUSD", "AUDUSD", "EURJPY")


def m1_bars(symbols: Sequence[str], first_day: Any, days: int) -> Any:
    """The generator's M1 bars of `symbols` for `days` calendar days from `first_day`.

    The deterministic generator is what the pipeline's own tests and dev stack use, so every
    benchmark stores realistic prices (tick-rounded, intraday volume profile) whose
    compressibility matches real data far better than random or constant values would.
    """
    import datetime as dt

    from market_assets.core.universe import default_universe
    from resources.sources.generator import GeneratorSource

    universe = default_universe()
    dates = [first_day + dt.timedelta(days=i) for i in range(days)]
    return GeneratorSource().fetch_many([universe.resolve(s) for s in symbols], dates)


def m1_rows(symbols: Sequence[str], first_day: Any, rows: int) -> Any:
    """Exactly `rows` M1 bars of `symbols` from `first_day` on (whole sessions, the last one
    cut), sorted by (symbol, ts) as the generator returns them."""
    import datetime as dt

    days = 8
    while True:
        frame = m1_bars(symbols, first_day, days)
        if len(frame) >= rows:
            # Take the earliest sessions of every symbol rather than all of the first symbol.
            order = frame.sort_values(["session_date", "symbol", "ts"], kind="stable").index
            kept = frame.loc[order[:rows]]
            return kept.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
        days = int(days * 1.6) + 1
        if first_day + dt.timedelta(days=days) > dt.date.today():
            raise ValueError(f"cannot generate {rows} rows of {symbols} from {first_day}")
