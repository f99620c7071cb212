"""Reading 30 sessions of one symbol's M1 bars from S3 (SeaweedFS): parallel whole-object
GETs vs the sequential GET loop.

Project path: `S3Resource.read_many(keys)` (each partition object fetched whole in one GET,
`upload_threads` at a time, parsed from the bytes) and `from_arrow` to the bar frame, exactly
what `db_bars` and the S3 layer of `get_ohlcv` do with the keys of a window. The whole read path of
`BarReader.get` for the same window (which first LISTs each session's prefix to skip missing
objects) is reported alongside, not as the target.

Baseline: the obvious loop - for each object, one boto3 GET, read the body, `pq.read_table`
on the bytes, then concatenate and convert - sequentially, as code without a dataset layer
does.

The objects are written once, in the project's hive layout and compression (zstd). One
untimed warm-up of each path precedes the repeats, so connection set-up is not timed for
either; the median of the repeats is reported.
"""

from __future__ import annotations

import datetime as dt
import io
import time

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import BenchResult, Target, m1_bars, ratio, repeat, spread
from benchmarks.stack import BenchStack
from market_assets.core.bars import from_arrow, to_arrow
from market_assets.core.calendars import session_bounds, sessions_in_range
from market_assets.core.storage_layout import raw_object_key
from market_assets.read.reader import BarReader
from resources.s3 import S3Resource

NAME = "s3_read"
SYMBOL = "EURUSD"
CALENDAR = "FX24X5"
FIRST_DAY = dt.date(2024, 4, 1)
TARGET_SECONDS = 0.3

SIZES: dict[bool, dict[str, int]] = {
    True: {"sessions": 3, "repeats": 3},
    False: {"sessions": 30, "repeats": 7},
}


def _sessions(count: int) -> list[dt.date]:
    days = sessions_in_range(CALENDAR, FIRST_DAY, FIRST_DAY + dt.timedelta(days=count * 2 + 7))
    return [d.date() if isinstance(d, dt.datetime) else d for d in days][:count]


def _sequential_gets(s3: S3Resource, keys: list[str]) -> pa.Table:
    """The naive read: one GET per object, parsed one after the other."""
    client = s3.client()
    tables = []
    for key in keys:
        body = client.get_object(Bucket=s3.bucket, Key=s3.full_key(key))["Body"].read()
        tables.append(pq.read_table(io.BytesIO(body)))
    return pa.concat_tables(tables)


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    days = _sessions(size["sessions"])
    bars = m1_bars([SYMBOL], days[0], (days[-1] - days[0]).days + 1)
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["repeats"],
        params={
            "symbol": SYMBOL,
            "sessions": len(days),
            "first_session": str(days[0]),
            "last_session": str(days[-1]),
            "rows": len(bars),
        },
    )
    with stack.s3("s3read") as s3:
        keys: list[str] = []
        total_bytes = 0
        for day, frame in bars.groupby("session_date", sort=True):
            key = raw_object_key("M1", day, SYMBOL)
            total_bytes += s3.write_parquet(key, to_arrow(frame.reset_index(drop=True))).size
            keys.append(key)
        result.params["objects"] = len(keys)
        result.params["object_bytes_total"] = total_bytes

        reader = BarReader(postgres=None, redis=None, s3=s3)
        start = session_bounds(CALENDAR, days[0])[0].to_pydatetime()  # type: ignore[index]
        end = session_bounds(CALENDAR, days[-1])[1].to_pydatetime()  # type: ignore[index]

        def project() -> int:
            return len(from_arrow(s3.read_many(keys)))

        def baseline() -> int:
            return len(from_arrow(_sequential_gets(s3, keys)))

        def reader_path() -> int:
            frame = reader.get(SYMBOL, "M1", start=start, end=end)
            if frame.attrs["layer"] != "s3":
                raise RuntimeError(f"expected an S3 answer, got {frame.attrs['layer']}")
            return len(frame)

        counts = {project(), baseline(), reader_path()}  # warm-up, and all see the same rows
        if counts != {len(bars)}:
            raise RuntimeError(f"paths disagree on the row count: {counts} vs {len(bars)}")
        proj_s, base_s, reader_s = [], [], []
        for _ in range(size["repeats"]):  # interleaved: a noisy moment hits every path
            proj_s += repeat(project, 1)
            base_s += repeat(baseline, 1)
            reader_s += repeat(reader_path, 1)

    proj, base = spread(proj_s), spread(base_s)
    result.metrics = {
        "read_many_seconds": proj,
        "rows_per_s": len(bars) / proj["median"],
        "bar_reader_get_seconds": spread(reader_s),
    }
    result.baseline = {
        "method": "sequential boto3 get_object + pq.read_table per object, then concat",
        "seconds": base,
    }
    result.ratios = {"speedup_vs_sequential_gets": ratio(base["median"], proj["median"])}
    result.targets = [
        Target(
            f"{len(days)} sessions of M1 from S3 (read_many)",
            proj["median"],
            "<=",
            TARGET_SECONDS,
            "s",
        )
    ]
    result.notes = [
        "timings include conversion to the pandas bar frame (from_arrow) for both paths",
        "bar_reader_get adds one LIST per session date (storage_layout.existing_keys)",
    ]
    result.elapsed_s = time.perf_counter() - started
    return result
