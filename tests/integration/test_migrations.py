"""Migrations on the plain PostgreSQL dialect, run as the owner role on a real server."""

from __future__ import annotations

import psycopg
import pytest

from market_assets.db import migrate
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
    """A backfill reaching 2019 gets its monthly partitions without DDL rights."""
    with db.connect(db.writer_url) as conn:
        created = conn.execute(
            "SELECT ensure_bar_partitions(%s::timestamptz, %s::timestamptz)",
            ("2019-01-15T00:00:00Z", "2019-03-01T00:00:00Z"),
        ).fetchone()
        assert created == (2,)
        again = conn.execute(
            "SELECT ensure_bar_partitions(%s::timestamptz, %s::timestamptz)",
            ("2019-01-15T00:00:00Z", "2019-03-01T00:00:00Z"),
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


def test_retention_drops_whole_partitions(db: DbTarget) -> None:
    with db.connect(db.owner_url) as conn:
        conn.execute("SELECT ensure_bar_partitions('2018-01-01', '2018-04-01')")
        dropped = conn.execute("SELECT drop_bar_partitions_before('2018-03-01')").fetchone()
        assert dropped is not None and dropped[0] >= 2
        names = {
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid"
                " WHERE i.inhparent = 'ohlcv_bars'::regclass"
            ).fetchall()
        }
        assert "ohlcv_bars_p201801" not in names and "ohlcv_bars_p201803" in names


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
