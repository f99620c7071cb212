"""The TimescaleDB path, proven on PGlite+TimescaleDB (or any server in the `timescale_url`).

These tests are the experiments behind docs/timescale-lite.md and sql/drafts/timescale_bars.sql:
the draft DDL (hypertable, compression, retention, hierarchical continuous aggregates) is run
as written, every policy is driven with CALL run_job() because the PGlite build has no
background workers, the rollups are checked against a plain GROUP BY over the raw bars, and the
write path (INSERT ... SELECT FROM unnest(...) ON CONFLICT, no COPY) is timed. Measured numbers
are printed (pytest -s) and written to artifacts/timescale-lite.json.

One connection at a time: every test opens and closes its own, never two at once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import struct
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

pytestmark = [pytest.mark.timescale, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
DRAFT = ROOT / "sql" / "drafts" / "timescale_bars.sql"
ARTIFACT = ROOT / "artifacts" / "timescale-lite.json"
SCHEMA = "market"
ORIGIN = "2000-01-01 00:00+00"
CONNECT_TIMEOUT = 20  # s; a connect that waits longer is queued behind a connection left open

COLUMNS = (
    "symbol",
    "timeframe",
    "ts",
    "session_date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "adj_factor",
    "source",
)

# The write path: one statement per batch, columns as arrays, no COPY (it crashes PGlite).
UPSERT_TEXT = """
INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close, volume,
                        adj_factor, source)
SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::date[], %s::float8[],
                     %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::float8[],
                     %s::text[])
ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET
    session_date = EXCLUDED.session_date, open = EXCLUDED.open, high = EXCLUDED.high,
    low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
    adj_factor = EXCLUDED.adj_factor, source = EXCLUDED.source, ingested_at = now()
"""
# %b: psycopg sends the arrays in binary, which the WASM server parses ~2x faster than text.
UPSERT_BINARY = UPSERT_TEXT.replace("%s", "%b")
# Times as int8 microseconds since the epoch and dates as int4 days: no datetime objects.
UPSERT_EPOCH = """
INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close, volume,
                        adj_factor, source)
SELECT s, tf, TIMESTAMPTZ 'epoch' + us * INTERVAL '1 microsecond', DATE '1970-01-01' + d,
       o, h, l, c, v, a, src
FROM unnest(%b::text[], %b::text[], %b::int8[], %b::int4[], %b::float8[], %b::float8[],
            %b::float8[], %b::float8[], %b::float8[], %b::float8[], %b::text[])
     AS u(s, tf, us, d, o, h, l, c, v, a, src)
ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET
    session_date = EXCLUDED.session_date, open = EXCLUDED.open, high = EXCLUDED.high,
    low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
    adj_factor = EXCLUDED.adj_factor, source = EXCLUDED.source, ingested_at = now()
"""
INSERT_VALUES = """
INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close, volume,
                        adj_factor, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET close = EXCLUDED.close
"""

CAGGS = ("ohlcv_m5", "ohlcv_m15", "ohlcv_m30", "ohlcv_h1", "ohlcv_h4", "ohlcv_d1")
WIDTHS = {
    "ohlcv_m5": "5 minutes",
    "ohlcv_m15": "15 minutes",
    "ohlcv_m30": "30 minutes",
    "ohlcv_h1": "1 hour",
    "ohlcv_h4": "4 hours",
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def draft_parts() -> tuple[str, str]:
    """The draft's UP and DOWN sections, each one multi-statement string."""
    text = DRAFT.read_text(encoding="utf-8")
    up, down = text.split("-- ==== DOWN ====")
    return up.split("-- ==== UP ====")[1], down


def connect(url: str, schema: str | None = SCHEMA, **kwargs: Any) -> psycopg.Connection:
    """Autocommit connection; search_path through the startup `options`, as the app does."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    if schema is not None:
        kwargs.setdefault("options", f"-c search_path={schema},public")
    return psycopg.connect(url, **kwargs)


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def equity_bars(symbol: str, first: dt.date, days: int, rng: np.random.Generator) -> pd.DataFrame:
    """NYSE-like M1 bars: weekdays 14:30-21:00 UTC, session_date = the UTC date."""
    frames = []
    for i in range(days):
        day = first + dt.timedelta(days=i)
        if day.weekday() >= 5:
            continue
        start = pd.Timestamp(day, tz="UTC") + pd.Timedelta(hours=14, minutes=30)
        ts = pd.date_range(start, periods=390, freq="min")
        frames.append(pd.DataFrame({"ts": ts, "session_date": day}))
    return _prices(symbol, pd.concat(frames, ignore_index=True), rng)


def fx_bars(symbol: str, first: dt.date, days: int, rng: np.random.Generator) -> pd.DataFrame:
    """FX-like M1 bars: Sunday 22:00 to Friday 22:00 UTC; a session ends at 22:00 UTC."""
    start = pd.Timestamp(first, tz="UTC")
    ts = pd.date_range(start, start + pd.Timedelta(days=days), freq="min", inclusive="left")
    shifted = ts + pd.Timedelta(hours=2)  # 22:00 UTC opens the next day's session
    trading = shifted.weekday < 5  # Sun 22:00..Fri 22:00 UTC is Mon..Fri shifted
    ts = ts[trading]
    sessions = (ts + pd.Timedelta(hours=2)).date
    return _prices(symbol, pd.DataFrame({"ts": ts, "session_date": sessions}), rng)


def _prices(symbol: str, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(frame)
    close = 100 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = rng.uniform(0, 0.1, n)
    frame = frame.assign(
        symbol=symbol,
        timeframe="M1",
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        volume=rng.integers(0, 1000, n).astype("float64"),  # integers: sums are exact
        adj_factor=1.0,
        source="test",
    )
    return frame[list(COLUMNS)]


def column_lists(frame: pd.DataFrame) -> list[list[Any]]:
    """One Python list per column: psycopg adapts lists, not numpy arrays."""
    return [frame[c].tolist() for c in COLUMNS]


def epoch_columns(frame: pd.DataFrame) -> list[Any]:
    us = frame["ts"].dt.as_unit("us").astype("int64").tolist()  # epoch µs, whatever the unit
    days = [(d - dt.date(1970, 1, 1)).days for d in frame["session_date"]]
    lists = column_lists(frame)
    return [lists[0], lists[1], us, days, *lists[4:]]


def write_batches(
    conn: psycopg.Connection, statement: str, frame: pd.DataFrame, batch: int, epoch: bool = False
) -> float:
    """Write the frame in batches of `batch` rows; returns rows per second."""
    started = time.perf_counter()
    for lo in range(0, len(frame), batch):
        part = frame.iloc[lo : lo + batch]
        conn.execute(statement, epoch_columns(part) if epoch else column_lists(part))
    return len(frame) / (time.perf_counter() - started)


def refresh(conn: psycopg.Connection, cagg: str) -> float:
    """Full-range refresh; must run outside a transaction block (autocommit)."""
    started = time.perf_counter()
    conn.execute("CALL refresh_continuous_aggregate(%s, NULL, NULL)", (f"{SCHEMA}.{cagg}",))
    return time.perf_counter() - started


def job_id(conn: psycopg.Connection, proc: str, table: str) -> int:
    """The policy job of a hypertable or cagg (2.23 names the cagg view in the jobs view)."""
    row = conn.execute(
        """
        SELECT job_id FROM timescaledb_information.jobs
        WHERE proc_name = %s AND hypertable_schema = %s AND hypertable_name = %s
        """,
        (proc, SCHEMA, table),
    ).fetchone()
    assert row is not None, f"no {proc} job for {table}"
    return int(row[0])


def chunk_stats(conn: psycopg.Connection) -> tuple[int, int]:
    total, compressed = conn.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE is_compressed)
        FROM timescaledb_information.chunks
        WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'
        """,
        (SCHEMA,),
    ).fetchone()  # type: ignore[misc]
    return int(total), int(compressed)


def rows_of(
    conn: psycopg.Connection, query: str | sql.Composable, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    return sorted(tuple(r) for r in conn.execute(query, params).fetchall())


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured() -> Iterator[dict[str, Any]]:
    """Numbers the tests measured; printed and written to artifacts/ at the end."""
    numbers: dict[str, Any] = {}
    yield numbers
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(json.dumps(numbers, indent=2, default=str) + "\n", encoding="utf-8")
    print("\nTimescale-lite measurements:\n" + json.dumps(numbers, indent=2, default=str))


@pytest.fixture(scope="module")
def bars_db(timescale_url: str, measured: dict[str, Any]) -> Iterator[str]:
    """Schema `market` with the draft DDL applied as one multi-statement string."""
    up, down = draft_parts()
    with connect(timescale_url, schema=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    with connect(timescale_url) as conn:
        started = time.perf_counter()
        conn.execute(up)  # no parameters: psycopg sends it as one simple query
        measured["draft_up_seconds"] = round(time.perf_counter() - started, 3)
    yield timescale_url
    with connect(timescale_url) as conn:
        conn.execute(down)
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


# --------------------------------------------------------------------------------------------
# 1. extension, licence, version
# --------------------------------------------------------------------------------------------


def test_extension_licence_and_version(
    timescale_url: str, pglite_server: Any, measured: dict[str, Any]
) -> None:
    with connect(timescale_url, schema=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        licence, version, server = conn.execute(
            """
            SELECT current_setting('timescaledb.license', true),
                   (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
                   current_setting('server_version')
            """
        ).fetchone()  # type: ignore[misc]
    measured.update(timescaledb_license=licence, timescaledb_version=version, server_version=server)
    if pglite_server is not None:
        measured["pglite_startup_seconds"] = round(pglite_server.startup_seconds, 2)
    # The DESIGN's dialect rule: community licence => `timescale` dialect.
    assert licence == "timescale"
    assert version.startswith("2.")


# --------------------------------------------------------------------------------------------
# 2. hypertable, compression (both APIs), retention, policies through run_job
# --------------------------------------------------------------------------------------------


def test_draft_creates_hypertable_compression_and_jobs(bars_db: str) -> None:
    with connect(bars_db) as conn:
        dims = conn.execute(
            """
            SELECT column_name, time_interval FROM timescaledb_information.dimensions
            WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'
            """,
            (SCHEMA,),
        ).fetchall()
        assert dims == [("ts", dt.timedelta(days=7))]
        settings = conn.execute(
            """
            SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc
            FROM timescaledb_information.compression_settings
            WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'
            ORDER BY attname
            """,
            (SCHEMA,),
        ).fetchall()
        assert settings == [
            ("symbol", 1, None, None),
            ("timeframe", 2, None, None),
            ("ts", None, 1, False),
        ]
        procs = conn.execute(
            """
            SELECT proc_name, count(*) FROM timescaledb_information.jobs
            WHERE hypertable_schema = %s GROUP BY 1 ORDER BY 1
            """,
            (SCHEMA,),
        ).fetchall()
        assert procs == [
            ("policy_compression", 1),
            ("policy_refresh_continuous_aggregate", 6),
            ("policy_retention", 1),
        ]
        caggs = conn.execute(
            """
            SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates
            WHERE view_schema = %s ORDER BY view_name
            """,
            (SCHEMA,),
        ).fetchall()
        assert sorted(c for c, _ in caggs) == sorted(CAGGS)
        assert all(not materialized_only for _, materialized_only in caggs)


def test_columnstore_api_also_works(bars_db: str) -> None:
    """The 2.18+ spelling (enable_columnstore / add_columnstore_policy) on a probe table."""
    with connect(bars_db) as conn:
        conn.execute(
            """
            CREATE TABLE columnstore_probe (symbol text NOT NULL, timeframe text NOT NULL,
                                            ts timestamptz NOT NULL, close float8 NOT NULL);
            SELECT create_hypertable('columnstore_probe', by_range('ts', INTERVAL '7 days'));
            ALTER TABLE columnstore_probe SET (timescaledb.enable_columnstore = true,
                timescaledb.segmentby = 'symbol, timeframe', timescaledb.orderby = 'ts DESC');
            CALL add_columnstore_policy('columnstore_probe', after => INTERVAL '30 days');
            INSERT INTO columnstore_probe
            SELECT 'X', 'M1', t, 1 FROM generate_series(now() - INTERVAL '90 days',
                                                         now(), INTERVAL '1 hour') t;
            """
        )
        (job,) = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs "
            "WHERE hypertable_schema = %s AND hypertable_name = 'columnstore_probe'",
            (SCHEMA,),
        ).fetchone()  # type: ignore[misc]
        conn.execute("CALL run_job(%s)", (job,))
        total, compressed = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_compressed) "
            "FROM timescaledb_information.chunks "
            "WHERE hypertable_schema = %s AND hypertable_name = 'columnstore_probe'",
            (SCHEMA,),
        ).fetchone()  # type: ignore[misc]
        assert 0 < compressed < total
        conn.execute("DROP TABLE columnstore_probe")


def test_compression_and_retention_policies_via_run_job(
    bars_db: str, measured: dict[str, Any]
) -> None:
    """Background workers never run here, so each policy is run by hand with CALL run_job()."""
    with connect(bars_db) as conn:
        # Hourly 'H1' bars (outside the M1 rollups): 2 years + 7 weeks ago .. 300 days ago.
        conn.execute(
            """
            INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low,
                                    close, volume, source)
            SELECT s, 'H1', t, (t AT TIME ZONE 'UTC')::date, 1, 2, 0.5, 1.5, 100, 'test'
            FROM unnest(ARRAY['POL_A', 'POL_B']) s,
                 generate_series(date_trunc('hour', now()) - INTERVAL '2 years 49 days',
                                 now() - INTERVAL '300 days', INTERVAL '1 hour') t
            """
        )
        before_rows = conn.execute(
            "SELECT count(*) FROM ohlcv_bars WHERE timeframe = 'H1'"
        ).fetchone()[0]  # type: ignore[index]
        total_before, compressed_before = chunk_stats(conn)

        started = time.perf_counter()
        conn.execute("CALL run_job(%s)", (job_id(conn, "policy_compression", "ohlcv_bars"),))
        compress_seconds = time.perf_counter() - started
        total_mid, compressed_mid = chunk_stats(conn)
        assert compressed_mid > compressed_before
        uncompressed_old = conn.execute(
            """
            SELECT count(*) FROM timescaledb_information.chunks
            WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'
              AND range_end < now() - INTERVAL '30 days' AND NOT is_compressed
            """,
            (SCHEMA,),
        ).fetchone()[0]  # type: ignore[index]
        assert uncompressed_old == 0
        stats = conn.execute(
            "SELECT before_compression_total_bytes, after_compression_total_bytes "
            "FROM hypertable_compression_stats(%s)",
            (f"{SCHEMA}.ohlcv_bars",),
        ).fetchone()
        # Compressed rows still read back, and still count.
        assert (
            conn.execute("SELECT count(*) FROM ohlcv_bars WHERE timeframe = 'H1'").fetchone()[0]  # type: ignore[index]
            == before_rows
        )

        started = time.perf_counter()
        conn.execute("CALL run_job(%s)", (job_id(conn, "policy_retention", "ohlcv_bars"),))
        retention_seconds = time.perf_counter() - started
        total_after, _ = chunk_stats(conn)
        assert total_after < total_mid
        too_old = conn.execute(
            "SELECT count(*) FROM ohlcv_bars WHERE ts < now() - INTERVAL '2 years 7 days'"
        ).fetchone()[0]  # type: ignore[index]
        assert too_old == 0
        after_rows = conn.execute(
            "SELECT count(*) FROM ohlcv_bars WHERE timeframe = 'H1'"
        ).fetchone()[0]  # type: ignore[index]
        assert 0 < after_rows < before_rows
        # run_job() does not feed job_stats here (no scheduler); recorded for the docs.
        job_stats = conn.execute(
            "SELECT count(*) FILTER (WHERE total_runs > 0) FROM timescaledb_information.job_stats "
            "WHERE hypertable_schema = %s",
            (SCHEMA,),
        ).fetchone()[0]  # type: ignore[index]
    measured["policies"] = {
        "chunks_before": total_before,
        "compressed_before": compressed_before,
        "compressed_after_compression_job": compressed_mid,
        "chunks_after_retention_job": total_after,
        "rows_before_retention": before_rows,
        "rows_after_retention": after_rows,
        "compression_job_seconds": round(compress_seconds, 3),
        "retention_job_seconds": round(retention_seconds, 3),
        "bytes_before_compression": stats[0] if stats else None,
        "bytes_after_compression": stats[1] if stats else None,
        "job_stats_rows_with_runs": job_stats,
    }


# --------------------------------------------------------------------------------------------
# 3. hierarchical continuous aggregates
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cagg_symbols(bars_db: str, measured: dict[str, Any]) -> tuple[str, ...]:
    """Nine days of M1 bars for an equity and an FX pair, ending four days ago, refreshed."""
    rng = np.random.default_rng(7)
    first = today_utc() - dt.timedelta(days=13)
    frame = pd.concat(
        [equity_bars("CG_EQ", first, 9, rng), fx_bars("CG_FX", first, 9, rng)],
        ignore_index=True,
    )
    with connect(bars_db) as conn:
        conn.execute(UPSERT_BINARY, column_lists(frame))
        measured["cagg_refresh_seconds"] = {c: round(refresh(conn, c), 3) for c in CAGGS}
    measured["cagg_source_rows"] = len(frame)
    return ("CG_EQ", "CG_FX")


def expected_intraday(width: str, with_session: bool) -> str:
    """A plain GROUP BY over the raw M1 bars: what a rollup of `width` must hold."""
    session = "session_date," if with_session else ""
    return textwrap.dedent(
        f"""
        SELECT time_bucket(INTERVAL '{width}', ts, origin => TIMESTAMPTZ '{ORIGIN}') AS b,
               symbol, {session}
               min(ts), (array_agg(open ORDER BY ts))[1], max(high), min(low),
               (array_agg(close ORDER BY ts DESC))[1], sum(volume), count(*)
        FROM ohlcv_bars WHERE timeframe = 'M1' AND symbol = ANY(%s)
        GROUP BY b, symbol {"" if not with_session else ", session_date"}
        """  # noqa: S608 - width and ORIGIN are constants of this module
    )


@pytest.mark.parametrize("cagg", ["ohlcv_m5", "ohlcv_m15", "ohlcv_m30", "ohlcv_h1", "ohlcv_h4"])
def test_intraday_rollups_match_plain_group_by(
    bars_db: str, cagg_symbols: tuple[str, ...], cagg: str
) -> None:
    with_session = cagg != "ohlcv_h4"
    session = ", session_date" if with_session else ""
    with connect(bars_db) as conn:
        actual = rows_of(
            conn,
            sql.SQL(
                "SELECT ts, symbol{session}, first_ts, open, high, low, close, volume, bar_count "
                "FROM {cagg} WHERE symbol = ANY(%s)"
            ).format(session=sql.SQL(session), cagg=sql.Identifier(cagg)),  # type: ignore[arg-type]
            (list(cagg_symbols),),
        )
        expected = rows_of(
            conn, expected_intraday(WIDTHS[cagg], with_session), (list(cagg_symbols),)
        )
    assert len(actual) == len(expected) > 0
    assert actual == expected


def test_h4_is_aligned_to_midnight_and_may_span_two_fx_sessions(
    bars_db: str, cagg_symbols: tuple[str, ...]
) -> None:
    with connect(bars_db) as conn:
        hours = {
            h
            for (h,) in conn.execute(
                "SELECT DISTINCT extract(hour FROM ts AT TIME ZONE 'UTC')::int FROM ohlcv_h4"
            )
        }
        assert hours <= {0, 4, 8, 12, 16, 20}
        spanning = conn.execute(
            """
            SELECT count(*) FROM (
                SELECT time_bucket(INTERVAL '4 hours', ts, origin => %s::timestamptz) b
                FROM ohlcv_bars WHERE symbol = 'CG_FX' AND timeframe = 'M1'
                GROUP BY b HAVING count(DISTINCT session_date) > 1) x
            """,
            (ORIGIN,),
        ).fetchone()[0]  # type: ignore[index]
    assert spanning > 0  # the 20:00 bucket holds 20:00-21:59 of one session, 22:00- of the next


def test_d1_is_one_row_per_session_labelled_by_its_first_bar(
    bars_db: str, cagg_symbols: tuple[str, ...]
) -> None:
    with connect(bars_db) as conn:
        actual = rows_of(
            conn,
            "SELECT symbol, session_date, ts, open, high, low, close, volume, bar_count "
            "FROM ohlcv_d1 WHERE symbol = ANY(%s)",
            (list(cagg_symbols),),
        )
        expected = rows_of(
            conn,
            """
            SELECT symbol, session_date, min(ts), (array_agg(open ORDER BY ts))[1], max(high),
                   min(low), (array_agg(close ORDER BY ts DESC))[1], sum(volume), count(*)
            FROM ohlcv_bars WHERE timeframe = 'M1' AND symbol = ANY(%s)
            GROUP BY symbol, session_date
            """,
            (list(cagg_symbols),),
        )
        opens = {(s, t.astimezone(dt.UTC).time()) for s, _, t, *_ in actual if s == "CG_EQ"}
    assert len(actual) == len(expected) > 0
    assert actual == expected
    assert opens == {("CG_EQ", dt.time(14, 30))}  # the real open, not the 14:00 H1 bucket


def test_a_revised_bar_reaches_every_level_after_refresh(
    bars_db: str, cagg_symbols: tuple[str, ...]
) -> None:
    """An upsert of an already materialized bar is picked up by the invalidation log."""
    with connect(bars_db) as conn:
        ts, high = conn.execute(
            "SELECT ts, high FROM ohlcv_bars WHERE symbol = 'CG_EQ' AND timeframe = 'M1' "
            "ORDER BY ts LIMIT 1 OFFSET 100"
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "UPDATE ohlcv_bars SET high = %s WHERE symbol = 'CG_EQ' AND timeframe = 'M1' "
            "AND ts = %s",
            (high + 1000, ts),
        )
        for cagg in CAGGS:
            refresh(conn, cagg)
        for cagg in CAGGS:
            top = conn.execute(
                sql.SQL("SELECT max(high) FROM {} WHERE symbol = 'CG_EQ'").format(
                    sql.Identifier(cagg)
                )
            ).fetchone()[0]  # type: ignore[index]
            assert top == high + 1000, cagg


def test_refresh_cannot_run_in_a_transaction_block(bars_db: str) -> None:
    with connect(bars_db, autocommit=False) as conn:
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            conn.execute("CALL refresh_continuous_aggregate('ohlcv_m5', NULL, NULL)")
        conn.rollback()


def test_real_time_aggregation_shows_unrefreshed_bars_at_every_level(
    bars_db: str, cagg_symbols: tuple[str, ...], measured: dict[str, Any]
) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("min")
    ts = pd.date_range(now - pd.Timedelta(minutes=90), periods=60, freq="min")
    frame = pd.DataFrame({"ts": ts, "session_date": ts.date})
    frame = _prices("RT_FX", frame, np.random.default_rng(1))
    with connect(bars_db) as conn:
        conn.execute(UPSERT_BINARY, column_lists(frame))
        seen = {
            cagg: conn.execute(
                sql.SQL("SELECT coalesce(sum(bar_count), 0) FROM {} WHERE symbol = 'RT_FX'").format(
                    sql.Identifier(cagg)
                )
            ).fetchone()[0]  # type: ignore[index]
            for cagg in CAGGS
        }
        conn.execute("ALTER MATERIALIZED VIEW ohlcv_h1 SET (timescaledb.materialized_only = true)")
        hidden = conn.execute("SELECT count(*) FROM ohlcv_h1 WHERE symbol = 'RT_FX'").fetchone()[0]  # type: ignore[index]
        conn.execute("ALTER MATERIALIZED VIEW ohlcv_h1 SET (timescaledb.materialized_only = false)")
    measured["real_time_bar_counts"] = seen
    assert seen == dict.fromkeys(CAGGS, 60)
    assert hidden == 0


def test_cagg_refresh_policy_via_run_job(bars_db: str, cagg_symbols: tuple[str, ...]) -> None:
    yesterday = pd.Timestamp(today_utc() - dt.timedelta(days=1), tz="UTC") + pd.Timedelta(hours=9)
    ts = pd.date_range(yesterday, periods=30, freq="min")
    frame = _prices(
        "PJ_FX", pd.DataFrame({"ts": ts, "session_date": ts.date}), np.random.default_rng(2)
    )
    with connect(bars_db) as conn:
        conn.execute(UPSERT_BINARY, column_lists(frame))
        conn.execute("ALTER MATERIALIZED VIEW ohlcv_m5 SET (timescaledb.materialized_only = true)")
        try:
            count = "SELECT coalesce(sum(bar_count), 0) FROM ohlcv_m5 WHERE symbol = 'PJ_FX'"
            before = conn.execute(count).fetchone()[0]  # type: ignore[index]
            job = job_id(conn, "policy_refresh_continuous_aggregate", "ohlcv_m5")
            conn.execute("CALL run_job(%s)", (job,))
            after = conn.execute(count).fetchone()[0]  # type: ignore[index]
        finally:
            conn.execute(
                "ALTER MATERIALIZED VIEW ohlcv_m5 SET (timescaledb.materialized_only = false)"
            )
    assert (before, after) == (0, 30)


# --------------------------------------------------------------------------------------------
# 4. the write path without COPY
# --------------------------------------------------------------------------------------------


def test_unnest_upsert_throughput(bars_db: str, measured: dict[str, Any]) -> None:
    n_symbols, per_symbol = 10, 10_000
    start = pd.Timestamp(today_utc() - dt.timedelta(days=200), tz="UTC")
    ts = pd.date_range(start, periods=per_symbol, freq="min")
    rng = np.random.default_rng(3)
    frame = pd.concat(
        [
            _prices(f"TP{i:02d}", pd.DataFrame({"ts": ts, "session_date": ts.date}), rng)
            for i in range(n_symbols)
        ],
        ignore_index=True,
    )
    total = len(frame)
    results: dict[str, int] = {}
    count = "SELECT count(*), sum(close) FROM ohlcv_bars WHERE symbol LIKE 'TP%'"
    with connect(bars_db) as conn:
        other = frame.assign(symbol=frame["symbol"].str.replace("TP", "TQ"))
        results["insert_binary_10k"] = round(write_batches(conn, UPSERT_BINARY, other, 10_000))
        results["insert_text_10k"] = round(write_batches(conn, UPSERT_TEXT, frame, 10_000))
        results["upsert_text_10k"] = round(write_batches(conn, UPSERT_TEXT, frame, 10_000))
        results["upsert_binary_10k"] = round(write_batches(conn, UPSERT_BINARY, frame, 10_000))
        results["upsert_binary_50k"] = round(write_batches(conn, UPSERT_BINARY, frame, 50_000))
        frame = frame.assign(close=frame["close"] + 1)
        results["upsert_epoch_int_50k"] = round(
            write_batches(conn, UPSERT_EPOCH, frame, 50_000, epoch=True)
        )
        rows, close_sum = conn.execute(count).fetchone()  # type: ignore[misc]
        assert rows == total
        assert close_sum == pytest.approx(frame["close"].sum())

        # Upsert into compressed chunks: compress them, then revise 10k bars.
        conn.execute(
            """
            SELECT compress_chunk(c, if_not_compressed => true)
            FROM show_chunks('ohlcv_bars', newer_than => %(lo)s::timestamptz,
                             older_than => %(hi)s::timestamptz) c
            """,
            {"lo": start - pd.Timedelta(days=8), "hi": start + pd.Timedelta(days=15)},
        )
        compressed = conn.execute(
            """
            SELECT count(*) FROM timescaledb_information.chunks
            WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars' AND is_compressed
              AND range_start <= %s AND range_end > %s
            """,
            (SCHEMA, start, start),
        ).fetchone()[0]  # type: ignore[index]
        assert compressed == 1
        revised = frame.iloc[::10].assign(close=-1.0)
        results["upsert_binary_into_compressed_10k"] = round(
            write_batches(conn, UPSERT_BINARY, revised, 10_000)
        )
        rows, revised_rows = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE close = -1) FROM ohlcv_bars "
            "WHERE symbol LIKE 'TP%'"
        ).fetchone()  # type: ignore[misc]
        assert (rows, revised_rows) == (total, len(revised))
    measured["rows_per_second_100k"] = results


def test_executemany_works_in_pipeline_mode(bars_db: str, measured: dict[str, Any]) -> None:
    start = pd.Timestamp(today_utc() - dt.timedelta(days=150), tz="UTC")
    ts = pd.date_range(start, periods=5_000, freq="min")
    frame = _prices(
        "EM_FX", pd.DataFrame({"ts": ts, "session_date": ts.date}), np.random.default_rng(4)
    )
    rows = list(zip(*column_lists(frame), strict=True))
    with connect(bars_db) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(INSERT_VALUES, rows)
        rate = len(rows) / (time.perf_counter() - started)
        written = conn.execute("SELECT count(*) FROM ohlcv_bars WHERE symbol = 'EM_FX'").fetchone()
        assert written == (len(rows),)
    measured["executemany_rows_per_second_5k"] = round(rate)


def test_numpy_arrays_need_tolist(bars_db: str) -> None:
    """psycopg adapts lists and numpy scalars, not ndarrays: pass Series.tolist()."""
    values = np.array([1.5, 2.5])
    with connect(bars_db) as conn:
        with pytest.raises(psycopg.ProgrammingError, match="ndarray"):
            conn.execute("SELECT %s::float8[]", (values,))
        assert conn.execute("SELECT %s::float8[]", (values.tolist(),)).fetchone() == ([1.5, 2.5],)
        assert conn.execute("SELECT %s::float8", (np.float64(1.5),)).fetchone() == (1.5,)


def test_copy_from_stdin_is_refused_and_the_server_survives(
    bars_db: str, pglite_server: Any
) -> None:
    if pglite_server is None:
        pytest.skip("COPY refusal is a property of pglite/server.mjs")
    with connect(bars_db) as conn:
        conn.execute("CREATE TEMP TABLE copy_probe (a int, b text)")
        with pytest.raises(psycopg.errors.FeatureNotSupported, match="unnest"):
            with conn.cursor().copy("COPY copy_probe (a, b) FROM STDIN") as copy:
                copy.write_row((1, "x"))
        conn.execute("INSERT INTO copy_probe VALUES (2, 'y')")
        with conn.cursor().copy("COPY copy_probe TO STDOUT") as copy:
            out = list(copy.rows())
    assert out == [("2", "y")]
    assert pglite_server.running


# --------------------------------------------------------------------------------------------
# 5. password authentication
# --------------------------------------------------------------------------------------------


def test_wrong_or_missing_password_is_refused(timescale_url: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(timescale_url)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(**{**info, "password": "not-the-password"}, connect_timeout=10).close()
    no_password = {k: v for k, v in info.items() if k != "password"}
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(**no_password, connect_timeout=10, passfile="/dev/null").close()
    with connect(timescale_url, schema=None) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_sslmode_prefer_falls_back_to_plain(timescale_url: str, pglite_server: Any) -> None:
    """libpq's default sslmode=prefer works: server.mjs answers the SSLRequest with "N"."""
    if pglite_server is None:
        pytest.skip("a property of pglite/server.mjs")
    info = psycopg.conninfo.conninfo_to_dict(timescale_url)
    with psycopg.connect(**{**info, "sslmode": "prefer"}, connect_timeout=10) as conn:
        assert conn.pgconn.ssl_in_use is False


# --------------------------------------------------------------------------------------------
# 6. what a migration tool and a pool of one need, and what does not work
# --------------------------------------------------------------------------------------------


def test_session_state_does_not_leak_between_connections(timescale_url: str) -> None:
    with connect(timescale_url, schema=None, autocommit=False) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.leak_probe (a int)")
        conn.commit()
        conn.execute("SET search_path = pg_temp")
        conn.execute("SET statement_timeout = '123s'")
        conn.execute("PREPARE leak_stmt AS SELECT 1")
        conn.execute("CREATE TEMP TABLE leak_temp (a int)")
        conn.execute("SELECT pg_advisory_lock(4242)")
        conn.execute("LISTEN leak_channel")
        conn.execute("INSERT INTO public.leak_probe VALUES (1)")  # left uncommitted
        conn.close()  # with the transaction still open: nobody sends ROLLBACK
    with connect(timescale_url, schema=None) as conn:
        state = conn.execute(
            """
            SELECT current_setting('search_path'), current_setting('statement_timeout'),
                   (SELECT count(*) FROM pg_prepared_statements),
                   (SELECT count(*) FROM pg_class WHERE relname = 'leak_temp'),
                   (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'),
                   (SELECT count(*) FROM pg_listening_channels()),
                   (SELECT count(*) FROM public.leak_probe),
                   current_user, transaction_timestamp() = statement_timestamp()
            """
        ).fetchone()
        conn.execute("DROP TABLE public.leak_probe")
    assert state == ('"$user", public', "0", 0, 0, 0, 0, 0, "postgres", True)


def test_startup_options_application_name_and_roles(timescale_url: str) -> None:
    with connect(timescale_url, schema=None) as conn:
        conn.execute(
            """
            DROP SCHEMA IF EXISTS role_probe CASCADE;
            CREATE SCHEMA role_probe;
            DO $$ BEGIN
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tsl_reader') THEN
                    CREATE ROLE tsl_reader LOGIN PASSWORD 'ignored';
                END IF;
            END $$;
            ALTER ROLE tsl_reader PASSWORD 'changed';
            CREATE TABLE role_probe.t (a int);
            GRANT USAGE ON SCHEMA role_probe TO tsl_reader;
            GRANT SELECT ON role_probe.t TO tsl_reader;
            """
        )
    info = psycopg.conninfo.conninfo_to_dict(timescale_url)
    with psycopg.connect(
        **{**info, "user": "tsl_reader"},
        options="-c search_path=role_probe -c statement_timeout=5s",
        application_name="tsl-test",
        autocommit=True,
        connect_timeout=CONNECT_TIMEOUT,
    ) as conn:
        seen = conn.execute(
            "SELECT current_user, current_setting('search_path'), "
            "current_setting('statement_timeout'), current_setting('application_name')"
        ).fetchone()
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO t VALUES (1)")
    assert seen == ("tsl_reader", "role_probe", "5s", "tsl-test")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(**{**info, "user": "no_such_role"}, connect_timeout=10).close()
    with connect(timescale_url, schema=None) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)
        conn.execute("DROP SCHEMA role_probe CASCADE; DROP ROLE tsl_reader")


def test_psycopg_pool_of_one(timescale_url: str) -> None:
    from psycopg_pool import ConnectionPool

    errors: list[BaseException] = []
    with ConnectionPool(
        timescale_url,
        min_size=1,
        max_size=1,
        timeout=60,
        check=ConnectionPool.check_connection,
        kwargs={"autocommit": True, "options": "-c search_path=public"},
    ) as pool:
        pool.wait(timeout=30)

        def worker(i: int) -> None:
            try:
                for _ in range(5):
                    with pool.connection() as conn:
                        assert conn.execute("SELECT %s::int", (i,)).fetchone() == (i,)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stats = pool.get_stats()
    assert errors == []
    assert stats["connections_num"] == 1  # one physical connection served 20 borrowings


def test_sqlalchemy_nullpool_transactional_ddl_and_multi_statement(
    pglite_server: Any, timescale_url: str
) -> None:
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.pool import NullPool

    url = "postgresql+psycopg" + timescale_url.removeprefix("postgresql")
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "DROP SCHEMA IF EXISTS alembic_probe CASCADE; CREATE SCHEMA alembic_probe"
            )
        with engine.begin() as conn:  # the alembic_version table as Alembic creates it
            conn.exec_driver_sql(
                "CREATE TABLE alembic_probe.alembic_version (version_num VARCHAR(32) NOT NULL, "
                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
            conn.execute(text("INSERT INTO alembic_probe.alembic_version VALUES (:v)"), {"v": "1"})
        with pytest.raises(RuntimeError, match="roll back"):
            with engine.begin() as conn:  # transactional DDL: all or nothing
                conn.exec_driver_sql(
                    "CREATE TABLE alembic_probe.a (x int); CREATE TABLE alembic_probe.b (y int); "
                    "INSERT INTO alembic_probe.a VALUES (1)"
                )
                conn.exec_driver_sql("UPDATE alembic_probe.alembic_version SET version_num='2'")
                raise RuntimeError("roll back")
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names(schema="alembic_probe"))
            version = conn.execute(
                text("SELECT version_num FROM alembic_probe.alembic_version")
            ).scalar_one()
        assert (tables, version) == ({"alembic_version"}, "1")
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA alembic_probe CASCADE")
    finally:
        engine.dispose()


ALEMBIC_ENV = """
from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        version_table_schema=config.get_main_option("schema"),
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

ALEMBIC_REVISION = """
from pathlib import Path

from alembic import op

revision = "0001"
down_revision = None
DRAFT = Path({draft!r}).read_text(encoding="utf-8")
UP, DOWN = DRAFT.split("-- ==== DOWN ====")
UP = UP.split("-- ==== UP ====")[1]


def upgrade():
    op.get_bind().exec_driver_sql(UP)


def downgrade():
    op.get_bind().exec_driver_sql(DOWN)
"""


def test_alembic_upgrade_and_downgrade_run_the_draft(timescale_url: str, tmp_path: Path) -> None:
    """Real Alembic (one transaction per migration) applies and reverts the Timescale draft."""
    from alembic import command
    from alembic.config import Config

    schema = "alembic_ts"
    with connect(timescale_url, schema=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    (tmp_path / "versions").mkdir()
    (tmp_path / "env.py").write_text(ALEMBIC_ENV, encoding="utf-8")
    (tmp_path / "versions" / "0001_bars.py").write_text(
        ALEMBIC_REVISION.format(draft=str(DRAFT)), encoding="utf-8"
    )
    cfg = Config()
    cfg.set_main_option("script_location", str(tmp_path))
    url = "postgresql+psycopg" + timescale_url.removeprefix("postgresql")
    sep = "&" if "?" in url else "?"
    options = f"options=-csearch_path%3D{schema}%2Cpublic"
    cfg.set_main_option("sqlalchemy.url", f"{url}{sep}{options}".replace("%", "%%"))
    cfg.set_main_option("schema", schema)
    command.upgrade(cfg, "head")
    with connect(timescale_url, schema=schema) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        caggs = conn.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates "
            "WHERE view_schema = %s",
            (schema,),
        ).fetchone()
    assert (version, caggs) == (("0001",), (6,))
    command.downgrade(cfg, "base")
    with connect(timescale_url, schema=schema) as conn:
        left = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND relname <> 'alembic_version' AND relkind IN ('r', 'v', 'm')",
            (schema,),
        ).fetchall()
        jobs = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs WHERE hypertable_schema = %s",
            (schema,),
        ).fetchone()
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert (left, jobs) == ([], (0,))


def test_advisory_locks_savepoints_listen_notify_and_named_cursors(timescale_url: str) -> None:
    with connect(timescale_url, schema=None) as conn:
        assert conn.execute("SELECT pg_try_advisory_lock(77)").fetchone() == (True,)
        conn.execute("SELECT pg_advisory_unlock(77)")
        conn.execute("LISTEN tsl_channel")
        conn.execute("NOTIFY tsl_channel, 'hello'")
        notes = list(conn.notifies(timeout=5, stop_after=1))
        assert [(n.channel, n.payload) for n in notes] == [("tsl_channel", "hello")]
        conn.execute("UNLISTEN *")
    with connect(timescale_url, schema=None, autocommit=False) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(78)")
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.transaction():
                conn.execute("SELECT 1 / 0")
        assert conn.execute("SELECT 1").fetchone() == (1,)  # savepoint rolled back, tx goes on
        with conn.cursor(name="tsl_named") as cur:  # server-side cursor (DECLARE/FETCH)
            cur.execute("SELECT g FROM generate_series(1, 2500) g")
            assert len(cur.fetchmany(1000)) == 1000
            assert len(cur.fetchall()) == 1500
        conn.commit()


def test_known_gaps(timescale_url: str, pglite_server: Any, measured: dict[str, Any]) -> None:
    """Behaviour that differs from a real server; a failure here means the docs need updating."""
    if pglite_server is None:
        pytest.skip("these are properties of the PGlite server")
    gaps: dict[str, Any] = {}
    with connect(timescale_url, schema=None) as conn:
        # statement_timeout is accepted but never fires (no timer signals in WASM).
        conn.execute("SET statement_timeout = '100ms'")
        started = time.perf_counter()
        conn.execute("SELECT pg_sleep(0.5)")
        gaps["statement_timeout_enforced"] = time.perf_counter() - started < 0.4
        conn.execute("RESET statement_timeout")
        # RESET search_path goes to PGlite's reset value.
        conn.execute("RESET search_path")
        gaps["reset_search_path"] = conn.execute("SHOW search_path").fetchone()[0]  # type: ignore[index]
        # Two-phase commit is off (max_prepared_transactions = 0).
        conn.execute("BEGIN")
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.execute("PREPARE TRANSACTION 'tsl'")
        conn.execute("ROLLBACK")
        # One database in practice: the dbname of the URL is ignored.
        gaps["current_database"] = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        gaps["backend_pid"] = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        gaps["pg_stat_activity_rows"] = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
        ).fetchone()[0]  # type: ignore[index]
        # No ParameterStatus after login: psycopg's view of TimeZone goes stale.
        conn.execute("SET TimeZone = 'Asia/Tokyo'")
        gaps["parameter_status_timezone_after_set"] = conn.info.parameter_status("TimeZone")
        # Background workers: none.
        gaps["timescaledb_bgw_guc_exists"] = (
            conn.execute(
                "SELECT count(*) FROM pg_settings WHERE name = 'timescaledb.max_background_workers'"
            ).fetchone()[0]  # type: ignore[index]
            > 0
        )
        # Cancel: accepted and dropped (a query runs to its end synchronously inside WASM).
        cancel_errors: list[BaseException] = []

        def cancel_soon() -> None:
            time.sleep(0.3)
            try:
                conn.cancel_safe(timeout=5)
            except BaseException as exc:  # pragma: no cover - reported below
                cancel_errors.append(exc)

        canceller = threading.Thread(target=cancel_soon)
        canceller.start()
        try:
            conn.execute("SELECT pg_sleep(1)")
            gaps["cancel_effective"] = False
        except psycopg.errors.QueryCanceled:
            gaps["cancel_effective"] = True
        canceller.join(timeout=10)
        gaps["cancel_request_errors"] = [repr(e) for e in cancel_errors]
        # A second connection waits in the server's queue until connect_timeout.
        started = time.perf_counter()
        with pytest.raises(psycopg.errors.ConnectionTimeout):
            psycopg.connect(timescale_url, connect_timeout=2).close()
        gaps["second_connection_waited_seconds"] = round(time.perf_counter() - started, 2)
        assert conn.execute("SELECT 1").fetchone() == (1,)
    measured["known_gaps"] = gaps
    status = Path(f"/proc/{pglite_server.process.pid}/status")
    if status.exists():  # Linux: the node process's resident memory at this point
        rss = re.search(r"VmRSS:\s+(\d+) kB", status.read_text())
        hwm = re.search(r"VmHWM:\s+(\d+) kB", status.read_text())
        measured["server_rss_mb"] = int(rss.group(1)) // 1024 if rss else None
        measured["server_peak_rss_mb"] = int(hwm.group(1)) // 1024 if hwm else None
    assert gaps["statement_timeout_enforced"] is False
    assert gaps["reset_search_path"] == "pg_catalog"
    assert gaps["current_database"] == "template1"
    assert gaps["parameter_status_timezone_after_set"] == "GMT"
    assert gaps["timescaledb_bgw_guc_exists"] is False
    assert gaps["cancel_effective"] is False
    assert gaps["cancel_request_errors"] == []


def test_draft_down_reverts_everything(timescale_url: str) -> None:
    up, down = draft_parts()
    schema = "market_down_probe"
    all_jobs = "SELECT count(*) FROM timescaledb_information.jobs"
    with connect(timescale_url, schema=None) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    with connect(timescale_url, schema=schema) as conn:
        jobs_before = conn.execute(all_jobs).fetchone()
        conn.execute(up)
        assert conn.execute(all_jobs).fetchone()[0] == jobs_before[0] + 8  # type: ignore[index]
        conn.execute(down)
        left = conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
        jobs = conn.execute(all_jobs).fetchone()
        conn.execute(f"DROP SCHEMA {schema}")
    assert (left, jobs) == ([], jobs_before)


def test_the_draft_has_no_percent_sign() -> None:
    """Not even in a comment: SQLAlchemy's exec_driver_sql() passes empty parameters, and then
    psycopg parses the string for placeholders and rejects a lone '%'."""
    assert "%" not in DRAFT.read_text(encoding="utf-8")


def test_a_client_that_resets_its_connection_does_not_kill_the_server(
    timescale_url: str, pglite_server: Any
) -> None:
    """ECONNRESET from a vanished client once crashed node (unhandled rejection)."""
    if pglite_server is None:
        pytest.skip("a property of pglite/server.mjs")

    def reset_client() -> None:
        sock = socket.create_connection((pglite_server.host, pglite_server.port), timeout=10)
        body = struct.pack("!I", 196608) + b"user\0postgres\0database\0postgres\0\0"
        sock.sendall(struct.pack("!I", len(body) + 4) + body)
        time.sleep(0.2)  # the server's auth request arrives and stays unread
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # RST instead of FIN

    reset_client()  # while attached
    with connect(timescale_url, schema=None) as conn:
        reset_client()  # while queued behind `conn`
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with connect(timescale_url, schema=None, connect_timeout=10) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
    assert pglite_server.running


def test_data_dir_survives_a_restart(
    pglite_server: Any, tmp_path: Path, measured: dict[str, Any]
) -> None:
    """start_pglite(data_dir=...) keeps the database, the extension and its hypertables."""
    if pglite_server is None:
        pytest.skip("needs the PGlite server")
    from market_assets.devstack.pglite import start_pglite

    data_dir = tmp_path / "pgdata"
    password = "p@ss:w/rd"  # must survive URL quoting
    with start_pglite(data_dir=data_dir, password=password) as server:
        first = server.startup_seconds
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(
                """
                CREATE EXTENSION IF NOT EXISTS timescaledb;
                CREATE TABLE persisted (ts timestamptz NOT NULL, v int);
                SELECT create_hypertable('persisted', by_range('ts'));
                INSERT INTO persisted VALUES (now(), 1);
                """
            )
    assert not server.running
    with start_pglite(data_dir=data_dir, password=password) as server:
        second = server.startup_seconds
        with psycopg.connect(server.url, autocommit=True) as conn:
            rows = conn.execute("SELECT count(*) FROM persisted").fetchone()
            hypertables = conn.execute(
                "SELECT count(*) FROM timescaledb_information.hypertables "
                "WHERE hypertable_name = 'persisted'"
            ).fetchone()
    assert (rows, hypertables) == ((1,), (1,))
    measured["data_dir_startup_seconds"] = {"new": round(first, 2), "existing": round(second, 2)}
