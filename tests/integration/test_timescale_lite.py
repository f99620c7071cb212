"""The TimescaleDB path as shipped, proven on PGlite+TimescaleDB (or any server in `timescale_url`).

These tests are the experiments behind docs/timescale-lite.md. They run what the project ships:
the migrations of sql/migrations applied by Alembic through `market_assets.db.migrate`
(hypertable, compression settings, hierarchical continuous aggregates and their refresh
policies), the compression and retention policies of `market_assets.db.policies.apply_policies`
(the shipped defaults), bars written by `market_assets.ohlcv.bar_store.replace_partitions` (the
sql/queries/bars statements, rows sent as unnested arrays since the server has no COPY) and
rollups refreshed by `market_assets.ohlcv.rollups.refresh_rollups`. Every policy is driven with
CALL run_job() because the PGlite build has no background workers, the rollups are checked
against a plain GROUP BY over the raw bars, and the write path is timed. Measured numbers are
printed (pytest -s) and written to artifacts/timescale-lite.json.

One connection at a time: every test opens and closes its own (a PostgresResource gets a pool of
one and is closed before the next connection opens), never two at once.
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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg import sql

from market_assets.core.calendars import session_bounds
from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import default_universe
from market_assets.db import bootstrap, migrate
from market_assets.db.policies import PolicySettings, apply_policies, m1_horizon
from market_assets.ohlcv.bar_store import ReplaceStats, replace_partitions
from market_assets.ohlcv.rollups import CAGG_LEVELS, refresh_rollups
from resources.postgres import PostgresResource, detect_capabilities
from resources.sources.generator import GeneratorSource
from tests.integration.test_migrations import BARS_DIGEST, seed_bars

pytestmark = [pytest.mark.timescale, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT / "artifacts" / "timescale-lite.json"
SCHEMA = "tsl_market"
ORIGIN = "2000-01-01 00:00+00"
CONNECT_TIMEOUT = 20  # s; a connect that waits longer is queued behind a connection left open
POLICY = PolicySettings()  # the shipped defaults: M1 retention 6 months, compression after 30 days

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

INSERT_VALUES = """
INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close, volume,
                        adj_factor, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (symbol, timeframe, ts) DO UPDATE SET close = EXCLUDED.close
"""

CAGGS = CAGG_LEVELS  # ohlcv_m5 .. ohlcv_d1, children first, as refresh_rollups refreshes them
CALENDAR_VIEWS = ("ohlcv_w1", "ohlcv_mn1")  # migration 0003: plain views over ohlcv_d1
WIDTHS = {
    "ohlcv_m5": "5 minutes",
    "ohlcv_m15": "15 minutes",
    "ohlcv_m30": "30 minutes",
    "ohlcv_h1": "1 hour",
    "ohlcv_h4": "4 hours",
}
EQUITY, FX = "AAPL", "USDJPY"  # XNYS (opens at :30 UTC) and FX24X5 (rolls at 21/22:00 UTC)


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def connect(url: str, schema: str | None = SCHEMA, **kwargs: Any) -> psycopg.Connection:
    """Autocommit connection; search_path through the startup `options`."""
    kwargs.setdefault("autocommit", True)
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    if schema is not None:
        kwargs.setdefault("options", f"-c search_path={schema},public")
    return psycopg.connect(url, **kwargs)


@contextmanager
def store(url: str) -> Iterator[PostgresResource]:
    """The project's resource on the schema, pool of one, closed on exit (one connection)."""
    pg = PostgresResource(url=url, schema_name=SCHEMA, pool_max_size=1)
    try:
        yield pg
    finally:
        pg.close()


def today_utc() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def synthetic_bars(symbol: str, ts: pd.DatetimeIndex, seed: int) -> pd.DataFrame:
    """M1 bars at `ts` for a symbol outside the universe; session_date is the UTC date."""
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = 100 + np.cumsum(rng.normal(0, 0.05, n))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = rng.uniform(0, 0.1, n)
    frame = pd.DataFrame(
        {
            "symbol": symbol,
            "timeframe": "M1",
            "ts": ts,
            "session_date": ts.date,
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.integers(0, 1000, n).astype("float64"),  # integers: sums are exact
            "adj_factor": 1.0,
            "source": "test",
        }
    )
    return frame[list(COLUMNS)]


def partitions_of(frame: pd.DataFrame) -> list[tuple[str, str, dt.date]]:
    keys = frame[["symbol", "timeframe", "session_date"]].drop_duplicates()
    return [(str(s), str(t), d) for s, t, d in keys.itertuples(index=False)]


def write(url: str, frame: pd.DataFrame) -> tuple[ReplaceStats, float]:
    """The shipped write path: replace_partitions over the frame's partitions; rows/s."""
    with store(url) as pg:
        started = time.perf_counter()
        stats = replace_partitions(pg, frame, partitions_of(frame))
        return stats, len(frame) / (time.perf_counter() - started)


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


def retention_job(url: str) -> tuple[int, dict[str, str]]:
    """The schema's bar_retention_job (set by apply_policies): id and config."""
    with connect(url) as conn:
        row = conn.execute(
            "SELECT job_id, config FROM timescaledb_information.jobs"
            " WHERE proc_schema = %s AND proc_name = 'bar_retention_job'",
            (SCHEMA,),
        ).fetchone()
    assert row is not None, "no bar_retention_job"
    return int(row[0]), row[1]


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


def relations_and_functions(conn: psycopg.Connection, schema: str) -> list[str]:
    rels = conn.execute(
        "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND relname NOT LIKE 'alembic_version%%'",
        (schema,),
    ).fetchall()
    funcs = conn.execute(
        "SELECT proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = %s",
        (schema,),
    ).fetchall()
    return sorted(r for (r,) in rels) + sorted(f"{f}()" for (f,) in funcs)


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
    """Schema SCHEMA migrated to head by the project's runner, with the shipped policies."""
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    with connect(timescale_url, schema=None) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
    started = time.perf_counter()
    assert migrate.upgrade(timescale_url, SCHEMA) == "timescale"
    measured["migrate_up_seconds"] = round(time.perf_counter() - started, 3)
    with connect(timescale_url) as conn:
        measured["policies_applied"] = apply_policies(conn, "timescale", POLICY)
    yield timescale_url
    migrate.downgrade(timescale_url, SCHEMA, "base")
    with connect(timescale_url, schema=None) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


# --------------------------------------------------------------------------------------------
# 1. extension, licence, version
# --------------------------------------------------------------------------------------------


def test_extension_licence_and_version(
    timescale_url: str, pglite_server: Any, measured: dict[str, Any]
) -> None:
    assert bootstrap.ensure_extensions(timescale_url, ("timescaledb",)) == ["timescaledb"]
    with connect(timescale_url, schema=None) as conn:
        licence, version, server = conn.execute(
            """
            SELECT current_setting('timescaledb.license', true),
                   (SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'),
                   current_setting('server_version')
            """
        ).fetchone()  # type: ignore[misc]
        caps = detect_capabilities(conn)
    measured.update(timescaledb_license=licence, timescaledb_version=version, server_version=server)
    if pglite_server is not None:
        measured["pglite_startup_seconds"] = round(pglite_server.startup_seconds, 2)
        assert caps.is_pglite and not caps.supports_copy  # so the bulk path uses unnest
    # The DESIGN's dialect rule: community licence => `timescale` dialect.
    assert licence == "timescale"
    assert version.startswith("2.")
    assert (caps.timescaledb_version, caps.dialect) == (version, "timescale")


# --------------------------------------------------------------------------------------------
# 2. hypertable, compression, retention: the migrations and the shipped policies
# --------------------------------------------------------------------------------------------


def test_migrations_create_hypertable_compression_caggs_and_jobs(bars_db: str) -> None:
    with connect(bars_db) as conn:
        dims = conn.execute(
            """
            SELECT column_name, time_interval, integer_interval
            FROM timescaledb_information.dimensions
            WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'
            ORDER BY dimension_number
            """,
            (SCHEMA,),
        ).fetchall()
        # 0011: chunks of one week and one timeframe, so retention drops a timeframe's chunks.
        assert dims == [("ts", dt.timedelta(days=7), None), ("timeframe", None, 1)]
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
        jobs = conn.execute(
            """
            SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs
            WHERE hypertable_schema = %s ORDER BY proc_name, hypertable_name
            """,
            (SCHEMA,),
        ).fetchall()
        caggs = conn.execute(
            """
            SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates
            WHERE view_schema = %s ORDER BY view_name
            """,
            (SCHEMA,),
        ).fetchall()
    by_proc: dict[str, dict[str, dict[str, Any]]] = {}
    for proc, table, config in jobs:
        by_proc.setdefault(proc, {})[table] = config
    # Compression and retention come from apply_policies (the shipped defaults), the refresh
    # policies from migration 0002. The bars' retention is one job per schema, by timeframe
    # (no rollup level has a retention by default, so no cagg has a retention policy).
    assert sorted(by_proc) == ["policy_compression", "policy_refresh_continuous_aggregate"]
    assert by_proc["policy_compression"]["ohlcv_bars"]["compress_after"] == "30 days"
    assert retention_job(bars_db)[1] == {"M1": "6 months"}
    refresh = by_proc["policy_refresh_continuous_aggregate"]
    assert {view: cfg["start_offset"] for view, cfg in refresh.items()} == {
        "ohlcv_m5": "3 days",
        "ohlcv_m15": "3 days",
        "ohlcv_m30": "3 days",
        "ohlcv_h1": "3 days",
        "ohlcv_h4": "7 days",
        "ohlcv_d1": "21 days",
    }
    assert all(cfg["end_offset"] is None for cfg in refresh.values())
    assert sorted(c for c, _ in caggs) == sorted(CAGGS)
    assert all(not materialized_only for _, materialized_only in caggs)


def test_bars_keep_only_their_primary_key_index(bars_db: str) -> None:
    with connect(bars_db) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = 'ohlcv_bars'",
            (SCHEMA,),
        ).fetchall()
    assert indexes == [("ohlcv_bars_pkey",)]  # 0007 and 0009: the primary key only


def test_compression_and_retention_policies_via_run_job(
    bars_db: str, measured: dict[str, Any]
) -> None:
    """Background workers never run here, so each shipped policy is run with CALL run_job()."""
    horizon = m1_horizon(POLICY, today_utc())
    assert horizon is not None
    with connect(bars_db) as conn:
        # Hourly 'M1' bars (a sparse minute series): 6 months + 7 weeks ago .. 120 days ago
        # (the write-path tests below use newer chunks, still uncompressed), and a D1-base
        # symbol's daily bars over the same span and two years before: M1's retention must
        # not touch them (0011 files each timeframe in chunks of its own).
        conn.execute(
            """
            INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low,
                                    close, volume, source)
            SELECT s, 'M1', t, (t AT TIME ZONE 'UTC')::date, 1, 2, 0.5, 1.5, 100, 'test'
            FROM unnest(ARRAY['POL_A', 'POL_B']) s,
                 generate_series(date_trunc('hour', now()) - INTERVAL '6 months 49 days',
                                 now() - INTERVAL '120 days', INTERVAL '1 hour') t
            """
        )
        conn.execute(
            """
            INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low,
                                    close, volume, source)
            SELECT 'POL_D', 'D1', t, (t AT TIME ZONE 'UTC')::date, 1, 2, 0.5, 1.5, 100, 'test'
            FROM generate_series(date_trunc('day', now()) - INTERVAL '2 years 7 months',
                                 now() - INTERVAL '120 days', INTERVAL '1 day') t
            """
        )
        count_h1 = "SELECT count(*) FROM ohlcv_bars WHERE timeframe = 'M1'"
        kept_h1 = count_h1 + " AND session_date >= %s"
        count_d1 = "SELECT count(*) FROM ohlcv_bars WHERE timeframe = 'D1'"
        before_rows = conn.execute(count_h1).fetchone()[0]  # type: ignore[index]
        before_kept = conn.execute(kept_h1, (horizon,)).fetchone()[0]  # type: ignore[index]
        before_d1 = conn.execute(count_d1).fetchone()[0]  # type: ignore[index]
        retention = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_schema = %s AND proc_name = 'bar_retention_job'",
            (SCHEMA,),
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
        assert conn.execute(count_h1).fetchone()[0] == before_rows  # type: ignore[index]

        started = time.perf_counter()
        conn.execute("CALL run_job(%s)", (retention,))
        retention_seconds = time.perf_counter() - started
        total_after, _ = chunk_stats(conn)
        assert total_after < total_mid
        too_old = conn.execute(
            "SELECT count(*) FROM ohlcv_bars"
            " WHERE timeframe = 'M1' AND ts < now() - INTERVAL '6 months 7 days'"
        ).fetchone()[0]  # type: ignore[index]
        assert too_old == 0
        # The daily bars are all there, the ones older than the M1 horizon included.
        assert conn.execute(count_d1).fetchone()[0] == before_d1 > 700  # type: ignore[index]
        after_rows = conn.execute(count_h1).fetchone()[0]  # type: ignore[index]
        assert 0 < after_rows < before_rows
        # m1_horizon's promise, which the S3/database checks rely on: every session from the
        # horizon on is still there.
        assert conn.execute(kept_h1, (horizon,)).fetchone()[0] == before_kept > 0  # type: ignore[index]
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
# 3. hierarchical continuous aggregates (migration 0002), fed and refreshed as shipped
# --------------------------------------------------------------------------------------------


def _generated(symbols: Sequence[str], days: Sequence[dt.date]) -> pd.DataFrame:
    universe = default_universe()
    return GeneratorSource().fetch_many([universe.resolve(s) for s in symbols], days)


@pytest.fixture(scope="module")
def cagg_symbols(bars_db: str, measured: dict[str, Any]) -> tuple[str, ...]:
    """Generated M1 bars of an NYSE equity and an FX pair for the ten days ending four days
    ago, written by replace_partitions and refreshed by refresh_rollups."""
    first = today_utc() - dt.timedelta(days=13)
    days = [first + dt.timedelta(days=i) for i in range(10)]
    frame = _generated([EQUITY, FX], days)
    stats, rate = write(bars_db, frame)
    assert sum(stats.inserted.values()) == len(frame) > 0
    parts = [BarPartition(d, s) for s, _, d in partitions_of(frame)]
    with store(bars_db) as pg:
        started = time.perf_counter()
        done = refresh_rollups(pg, parts)
        measured["cagg_refresh_seconds"] = round(time.perf_counter() - started, 3)
    assert done["refreshed"] and done["dialect"] == "timescale"
    measured["cagg_source_rows"] = len(frame)
    measured["cagg_write_rows_per_second"] = round(rate)
    return (EQUITY, FX)


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


def materialized_only(conn: psycopg.Connection, cagg: str, value: bool) -> None:
    conn.execute(
        sql.SQL("ALTER MATERIALIZED VIEW {} SET (timescaledb.materialized_only = {})").format(
            sql.Identifier(cagg), sql.SQL("true" if value else "false")
        )
    )


@pytest.mark.parametrize("cagg", ["ohlcv_m5", "ohlcv_m15", "ohlcv_m30", "ohlcv_h1", "ohlcv_h4"])
def test_intraday_rollups_match_plain_group_by(
    bars_db: str, cagg_symbols: tuple[str, ...], cagg: str
) -> None:
    with_session = cagg != "ohlcv_h4"
    session = ", session_date" if with_session else ""
    statement = sql.SQL(
        "SELECT ts, symbol{session}, first_ts, open, high, low, close, volume, bar_count "
        "FROM {cagg} WHERE symbol = ANY(%s)"
    ).format(session=sql.SQL(session), cagg=sql.Identifier(cagg))  # type: ignore[arg-type]
    with connect(bars_db) as conn:
        # What refresh_rollups materialized, not the real-time part computed at query time.
        materialized_only(conn, cagg, True)
        try:
            actual = rows_of(conn, statement, (list(cagg_symbols),))
        finally:
            materialized_only(conn, cagg, False)
        expected = rows_of(
            conn, expected_intraday(WIDTHS[cagg], with_session), (list(cagg_symbols),)
        )
    assert {r[1] for r in actual} == set(cagg_symbols)
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
                FROM ohlcv_bars WHERE symbol = %s AND timeframe = 'M1'
                GROUP BY b HAVING count(DISTINCT session_date) > 1) x
            """,
            (ORIGIN, FX),
        ).fetchone()[0]  # type: ignore[index]
    # The FX session rolls at 17:00 New York (21:00 or 22:00 UTC), inside the 20:00 bucket,
    # which therefore holds the end of one session and the start of the next.
    assert spanning > 0


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
    assert len(actual) == len(expected) > 0
    assert actual == expected
    equity = [(day, ts) for symbol, day, ts, *_ in actual if symbol == EQUITY]
    assert equity
    for day, ts in equity:  # the NYSE open (13:30 or 14:30 UTC), not the H1 bucket's hour
        bounds = session_bounds("XNYS", day)
        assert bounds is not None
        assert ts == bounds[0].to_pydatetime() and ts.astimezone(dt.UTC).minute == 30


def test_a_revised_bar_reaches_every_level_after_refresh(
    bars_db: str, cagg_symbols: tuple[str, ...]
) -> None:
    """A revision of a materialized bar, written and refreshed the shipped way, reaches every
    level (the invalidation log) and the W1/MN1 views over D1."""
    with connect(bars_db) as conn:
        (day,) = conn.execute(
            "SELECT max(session_date) FROM ohlcv_bars WHERE symbol = %s", (EQUITY,)
        ).fetchone()  # type: ignore[misc]
    frame = _generated([EQUITY], [day])
    high = float(frame["high"].max()) + 1000
    frame.loc[frame.index[100], "high"] = high
    stats, _ = write(bars_db, frame)
    assert (sum(stats.inserted.values()), sum(stats.revised.values())) == (0, 1)
    with store(bars_db) as pg:
        assert refresh_rollups(pg, [BarPartition(day, EQUITY)])["refreshed"]
    with connect(bars_db) as conn:
        for view in (*CAGGS, *CALENDAR_VIEWS):
            top = conn.execute(
                sql.SQL("SELECT max(high) FROM {} WHERE symbol = %s").format(sql.Identifier(view)),
                (EQUITY,),
            ).fetchone()[0]  # type: ignore[index]
            assert top == high, view
        for cagg in CAGGS:  # materialized, not only visible through the real-time part
            materialized_only(conn, cagg, True)
            try:
                top = conn.execute(
                    sql.SQL("SELECT max(high) FROM {} WHERE symbol = %s").format(
                        sql.Identifier(cagg)
                    ),
                    (EQUITY,),
                ).fetchone()[0]  # type: ignore[index]
            finally:
                materialized_only(conn, cagg, False)
            assert top == high, cagg


def test_refresh_cannot_run_in_a_transaction_block(bars_db: str) -> None:
    """Why refresh_rollups switches its connection to autocommit on TimescaleDB."""
    with connect(bars_db, autocommit=False) as conn:
        with pytest.raises(psycopg.errors.ActiveSqlTransaction):
            conn.execute("CALL refresh_continuous_aggregate('ohlcv_m5', NULL, NULL)")
        conn.rollback()


def test_real_time_aggregation_shows_unrefreshed_bars_at_every_level(
    bars_db: str, cagg_symbols: tuple[str, ...], measured: dict[str, Any]
) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("min")
    ts = pd.date_range(now - pd.Timedelta(minutes=90), periods=60, freq="min")
    stats, _ = write(bars_db, synthetic_bars("RT_FX", ts, seed=1))  # no refresh afterwards
    assert sum(stats.inserted.values()) == 60
    with connect(bars_db) as conn:
        seen = {
            view: conn.execute(
                sql.SQL("SELECT coalesce(sum(bar_count), 0) FROM {} WHERE symbol = 'RT_FX'").format(
                    sql.Identifier(view)
                )
            ).fetchone()[0]  # type: ignore[index]
            for view in (*CAGGS, *CALENDAR_VIEWS)
        }
        materialized_only(conn, "ohlcv_h1", True)
        try:
            hidden = conn.execute("SELECT count(*) FROM ohlcv_h1 WHERE symbol = 'RT_FX'").fetchone()
        finally:
            materialized_only(conn, "ohlcv_h1", False)
    measured["real_time_bar_counts"] = seen
    assert seen == dict.fromkeys((*CAGGS, *CALENDAR_VIEWS), 60)
    assert hidden == (0,)


def test_cagg_refresh_policy_via_run_job(bars_db: str, cagg_symbols: tuple[str, ...]) -> None:
    yesterday = pd.Timestamp(today_utc() - dt.timedelta(days=1), tz="UTC") + pd.Timedelta(hours=9)
    ts = pd.date_range(yesterday, periods=30, freq="min")
    write(bars_db, synthetic_bars("PJ_FX", ts, seed=2))
    with connect(bars_db) as conn:
        materialized_only(conn, "ohlcv_m5", True)
        try:
            count = "SELECT coalesce(sum(bar_count), 0) FROM ohlcv_m5 WHERE symbol = 'PJ_FX'"
            before = conn.execute(count).fetchone()[0]  # type: ignore[index]
            job = job_id(conn, "policy_refresh_continuous_aggregate", "ohlcv_m5")
            conn.execute("CALL run_job(%s)", (job,))
            after = conn.execute(count).fetchone()[0]  # type: ignore[index]
        finally:
            materialized_only(conn, "ohlcv_m5", False)
    assert (before, after) == (0, 30)


# --------------------------------------------------------------------------------------------
# 4. the write path without COPY: replace_partitions as shipped
# --------------------------------------------------------------------------------------------


def test_replace_partitions_without_copy_throughput(bars_db: str, measured: dict[str, Any]) -> None:
    """50k M1 rows (5 symbols) through replace_partitions: the append path (empty partitions),
    the careful path with nothing changed, with every row revised, and (one symbol, 10k rows)
    into a compressed chunk."""
    n_symbols, per_symbol = 5, 10_000
    start = pd.Timestamp(today_utc() - dt.timedelta(days=100), tz="UTC")
    ts = pd.date_range(start, periods=per_symbol, freq="min")
    frame = pd.concat(
        [synthetic_bars(f"TP{i:02d}", ts, seed=3 + i) for i in range(n_symbols)],
        ignore_index=True,
    )
    total, n_parts = len(frame), len(partitions_of(frame))
    results: dict[str, int] = {}
    count = "SELECT count(*), sum(close), count(*) FILTER (WHERE close = -1) FROM ohlcv_bars"
    count += " WHERE symbol LIKE 'TP%'"

    stats, results["append_empty_partitions"] = write(bars_db, frame)
    assert stats.appended_partitions == n_parts
    assert sum(stats.inserted.values()) == total

    stats, results["careful_path_unchanged"] = write(bars_db, frame)
    assert stats.appended_partitions == 0
    assert sum(stats.inserted.values()) == sum(stats.revised.values()) == 0
    assert sum(stats.deleted.values()) == 0

    frame = frame.assign(close=frame["close"] + 1)
    stats, results["careful_path_all_revised"] = write(bars_db, frame)
    assert (sum(stats.inserted.values()), sum(stats.revised.values())) == (0, total)
    with connect(bars_db) as conn:
        rows, close_sum, _ = conn.execute(count).fetchone()  # type: ignore[misc]
        assert rows == total
        assert close_sum == pytest.approx(frame["close"].sum())

        # Revisions into a compressed chunk: compress the first chunk, then revise 1 row in 10.
        conn.execute(
            """
            SELECT compress_chunk(c, if_not_compressed => true)
            FROM show_chunks('ohlcv_bars', newer_than => %(lo)s::timestamptz,
                             older_than => %(hi)s::timestamptz) c
            """,
            {"lo": start - pd.Timedelta(days=8), "hi": start + pd.Timedelta(days=8)},
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
    # One symbol only: the careful path into compressed chunks runs at a few hundred rows/s.
    one = frame[frame["symbol"] == "TP00"].copy()
    revised = one.index[::10]
    one.loc[revised, "close"] = -1.0
    stats, results["careful_path_into_compressed_chunk_10k"] = write(bars_db, one)
    assert (sum(stats.inserted.values()), sum(stats.revised.values())) == (0, len(revised))
    assert sum(stats.deleted.values()) == 0
    with connect(bars_db) as conn:
        rows, _, revised_rows = conn.execute(count).fetchone()  # type: ignore[misc]
    assert (rows, revised_rows) == (total, len(revised))
    measured["replace_partitions_rows_per_second_50k"] = {k: round(v) for k, v in results.items()}


def test_executemany_works_in_pipeline_mode(bars_db: str, measured: dict[str, Any]) -> None:
    """psycopg's executemany pipelines (the collection log and the master sync use it)."""
    start = pd.Timestamp(today_utc() - dt.timedelta(days=60), tz="UTC")
    ts = pd.date_range(start, periods=5_000, freq="min")
    frame = synthetic_bars("EM_FX", ts, seed=4)
    rows = list(zip(*(frame[c].tolist() for c in COLUMNS), strict=True))
    with connect(bars_db) as conn:
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(INSERT_VALUES, rows)
        rate = len(rows) / (time.perf_counter() - started)
        written = conn.execute("SELECT count(*) FROM ohlcv_bars WHERE symbol = 'EM_FX'").fetchone()
        assert written == (len(rows),)
    measured["executemany_rows_per_second_5k"] = round(rate)


def test_numpy_arrays_need_tolist(timescale_url: str) -> None:
    """psycopg adapts lists and numpy scalars, not ndarrays: hence the lists of
    resources.postgres._column_values."""
    values = np.array([1.5, 2.5])
    with connect(timescale_url, schema=None) as conn:
        with pytest.raises(psycopg.ProgrammingError, match="ndarray"):
            conn.execute("SELECT %s::float8[]", (values,))
        assert conn.execute("SELECT %s::float8[]", (values.tolist(),)).fetchone() == ([1.5, 2.5],)
        assert conn.execute("SELECT %s::float8", (np.float64(1.5),)).fetchone() == (1.5,)


def test_copy_from_stdin_is_refused_and_the_server_survives(
    timescale_url: str, pglite_server: Any
) -> None:
    if pglite_server is None:
        pytest.skip("COPY refusal is a property of pglite/server.mjs")
    with connect(timescale_url, schema=None) as conn:
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


def test_shipped_migrations_down_to_base_leave_nothing_behind(timescale_url: str) -> None:
    """migrate.upgrade + the shipped policies, then migrate.downgrade to base (Alembic, one
    transaction per migration): every table, view, cagg, function and job is gone again."""
    schema = "tsl_down_probe"
    all_jobs = "SELECT count(*) FROM timescaledb_information.jobs"
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    with connect(timescale_url, schema=None) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
        (jobs_before,) = conn.execute(all_jobs).fetchone()  # type: ignore[misc]
    assert migrate.upgrade(timescale_url, schema) == "timescale"
    head = migrate.history(timescale_url, schema)[-1]
    with connect(timescale_url, schema=schema) as conn:
        apply_policies(conn, "timescale", POLICY)
        version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        (jobs_up,) = conn.execute(all_jobs).fetchone()  # type: ignore[misc]
        up = relations_and_functions(conn, schema)
    assert version == (head.revision,)
    assert jobs_up == jobs_before + 8  # 6 cagg refreshes, compression, retention
    assert {"ohlcv_bars", *CAGGS, *CALENDAR_VIEWS, "ensure_bar_partitions()"} <= set(up)
    migrate.downgrade(timescale_url, schema, "base")
    assert migrate.current(timescale_url, schema) is None
    with connect(timescale_url, schema=schema) as conn:
        left = relations_and_functions(conn, schema)
        (jobs_after,) = conn.execute(all_jobs).fetchone()  # type: ignore[misc]
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert (left, jobs_after) == ([], jobs_before)


def test_0011_keeps_every_bar_up_and_down(timescale_url: str) -> None:
    """Rebuilding the hypertable with its timeframe dimension moves every row bit for bit
    (compressed chunks included), and the downgrade moves them back; the rollups are
    refreshed over them by the runner."""
    schema = "tsl_0011_probe"
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    with connect(timescale_url, schema=None) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    migrate.upgrade(timescale_url, schema, "0010_rollups_from_any_base")
    with connect(timescale_url, schema=schema) as conn:
        seed_bars(conn)
        conn.execute(
            "SELECT compress_chunk(c)"
            " FROM show_chunks('ohlcv_bars', older_than => %s::timestamptz) c",
            ("2005-01-01",),
        )
        before = conn.execute(BARS_DIGEST).fetchone()
        # The policies `db policies` set before 0011: compression and a hypertable-wide M1
        # retention.
        conn.execute("SELECT add_compression_policy('ohlcv_bars', INTERVAL '30 days')")
        conn.execute("SELECT add_retention_policy('ohlcv_bars', INTERVAL '6 months')")
    assert before is not None and before[0] == 748
    policies = (
        "SELECT proc_name, config FROM timescaledb_information.jobs"
        " WHERE (hypertable_schema = %s AND hypertable_name = 'ohlcv_bars')"
        " OR (proc_schema = %s AND proc_name = 'bar_retention_job') ORDER BY proc_name"
    )
    migrate.upgrade(timescale_url, schema)
    with connect(timescale_url, schema=schema) as conn:
        carried = conn.execute(policies, (schema, schema)).fetchall()
        after = conn.execute(BARS_DIGEST).fetchone()
        per_chunk = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks"
            " WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'",
            (schema,),
        ).fetchone()
        h1 = conn.execute("SELECT count(*) FROM ohlcv_h1 WHERE symbol = 'USDJPY'").fetchone()
    migrate.downgrade(timescale_url, schema, "0010_rollups_from_any_base")
    with connect(timescale_url, schema=schema) as conn:
        back = conn.execute(BARS_DIGEST).fetchone()
        restored = conn.execute(policies, (schema, schema)).fetchall()
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    assert after == before and back == before
    assert [(name, config) for name, config in carried] == [
        ("bar_retention_job", {"M1": "6 mons"}),
        (
            "policy_compression",
            {"hypertable_id": carried[1][1]["hypertable_id"], "compress_after": "30 days"},
        ),
    ]
    assert [name for name, _ in restored] == ["policy_compression", "policy_retention"]
    assert restored[1][1]["drop_after"] == "6 mons"
    assert per_chunk is not None and per_chunk[0] > 0
    assert h1 == (48,)


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
