"""Migrations on the plain PostgreSQL dialect, run as the owner role on a real server."""

from __future__ import annotations

import psycopg
import pytest

from market_assets.db import migrate
from market_assets.db.policies import PolicySettings, enforce_retention
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CORE_TABLES = {
    "ohlcv_bars",
    "data_collection_log",
    "data_quality_metrics",
    "quarantine",
    "markets",
    "sector17",
    "sector33",
    "companies",
    "company_sync_log",
}


def _tables(target: DbTarget) -> set[str]:
    with target.connect() as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (target.schema,)
        ).fetchall()
    return {r[0] for r in rows}


def test_upgrade_downgrade_upgrade(empty_schema: DbTarget) -> None:
    url, schema = empty_schema.owner_url, empty_schema.schema
    assert migrate.upgrade(url, schema) == "postgres"
    assert CORE_TABLES <= _tables(empty_schema)
    assert migrate.current(url, schema) is not None

    migrate.downgrade(url, schema, "base")
    assert _tables(empty_schema) == {"alembic_version"}
    assert migrate.current(url, schema) is None

    migrate.upgrade(url, schema)
    assert CORE_TABLES <= _tables(empty_schema)
    steps = migrate.history(url, schema)
    assert steps and all(step.applied for step in steps)


def test_history_reports_pending(empty_schema: DbTarget) -> None:
    steps = migrate.history(empty_schema.owner_url, empty_schema.schema)
    assert steps and not any(step.applied for step in steps)


def test_writer_cannot_alter_schema_but_can_write(db: DbTarget) -> None:
    with db.connect(db.writer_url) as conn:
        conn.execute(
            "INSERT INTO data_collection_log (asset, status) VALUES (%s, %s)",
            ("raw_bars", "success"),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE data_collection_log")


def test_reader_can_only_read(db: DbTarget) -> None:
    with db.connect(db.reader_url) as conn:
        assert conn.execute("SELECT count(*) FROM ohlcv_bars").fetchone() == (0,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO data_collection_log (asset, status) VALUES (%s, %s)", ("x", "success")
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE ohlcv_bars ADD COLUMN evil int")


def test_writer_creates_older_partitions_on_demand(db: DbTarget) -> None:
    """A backfill reaching 2019 gets its monthly partitions without DDL rights: of the
    timeframes it loads only (M1 here: two months; D1 would get one year)."""
    with db.connect(db.writer_url) as conn:
        created = conn.execute(
            "SELECT ensure_bar_partitions(%s::timestamptz, %s::timestamptz, %s)",
            ("2019-01-15T00:00:00Z", "2019-03-01T00:00:00Z", ["M1"]),
        ).fetchone()
        assert created == (2,)
        again = conn.execute(
            "SELECT ensure_bar_partitions(%s::timestamptz, %s::timestamptz, %s)",
            ("2019-01-15T00:00:00Z", "2019-03-01T00:00:00Z", ["M1"]),
        ).fetchone()
        assert again == (0,)
        conn.execute(
            "INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close,"
            " volume, source) VALUES ('7203', 'M1', '2019-02-01T00:00:00Z', '2019-02-01',"
            " 1, 2, 0.5, 1.5, 100, 'generator')"
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low,"
                " close, volume, source) VALUES ('7203', 'M1', '2011-02-01T00:00:00Z',"
                " '2011-02-01', 1, 2, 0.5, 1.5, 100, 'generator')"
            )


def _bar_partitions(conn: psycopg.Connection, timeframe: str) -> set[str]:
    return {
        r[0]
        for r in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
            " WHERE i.inhparent = %s::regclass",
            (f"ohlcv_bars_{timeframe.lower()}",),
        ).fetchall()
    }


def test_retention_drops_whole_partitions_of_one_timeframe(db: DbTarget) -> None:
    """M1's old months go; D1's years (and the M5 months) of the same span stay."""
    with db.connect(db.owner_url) as conn:
        conn.execute("SELECT ensure_bar_partitions('2018-01-01', '2018-04-01')")
        dropped = conn.execute("SELECT drop_bar_partitions_before('M1', '2018-03-01')").fetchone()
        assert dropped == (2,)
        m1 = _bar_partitions(conn, "M1")
        assert "ohlcv_bars_m1_p201801" not in m1 and "ohlcv_bars_m1_p201803" in m1
        assert "ohlcv_bars_m5_p201801" in _bar_partitions(conn, "M5")
        assert "ohlcv_bars_d1_p2018" in _bar_partitions(conn, "D1")
        with pytest.raises(psycopg.errors.RaiseException, match="unknown timeframe"):
            conn.execute("SELECT drop_bar_partitions_before('M2', '2018-03-01')")


def test_migration_that_alters_a_table_keeps_its_rows(empty_schema: DbTarget) -> None:
    url, schema = empty_schema.owner_url, empty_schema.schema
    migrate.upgrade(url, schema, "0002_rollups")
    with empty_schema.connect() as conn:
        conn.execute(
            "INSERT INTO data_collection_log (asset, status, rows_written) VALUES"
            " ('raw_bars', 'success', 42), ('db_bars', 'failed', 0)"
        )
    migrate.upgrade(url, schema)  # 0003 adds columns to data_collection_log
    with empty_schema.connect() as conn:
        rows = conn.execute(
            "SELECT asset, rows_written, checksum FROM data_collection_log ORDER BY id"
        ).fetchall()
    assert rows == [("raw_bars", 42, None), ("db_bars", 0, None)]
    migrate.downgrade(url, schema, "0002_rollups")
    with empty_schema.connect() as conn:
        count = conn.execute("SELECT count(*) FROM data_collection_log").fetchone()
    assert count == (2,)


def test_rollup_refresh_matches_direct_aggregation(db: DbTarget) -> None:
    """Hierarchical rollups equal a flat aggregation of the M1 bars (plain dialect)."""
    with db.connect(db.writer_url) as conn:
        conn.execute("SELECT ensure_bar_partitions('2024-03-01', '2024-04-01')")
        conn.execute(
            "INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close,"
            " volume, source) SELECT 'USDJPY', 'M1', t, '2024-03-12', 150 + i * 0.001,"
            " 150.01 + i * 0.001, 149.99 + i * 0.001, 150.005 + i * 0.001, i, 'generator'"
            " FROM generate_series(0, 1439) AS i,"
            " LATERAL (SELECT timestamptz '2024-03-11 21:00+00' + i * interval '1 minute') AS g(t)"
        )
        conn.execute(
            "SELECT refresh_rollups(ARRAY['USDJPY'], %s::timestamptz, %s::timestamptz)",
            ("2024-03-11T21:00:00Z", "2024-03-12T21:00:00Z"),
        )
        d1 = conn.execute(
            "SELECT ts, open, high, low, close, volume, bar_count FROM ohlcv_d1"
        ).fetchall()
        flat = conn.execute(
            "SELECT min(ts), (array_agg(open ORDER BY ts))[1], max(high), min(low),"
            " (array_agg(close ORDER BY ts DESC))[1], sum(volume), count(*) FROM ohlcv_bars"
        ).fetchall()
        h1_count = conn.execute("SELECT count(*) FROM ohlcv_h1").fetchone()
        w1 = conn.execute("SELECT week_start, sessions FROM ohlcv_w1").fetchall()
    assert d1 == flat
    assert h1_count == (24,)
    assert [(str(w[0]), w[1]) for w in w1] == [("2024-03-11", 1)]


BARS_DIGEST = (
    "SELECT count(*), md5(string_agg(b::text, '|' ORDER BY symbol, timeframe, ts))"
    " FROM ohlcv_bars b"
)
SEED_BARS = [  # (symbol, timeframe, first ts, count, step)
    ("7203", "M1", "2024-03-12 00:00+00", 300, "1 minute"),
    ("USDJPY", "H1", "2024-03-11 21:00+00", 48, "1 hour"),
    ("AAPL", "D1", "2004-01-05 14:30+00", 400, "1 day"),
]


def seed_bars(conn: psycopg.Connection) -> None:
    """Bars of three bases (minutes, hours, twenty-year-old days), on 0010's schema."""
    for symbol, tf, start, n, step in SEED_BARS:
        conn.execute(
            "SELECT ensure_bar_partitions(%s::timestamptz,"
            " %s::timestamptz + %s * %s::interval + interval '1 minute')",
            (start, start, n, step),
        )
        conn.execute(
            "INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low, close,"
            " volume, adj_factor, source, ingested_at)"
            " SELECT %s, %s, t, t::date, 100 + i / 7.0, 101 + i / 7.0, 99 + i / 7.0,"
            " 100.5 + i / 7.0, i * 0.1, 1, 'generator', timestamptz '2026-01-01'"
            " FROM generate_series(0, %s - 1) AS i,"
            " LATERAL (SELECT %s::timestamptz + i * %s::interval) AS g(t)",
            (symbol, tf, n, start, step),
        )


def test_0011_keeps_every_bar_up_and_down(empty_schema: DbTarget) -> None:
    """Filing bars apart per timeframe moves every row, bit for bit, and back again."""
    url, schema = empty_schema.owner_url, empty_schema.schema
    migrate.upgrade(url, schema, "0010_rollups_from_any_base")
    with empty_schema.connect() as conn:
        seed_bars(conn)
        before = conn.execute(BARS_DIGEST).fetchone()
    assert before is not None and before[0] == 748
    migrate.upgrade(url, schema)
    with empty_schema.connect() as conn:
        assert conn.execute(BARS_DIGEST).fetchone() == before
        assert conn.execute("SELECT count(*) FROM ohlcv_bars_d1").fetchone() == (400,)
        assert "ohlcv_bars_d1_p2004" in _bar_partitions(conn, "D1")
        assert conn.execute("SELECT count(*) FROM ohlcv_w1 WHERE symbol = 'AAPL'").fetchone()[0]
    migrate.downgrade(url, schema, "0010_rollups_from_any_base")
    with empty_schema.connect() as conn:
        assert conn.execute(BARS_DIGEST).fetchone() == before


def test_retention_per_timeframe_keeps_a_daily_base(db: DbTarget) -> None:
    """With M1 and H1 retention set, the maintenance drop takes the old minute and hour
    partitions and the H1 rollup rows past H1's horizon; the twenty-year-old daily bars of a
    D1 base, and the D1 rollup (no D1 retention), stay."""
    with db.connect(db.owner_url) as conn:
        seed_bars(conn)
        conn.execute(
            "SELECT refresh_rollups(ARRAY['7203', 'USDJPY'], %s::timestamptz, %s::timestamptz)",
            ("2024-03-11T00:00:00Z", "2024-03-14T00:00:00Z"),
        )
        d1_rollup = conn.execute("SELECT count(*) FROM ohlcv_d1").fetchone()
        assert d1_rollup is not None and d1_rollup[0] > 0
        policy = PolicySettings(retention_m1="6 months", retention={"H1": "1 year"})
        dropped = enforce_retention(conn, "postgres", policy)
        counts = dict(
            conn.execute("SELECT timeframe, count(*) FROM ohlcv_bars GROUP BY 1").fetchall()
        )
        h1_rollup = conn.execute("SELECT count(*) FROM ohlcv_h1").fetchone()
        assert conn.execute("SELECT count(*) FROM ohlcv_d1").fetchone() == d1_rollup
    assert dropped >= 2  # March 2024 of M1 and of H1, at least
    assert counts == {"D1": 400}
    assert h1_rollup == (0,)


def test_db_policies_prints_what_it_set(db: DbTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    """`market-assets db policies` on plain PostgreSQL: the settings per timeframe, then the
    partitions it dropped; a bad value fails naming its variable."""
    from typer.testing import CliRunner

    from market_assets.cli.db import app

    with db.connect(db.owner_url) as conn:
        seed_bars(conn)
    monkeypatch.setenv("MARKET_ASSETS_PG_OWNER_URL", db.owner_url)
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_H4", "3 years")
    result = CliRunner().invoke(app, ["policies", "--schema", db.schema])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["M1 retention 6 months", "H4 retention 3 years"]
    assert lines[-1].startswith("dropped ") and lines[-1] != "dropped 0 partitions past retention"
    with db.connect(db.owner_url) as conn:
        left = dict(conn.execute("SELECT timeframe, count(*) FROM ohlcv_bars GROUP BY 1"))
    assert left == {"H1": 48, "D1": 400}
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_D1", "forever")
    bad = CliRunner().invoke(app, ["policies", "--schema", db.schema])
    assert bad.exit_code != 0
    assert "MARKET_ASSETS_RETENTION_D1 must look like" in str(bad.exception or bad.output)
