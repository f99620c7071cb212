"""Latency of "the latest 1000 M1 bars" through `BarReader.get`, from Redis and from PostgreSQL.

Project path: `BarReader.get(symbol, "M1", last_n=1000)`, the read path behind `get_ohlcv`:
with Redis, the snapshot (Arrow IPC + lz4, 2000 bars) is fetched, sliced as Arrow and built
into a frame from its buffers; without Redis, `read_bars` runs the indexed `ORDER BY ts DESC
LIMIT` query as the reader role (autocommit, prepared), the server packing each column into
one bytea that numpy reads in one call. Both answer a UTC-indexed float64 frame; every
answer's layer is checked.

Baselines, measured in the same run and interleaved with the project's reads (noise hits
both): for PostgreSQL, `pandas.read_sql` of the plain row query (same filter, order and
limit) through SQLAlchemy; for Redis, the same 2000 bars cached as JSON rows
(`to_json(orient="records")`) and rebuilt with `pandas.DataFrame` on every read.

The database holds several weeks of five FX pairs, so the LIMIT query walks a real index
across monthly partitions rather than a toy table.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import statistics
import time

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

from benchmarks import (
    FX_PAIRS,
    BenchResult,
    Target,
    latencies,
    latency_summary,
    m1_bars,
    ratio,
)
from benchmarks.stack import BenchStack
from benchmarks.upsert import partitions_of
from market_assets.core.identifiers import validate_sql_identifier
from market_assets.core.universe import default_universe
from market_assets.db.migrate import sqlalchemy_url
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.bar_store import replace_partitions
from market_assets.ohlcv.snapshots import DEFAULT_BARS, publish_snapshot
from market_assets.read.reader import BarReader
from resources.redis import RedisResource

NAME = "latest_bars"
FIRST_DAY = dt.date(2024, 3, 1)
LAST_N = 1000
TARGET_REDIS_P50_MS = 1.0
TARGET_PG_P50_MS = 10.0

SIZES: dict[bool, dict[str, int]] = {
    True: {"symbols": 1, "days": 3, "reads": 200, "rounds": 1},
    False: {"symbols": 5, "days": 42, "reads": 1000, "rounds": 3},
}


def _baseline_sql(schema: str) -> sa.TextClause:
    """The naive query, schema-qualified (no search_path round trip on each checkout)."""
    validate_sql_identifier(schema)
    return sa.text(
        f'SELECT ts, open, high, low, close, volume FROM "{schema}".ohlcv_bars'  # noqa: S608
        " WHERE symbol = :symbol AND timeframe = 'M1' ORDER BY ts DESC LIMIT :n"
    )


def _json_key(redis: RedisResource, symbol: str) -> str:
    return f"{redis.key_prefix}json-rows:{symbol}:M1"


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    symbols = list(FX_PAIRS[: size["symbols"]])
    bars = m1_bars(symbols, FIRST_DAY, size["days"])
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["rounds"],
        params={
            "symbols": symbols,
            "db_rows": len(bars),
            "last_n": LAST_N,
            "snapshot_bars": DEFAULT_BARS,
            "reads_per_round_and_path": size["reads"],
            "rounds": size["rounds"],
        },
    )
    with stack.schema("latest") as schema, stack.redis("latest") as redis:
        writer = schema.postgres()
        reader_pg = schema.postgres("reader")
        try:
            replace_partitions(writer, bars, partitions_of(bars))
            with schema.connect() as conn:
                conn.execute("ANALYZE ohlcv_bars")
            universe = default_universe()
            client = redis.client()
            with writer.connection() as conn:
                for symbol in symbols:
                    latest = read_bars(conn, symbol, "M1", last_n=DEFAULT_BARS)
                    publish_snapshot(redis, symbol, "M1", latest, universe.resolve(symbol).calendar)
                    rows = latest.reset_index().to_json(orient="records", date_format="iso")
                    client.set(_json_key(redis, symbol), rows, ex=3600)
                conn.rollback()

            via_redis = BarReader(postgres=reader_pg, redis=redis, s3=None)
            via_pg = BarReader(postgres=reader_pg, redis=None, s3=None)
            engine = sa.create_engine(sqlalchemy_url(schema.url("reader")), poolclass=QueuePool)
            baseline_sql = _baseline_sql(schema.schema)

            cycle = itertools.cycle(symbols)
            layers: dict[str, set[str]] = {"redis": set(), "postgres": set()}

            def project_redis() -> None:
                frame = via_redis.get(next(cycle), "M1", last_n=LAST_N)
                layers["redis"].add(frame.attrs["layer"])

            def project_pg() -> None:
                frame = via_pg.get(next(cycle), "M1", last_n=LAST_N)
                layers["postgres"].add(frame.attrs["layer"])

            def baseline_json() -> None:
                raw = client.get(_json_key(redis, next(cycle)))
                frame = pd.DataFrame(json.loads(raw))
                frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
                frame.set_index("ts").iloc[-LAST_N:]

            def baseline_read_sql() -> None:
                with engine.connect() as conn:
                    frame = pd.read_sql(
                        baseline_sql, conn, params={"symbol": next(cycle), "n": LAST_N}
                    )
                frame.iloc[::-1].set_index("ts")

            paths = {
                "redis": project_redis,
                "postgres": project_pg,
                "redis_json_rows": baseline_json,
                "postgres_read_sql": baseline_read_sql,
            }
            samples: dict[str, list[float]] = {k: [] for k in paths}
            round_p50: dict[str, list[float]] = {k: [] for k in paths}
            try:
                for _ in range(size["rounds"]):
                    for name, fn in paths.items():
                        lat = latencies(fn, size["reads"], warmup=20)
                        samples[name] += lat
                        round_p50[name].append(statistics.median(lat) * 1000)
            finally:
                engine.dispose()
        finally:
            writer.close()
            reader_pg.close()

    summary = {k: latency_summary(v) for k, v in samples.items()}
    redis_p50 = summary["redis"]["p50"]
    pg_p50 = summary["postgres"]["p50"]
    result.metrics = {
        "redis_ms": summary["redis"],
        "postgres_ms": summary["postgres"],
        "redis_p50_ms_by_round": round_p50["redis"],
        "postgres_p50_ms_by_round": round_p50["postgres"],
        "answered_by": {k: sorted(v) for k, v in layers.items()},
        "reader_stats": via_redis.stats.as_dict(),
    }
    result.baseline = {
        "redis_json_rows_ms": summary["redis_json_rows"],
        "postgres_read_sql_ms": summary["postgres_read_sql"],
        "method": "Redis: JSON rows + DataFrame(); PostgreSQL: pandas.read_sql via SQLAlchemy",
    }
    result.ratios = {
        "redis_vs_json_rows_p50": ratio(summary["redis_json_rows"]["p50"], redis_p50),
        "postgres_vs_read_sql_p50": ratio(summary["postgres_read_sql"]["p50"], pg_p50),
        "redis_vs_postgres_p50": ratio(pg_p50, redis_p50),
    }
    result.targets = [
        Target("latest 1000 bars from Redis, p50", redis_p50, "<=", TARGET_REDIS_P50_MS, "ms"),
        Target("latest 1000 bars from PostgreSQL, p50", pg_p50, "<=", TARGET_PG_P50_MS, "ms"),
    ]
    if layers["redis"] != {"redis"} or layers["postgres"] != {"postgres"}:
        result.notes.append(f"unexpected answering layers: {layers}")
    result.notes += [
        "in-process BarReader.get (decode + slice / query + frame), loopback servers",
        "p50 over every read of every round; rounds interleave project and baseline paths",
    ]
    result.elapsed_s = time.perf_counter() - started
    return result
