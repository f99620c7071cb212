"""Upsert of M1 bars into PostgreSQL: the project's path against pandas `to_sql`.

Project path: `bar_store.replace_partitions`, exactly what `db_bars` runs. Into an empty
table every partition takes the append path: one indexed probe per partition finds them empty,
and the rows go by binary COPY (encoded column-wise with numpy) straight into `ohlcv_bars`,
counted per partition. Partitions that hold rows take the careful path - COPY into a staging
table, the delete of rows the source no longer has and one `INSERT ... ON CONFLICT DO UPDATE`
with per-partition counts - which the re-run over the full table measures.

Baseline: `DataFrame.to_sql(method="multi")` through SQLAlchemy + psycopg into the same table,
a plain INSERT (to_sql cannot upsert, so the baseline does less work than the project). It is
timed on a sample (50k rows at full size) and extrapolated linearly: at ~10k rows/s, a million
rows would take minutes per repeat. Each chunk size in `BASELINE_CHUNKS` is tried and the
fastest is reported, so the ratio is against the baseline at its best.

Both run into an empty table (TRUNCATE between repeats, monthly partitions created before the
first repeat so that DDL is not timed). The re-run of the same rows over a full table (the
idempotent re-materialisation: nothing rewritten) and COPY-into-staging alone are reported too,
the latter to split client-side encoding + COPY from the server-side upsert, and a plain
`INSERT ... SELECT` from the staged rows (no ON CONFLICT), the least the server can do.

Peer: the same rows loaded with ADBC (`benchmarks.adbc_peer`), in both of the project's
shapes, each against the project doing the same server-side work: ADBC staging +
``bars/upsert_from_stage`` against the project's staging + the same statement, and ADBC's
append straight into ``ohlcv_bars`` against the pipeline path (which appends into an empty
table). The four paths are timed interleaved (TRUNCATE before each, order reversed every
other repeat) so that a noisy moment hits them alike, and after the last repeat of each the
table's contents are fingerprinted: a path that stored different rows fails the benchmark.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pandas as pd
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.pool import NullPool

from benchmarks import FX_PAIRS, BenchResult, Target, m1_rows, ratio, repeat, spread, timed
from benchmarks.adbc_peer import AdbcPeer, arrow_table, driver_version
from benchmarks.stack import BenchSchema, BenchStack
from market_assets.core.bars import BAR_COLUMNS
from market_assets.db import bootstrap
from market_assets.db.migrate import sqlalchemy_url
from market_assets.ohlcv.bar_store import STAGE_TYPES, replace_partitions
from resources import pg_binary
from resources.postgres import PostgresResource
from resources.queries import query

NAME = "upsert"
FIRST_DAY = dt.date(2024, 1, 1)
TARGET_ROWS_PER_S = 300_000.0
TARGET_RATIO = 20.0
TARGET_PEER_RATIO = 1.0  # at least as fast as ADBC doing the same server-side work
# PostgreSQL binds at most 65,535 parameters per statement: 11 columns x 5,000 rows fit.
BASELINE_CHUNKS = (1_000, 5_000)

SIZES: dict[bool, dict[str, int]] = {
    # smoke: a few seconds in all; full: the million rows.
    True: {
        "rows": 20_000,
        "baseline_rows": 2_000,
        "repeats": 2,
        "diag_repeats": 1,
        "baseline_repeats": 1,
    },
    False: {
        "rows": 1_000_000,
        "baseline_rows": 50_000,
        "repeats": 3,
        "diag_repeats": 2,
        "baseline_repeats": 3,
    },
}


def partitions_of(bars: pd.DataFrame) -> list[tuple[str, str, dt.date]]:
    keys = bars[["symbol", "timeframe", "session_date"]].drop_duplicates()
    return [(str(s), str(t), d) for s, t, d in keys.itertuples(index=False)]


def _create_month_partitions(schema: BenchSchema, bars: pd.DataFrame) -> None:
    lo = bars["ts"].min().to_pydatetime()
    hi = (bars["ts"].max() + pd.Timedelta(minutes=1)).to_pydatetime()
    with schema.connect("writer") as conn:
        timeframes = sorted(bars["timeframe"].astype(str).unique())
        conn.execute("SELECT ensure_bar_partitions(%s, %s, %s)", (lo, hi, timeframes))


def _stage_only(postgres: PostgresResource, bars: pd.DataFrame) -> None:
    """COPY into the staging table and roll back: the client + COPY share of an upsert."""
    with postgres.connection() as conn:
        try:
            postgres.load_staging(conn, "stage_bars", bars, STAGE_TYPES)
        finally:
            conn.rollback()


def _project_careful(postgres: PostgresResource, bars: pd.DataFrame) -> None:
    """The project's careful path alone, into an empty table: its COPY into staging, then
    ``bars/upsert_from_stage`` - exactly the server-side work of the ADBC peer's upsert."""
    with postgres.transaction() as conn:
        postgres.load_staging(conn, "stage_bars", bars, STAGE_TYPES)
        conn.execute(query("bars/upsert_from_stage")).fetchall()


def _encode_only(bars: pd.DataFrame) -> int:
    """The project's client-side COPY encoding alone (numpy, `resources.pg_binary`): bytes."""
    return sum(len(chunk) for chunk in pg_binary.binary_copy_chunks(bars, STAGE_TYPES))


def _fingerprint(schema: BenchSchema) -> tuple[int, str]:
    """(rows, order-independent hash of every stored value) of ``ohlcv_bars``."""
    with schema.connect() as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(sum(hashtextextended(concat_ws('|', symbol, timeframe,"
            " ts, session_date, open, high, low, close, volume, adj_factor, source), 0)"
            "::numeric), 0)::text FROM ohlcv_bars"
        ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


def _head_to_head(
    schema: BenchSchema, paths: dict[str, Any], repeats: int
) -> tuple[dict[str, list[float]], dict[str, tuple[int, str]]]:
    """Seconds of each path per repeat, interleaved, each into an emptied table, and the
    table's fingerprint after each path's last repeat."""
    samples: dict[str, list[float]] = {name: [] for name in paths}
    prints: dict[str, tuple[int, str]] = {}
    for i in range(repeats):
        order = list(paths) if i % 2 == 0 else list(reversed(paths))
        for name in order:
            schema.truncate_bars()
            seconds, _ = timed(paths[name])
            samples[name].append(seconds)
            if i == repeats - 1:
                prints[name] = _fingerprint(schema)
    return samples, prints


def _plain_insert_floor(postgres: PostgresResource, bars: pd.DataFrame) -> float:
    """Seconds of a plain `INSERT ... SELECT` from the already staged rows (staging untimed).

    No ON CONFLICT, no counts: the least the server must do to add the rows to this table
    (heap, primary key, session index, WAL). It tells a slow statement from a slow server.
    """
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in BAR_COLUMNS)
    statement = sql.SQL("INSERT INTO ohlcv_bars ({}) SELECT {} FROM stage_bars").format(cols, cols)
    with postgres.transaction() as conn:
        postgres.load_staging(conn, "stage_bars", bars, STAGE_TYPES)
        start = time.perf_counter()
        conn.execute(statement)
        return time.perf_counter() - start


def _to_sql(engine: sa.Engine, schema: str, sample: pd.DataFrame, chunk: int) -> None:
    sample.to_sql(
        "ohlcv_bars",
        engine,
        schema=schema,
        if_exists="append",
        index=False,
        method="multi",
        chunksize=chunk,
    )


def run(stack: BenchStack, smoke: bool) -> BenchResult:
    size = SIZES[smoke]
    started = time.perf_counter()
    bars = m1_rows(FX_PAIRS, FIRST_DAY, size["rows"])
    parts = partitions_of(bars)
    sample = bars.head(size["baseline_rows"]).copy()
    result = BenchResult(
        benchmark=NAME,
        mode="smoke" if smoke else "full",
        repeats=size["repeats"],
        params={
            "rows": len(bars),
            "symbols": list(FX_PAIRS),
            "partitions": len(parts),
            "first_session": str(FIRST_DAY),
            "baseline_rows": len(sample),
            "baseline_repeats": size["baseline_repeats"],
            "baseline_chunks_tried": list(BASELINE_CHUNKS),
        },
    )
    with stack.schema("upsert") as schema:
        postgres = schema.postgres()
        result.params["bulk_mode"] = postgres.effective_bulk_mode()
        result.params["dialect"] = schema.dialect
        peer = AdbcPeer(schema.url("writer"), schema.schema)
        try:
            result.params["peer_role"] = peer.current_role()
            if result.params["peer_role"] != bootstrap.WRITER:
                raise RuntimeError(f"the ADBC peer acts as {result.params['peer_role']!r}")
            _create_month_partitions(schema, bars)

            def upsert() -> Any:
                return replace_partitions(postgres, bars, parts)

            paths = {
                "project": upsert,
                "adbc_append": lambda: peer.append(bars),
                "project_careful": lambda: _project_careful(postgres, bars),
                "adbc_upsert": lambda: peer.upsert(bars),
            }
            samples, prints = _head_to_head(schema, paths, size["repeats"])
            if len(set(prints.values())) != 1 or prints["project"][0] != len(bars):
                raise RuntimeError(f"the paths stored different rows: {prints}")
            insert_s = samples["project"]
            # Diagnostics (fewer repeats): where the time of an upsert goes.
            schema.truncate_bars()
            upsert()  # untimed: the table now holds every row, as the project stored them
            # The same upsert again rewrites nothing.
            rerun_s = repeat(upsert, size["diag_repeats"])
            stage_s: list[float] = []
            peer_stage_s: list[float] = []
            for _ in range(size["diag_repeats"]):
                stage_s += repeat(lambda: _stage_only(postgres, bars), 1)
                peer_stage_s += repeat(lambda: peer.stage_only(bars), 1)
            encode_s = repeat(lambda: _encode_only(bars), size["diag_repeats"])
            arrow_s = repeat(lambda: arrow_table(bars), size["diag_repeats"])
            floor_s = []
            for _ in range(size["diag_repeats"]):
                schema.truncate_bars()
                floor_s.append(_plain_insert_floor(postgres, bars))
        finally:
            peer.close()
            postgres.close()

        engine = sa.create_engine(sqlalchemy_url(schema.url("writer")), poolclass=NullPool)
        try:
            # Each chunk size once, then the fastest again until it has its repeats.
            per_chunk: dict[int, list[float]] = {}
            for chunk in BASELINE_CHUNKS:
                per_chunk[chunk] = repeat(
                    lambda chunk=chunk: _to_sql(engine, schema.schema, sample, chunk),
                    1,
                    setup=schema.truncate_bars,
                )
            best_chunk = min(per_chunk, key=lambda c: per_chunk[c][0])
            per_chunk[best_chunk] += repeat(
                lambda: _to_sql(engine, schema.schema, sample, best_chunk),
                size["baseline_repeats"] - 1,
                setup=schema.truncate_bars,
            )
        finally:
            engine.dispose()

    insert = spread(insert_s)
    rate = len(bars) / insert["median"]
    careful_rate = len(bars) / spread(samples["project_careful"])["median"]
    peer_rate = len(bars) / spread(samples["adbc_upsert"])["median"]
    peer_append_rate = len(bars) / spread(samples["adbc_append"])["median"]
    base = spread(per_chunk[best_chunk])
    base_rate = len(sample) / base["median"]
    result.metrics = {
        "rows_per_s": rate,
        "seconds": insert,
        "rerun_unchanged_rows_per_s": len(bars) / spread(rerun_s)["median"],
        "rerun_unchanged_seconds": spread(rerun_s),
        "stage_copy_seconds": spread(stage_s),
        "stage_copy_share": ratio(spread(stage_s)["median"], insert["median"]),
        "server_plain_insert_seconds": spread(floor_s),
        "server_plain_insert_rows_per_s": len(bars) / spread(floor_s)["median"],
        "careful_rows_per_s": careful_rate,
        "careful_seconds": spread(samples["project_careful"]),
        "copy_encode_seconds": spread(encode_s),
        "copy_encode_share_of_stage": ratio(spread(encode_s)["median"], spread(stage_s)["median"]),
    }
    result.extra["peer"] = {
        "method": (
            f"ADBC (adbc-driver-postgresql {driver_version()}) from the same DataFrame: "
            "adbc_ingest of the Arrow table into a temporary staging table + the project's "
            "bars/upsert_from_stage (upsert); adbc_ingest(mode=append) into ohlcv_bars (append)"
        ),
        "driver": "adbc-driver-postgresql",
        "driver_version": driver_version(),
        "rows_per_s": peer_rate,
        "seconds": spread(samples["adbc_upsert"]),
        "append_rows_per_s": peer_append_rate,
        "append_seconds": spread(samples["adbc_append"]),
        "stage_ingest_seconds": spread(peer_stage_s),
        "arrow_convert_seconds": spread(arrow_s),
    }
    result.baseline = {
        "method": 'DataFrame.to_sql(method="multi") via SQLAlchemy + psycopg, plain INSERT',
        "chunksize": best_chunk,
        "rows_per_s": base_rate,
        "sample_seconds": base,
        "by_chunksize_rows_per_s": {str(c): len(sample) / s[0] for c, s in per_chunk.items()},
        "extrapolated_seconds_for_all_rows": len(bars) / base_rate,
    }
    result.ratios = {
        "speedup_vs_to_sql": ratio(rate, base_rate),
        "vs_adbc_upsert": ratio(careful_rate, peer_rate),
        "vs_adbc_append": ratio(rate, peer_append_rate),
        "pipeline_vs_adbc_upsert": ratio(rate, peer_rate),
        "stage_vs_adbc_stage": ratio(spread(peer_stage_s)["median"], spread(stage_s)["median"]),
    }
    result.targets = [
        Target("upsert rows per second", rate, ">=", TARGET_ROWS_PER_S, "rows/s"),
        Target("speedup vs to_sql(method=multi)", ratio(rate, base_rate), ">=", TARGET_RATIO, "x"),
        Target(
            "staging + upsert vs ADBC staging + the same upsert SQL",
            ratio(careful_rate, peer_rate),
            ">=",
            TARGET_PEER_RATIO,
            "x",
        ),
        Target(
            "pipeline path vs ADBC append into ohlcv_bars",
            ratio(rate, peer_append_rate),
            ">=",
            TARGET_PEER_RATIO,
            "x",
        ),
    ]
    result.notes = [
        f"baseline timed on the first {len(sample)} rows and extrapolated linearly to "
        f"{len(bars)} rows",
        "both into an empty table (TRUNCATE between repeats); partitions created beforehand",
        "baseline is a plain INSERT (to_sql cannot upsert); the project also counts inserted/"
        "revised rows per partition and deletes rows the source no longer has",
        "peer (ADBC) timed interleaved with the project on the same server, role and rows, "
        "TRUNCATE before each; its time includes the DataFrame -> Arrow conversion "
        "(peer.arrow_convert_seconds); all four paths left identical table contents",
    ]
    result.elapsed_s = time.perf_counter() - started
    return result
