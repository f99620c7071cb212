"""The project's own migrations, bulk path and rollups on real TimescaleDB (PGlite 2.23 build).

PGlite takes one connection at a time, so every resource here has a pool of one and each
helper closes its connection before the next one opens.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import default_universe
from market_assets.db import bootstrap, migrate
from market_assets.db.policies import PolicySettings, apply_policies
from market_assets.ohlcv.bar_store import replace_partitions
from market_assets.ohlcv.rollups import refresh_rollups
from resources.errors import StoreUnavailableError, url_address
from resources.postgres import PostgresResource, conninfo_for
from resources.sources.generator import GeneratorSource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.timescale, pytest.mark.integration, pytest.mark.timeout(600)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
SYMBOLS = ["USDJPY", "7203"]
ROLLUP_QUERY = {
    "h1": "SELECT symbol, ts, session_date, first_ts, open, high, low, close, volume, bar_count"
    " FROM ohlcv_h1 ORDER BY symbol, ts",
    "h4": "SELECT symbol, ts, first_ts, open, high, low, close, volume, bar_count"
    " FROM ohlcv_h4 ORDER BY symbol, ts",
    "d1": "SELECT symbol, session_date, ts, open, high, low, close, volume, bar_count"
    " FROM ohlcv_d1 ORDER BY symbol, session_date",
    "w1": "SELECT symbol, week_start, ts, open, high, low, close, volume FROM ohlcv_w1"
    " ORDER BY symbol, week_start",
}


def _connect(url: str, schema: str) -> psycopg.Connection:
    conn = psycopg.connect(conninfo_for(url), autocommit=True, connect_timeout=10)
    conn.execute("SELECT set_config('search_path', %s, false)", (f"{schema}, public",))
    return conn


@pytest.fixture
def ts_schema(timescale_url: str) -> Iterator[str]:
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    schema = f"ts_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
    yield schema
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema))
        )


def _bars():  # type: ignore[no-untyped-def]
    universe = default_universe()
    return GeneratorSource().fetch_many([universe.resolve(s) for s in SYMBOLS], DAYS)


def test_migrations_up_down_up_on_timescale(timescale_url: str, ts_schema: str) -> None:
    assert migrate.upgrade(timescale_url, ts_schema) == "timescale"
    with _connect(timescale_url, ts_schema) as conn:
        hyper = conn.execute(
            "SELECT count(*) FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'",
            (ts_schema,),
        ).fetchone()
        caggs = conn.execute(
            "SELECT count(*) FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = %s",
            (ts_schema,),
        ).fetchone()
    assert hyper == (1,) and caggs == (6,)
    migrate.downgrade(timescale_url, ts_schema, "base")
    assert migrate.current(timescale_url, ts_schema) is None
    migrate.upgrade(timescale_url, ts_schema)
    head = migrate.history(timescale_url, ts_schema)[-1]
    assert head.applied and migrate.current(timescale_url, ts_schema) == head.revision


def test_bulk_replace_without_copy_and_rollups_equal_plain_postgres(
    timescale_url: str, ts_schema: str, postgres: PostgresResource, db: DbTarget
) -> None:
    migrate.upgrade(timescale_url, ts_schema)
    bars = _bars()
    partitions = [(s, "M1", d) for s in SYMBOLS for d in DAYS]
    parts = [BarPartition(d, s) for s in SYMBOLS for d in DAYS]

    ts_pg = PostgresResource(url=timescale_url, schema_name=ts_schema, pool_max_size=1)
    try:
        assert ts_pg.capabilities().dialect == "timescale"
        assert ts_pg.effective_bulk_mode() == "unnest"  # COPY would crash PGlite
        stats = replace_partitions(ts_pg, bars, partitions)
        assert sum(stats.inserted.values()) == len(bars)
        again = replace_partitions(ts_pg, bars, partitions)
        assert sum(again.inserted.values()) == sum(again.revised.values()) == 0
        refresh_rollups(ts_pg, parts)
    finally:
        ts_pg.close()

    replace_partitions(postgres, bars, partitions)
    refresh_rollups(postgres, parts)

    for name, statement in ROLLUP_QUERY.items():
        with _connect(timescale_url, ts_schema) as conn:
            on_timescale = conn.execute(statement).fetchall()
        with db.connect() as conn:
            on_postgres = conn.execute(statement).fetchall()
        assert on_timescale, name
        assert on_timescale == on_postgres, f"{name} differs between dialects"


def test_policies_are_applied_and_run(timescale_url: str, ts_schema: str) -> None:
    """M1's retention drops old minute bars only: a D1 base's old daily bars stay."""
    migrate.upgrade(timescale_url, ts_schema)
    with _connect(timescale_url, ts_schema) as conn:
        policy = PolicySettings(
            retention_m1="180 days", compress_after="30 days", retention={"H1": "1 year"}
        )
        done = apply_policies(conn, "timescale", policy)
        assert done == [
            "compression after 30 days",
            "M1 retention 180 days: M1 bars",
            "H1 retention 1 year: H1 bars and its rollup ohlcv_h1",
        ]
        for symbol, tf in (("USDJPY", "M1"), ("AAPL", "D1")):
            conn.execute(
                "INSERT INTO ohlcv_bars (symbol, timeframe, ts, session_date, open, high, low,"
                " close, volume, source) SELECT %s, %s, t, t::date, 1, 2, 0.5, 1.5, 1,"
                " 'generator' FROM generate_series(now() - interval '400 days',"
                " now() - interval '1 day', interval '1 day') AS t",
                (symbol, tf),
            )
        jobs = dict(
            conn.execute(
                "SELECT proc_name, job_id FROM timescaledb_information.jobs"
                " WHERE hypertable_schema = %s AND hypertable_name = 'ohlcv_bars'",
                (ts_schema,),
            ).fetchall()
        )
        rollup_retention = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.jobs"
            " WHERE proc_name = 'policy_retention' AND hypertable_schema = %s",
            (ts_schema,),
        ).fetchall()
        bar_job = conn.execute(
            "SELECT job_id FROM timescaledb_information.jobs"
            " WHERE proc_schema = %s AND proc_name = 'bar_retention_job'",
            (ts_schema,),
        ).fetchone()
        assert bar_job is not None
        conn.execute(f"CALL run_job({int(bar_job[0])})")
        oldest = dict(
            conn.execute("SELECT timeframe, min(ts) FROM ohlcv_bars GROUP BY 1").fetchall()
        )
        conn.execute(f"CALL run_job({int(jobs['policy_compression'])})")
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = %s"
            " AND is_compressed",
            (ts_schema,),
        ).fetchone()
        none = apply_policies(conn, "timescale", PolicySettings(None, None))
        left = conn.execute(
            "SELECT count(*) FROM timescaledb_information.jobs"
            " WHERE hypertable_schema = %s OR proc_schema = %s",
            (ts_schema, ts_schema),
        ).fetchone()
    now = dt.datetime.now(dt.UTC)
    assert "policy_retention" not in jobs  # no hypertable-wide retention (0011)
    assert [name for (name,) in rollup_retention] == ["ohlcv_h1"]
    assert oldest["M1"] > now - dt.timedelta(days=190)
    assert oldest["D1"] < now - dt.timedelta(days=399)
    assert compressed is not None and compressed[0] > 0
    assert none == ["retention off for every timeframe"]
    assert left == (6,)  # the caggs' refresh policies of the migrations only


def _error_chain(exc: BaseException) -> list[BaseException]:
    """The error, its __cause__ and __context__, theirs, and so on (each once)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__]
    return seen


def _assert_no_password(exc: BaseException, password: str) -> None:
    chain = _error_chain(exc)
    for e in chain:
        for text in (str(e), repr(e), *map(str, e.args)):
            assert password not in text, f"password leaked by {type(e).__name__}: {text!r}"
            assert quote(password, safe="") not in text


def _with(url: str, *, password: str | None = None, port: int | None = None) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    netloc = f"{user}:{quote(password or parts.password or '', safe='')}@{parts.hostname}"
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port or parts.port}"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_url_has_no_leaking_password_in_errors(timescale_url: str, ts_schema: str) -> None:
    """Connection errors of the project's own entry points name the address, never the
    password: a wrong password against the server, and the real password at a closed port."""
    real_password = urlsplit(timescale_url).password
    assert real_password  # PGlite demands a password: roles mean something
    canary = "Wr0ngCanary9xQz"
    cases = [
        (_with(timescale_url, password=canary), canary, "password authentication failed"),
        (_with(timescale_url, port=_closed_port()), real_password, "refused"),
    ]
    for url, password, reason in cases:
        address = url_address(url)
        errors: list[BaseException] = []
        resource = PostgresResource(
            url=url, schema_name=ts_schema, pool_max_size=1, connect_timeout_s=1
        )
        try:
            with pytest.raises(StoreUnavailableError) as info:
                resource.capabilities()
            errors.append(info.value)
        finally:
            resource.close()
        with pytest.raises(StoreUnavailableError) as info:
            migrate.detect_dialect(url, connect_timeout_s=2)
        errors.append(info.value)
        with pytest.raises(StoreUnavailableError) as info:
            migrate.upgrade(url, ts_schema)
        errors.append(info.value)
        for err in errors:
            assert address in str(err) and reason in str(err).lower(), str(err)
            assert len(_error_chain(err)) > 1  # the driver's error is chained, and checked too
            _assert_no_password(err, password)
    # Nothing was migrated through a refused connection.
    assert migrate.current(timescale_url, ts_schema) is None
