"""Row counts, the great-expectations suite, the H1 rollup, freshness and per-partition
metrics: each passes on good data and fails, for the right reason, on bad data."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import psycopg
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetSelection,
    DagsterInstance,
    materialize,
)

from market_assets.core.bars import from_arrow, to_arrow
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import raw_object_key
from market_assets.core.universe import default_universe
from market_assets.db import bootstrap, migrate
from market_assets.defs.ohlcv import freshness_checks
from market_assets.defs.ohlcv.db_bars import db_bars
from market_assets.ohlcv.bar_store import replace_partitions
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.quality import evaluation as ev
from market_assets.quality.expectations import EXPECTATIONS_PREFIX, read_result
from market_assets.quality.freshness import check_freshness
from resources.postgres import PostgresResource, conninfo_for
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from tests.integration.test_bar_checks import PART, PARTS, _tamper, load_parts
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
USDJPY = BarPartition(PART.session_date, "USDJPY")
DEADLINES = default_universe().quality.deadlines


@pytest.fixture
def loaded(s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource) -> None:
    load_parts(s3_store, postgres, redis_store)


def _drop_last_rows(s3: S3Resource, n: int, source: str | None = None) -> None:
    key = raw_object_key("M1", PART.session_date, PART.symbol)
    frame = from_arrow(s3.read_parquet(key)).iloc[:-n].copy()
    if source:
        frame["source"] = source
    s3.write_parquet(key, to_arrow(frame))


# -- row counts ------------------------------------------------------------------------------
def test_row_counts_report_expected_and_actual_per_partition(
    loaded: None, s3_store: S3Resource
) -> None:
    outcome = ev.check_row_counts(ev.load_batch(s3_store, PARTS))
    assert outcome.passed
    assert outcome.per_partition[PART] == {
        "expected": 300,  # XTKS 2024-03-12: 09:00-11:30 and 12:30-15:00
        "actual": 300,
        "source": "generator",
        "minimum": 300,
    }
    assert outcome.per_partition[USDJPY]["expected"] == 1440


def test_generator_missing_rows_fail_row_count(loaded: None, s3_store: S3Resource) -> None:
    _drop_last_rows(s3_store, 3)
    outcome = ev.check_row_counts(ev.load_batch(s3_store, PARTS))
    assert not outcome.passed and list(outcome.failing) == [PART]
    assert outcome.failing[PART]["actual"] == 297
    assert outcome.failures == [
        f"7203 {PART.session_date}: 297 rows, expected 300 (generator may miss 0%: at least 300)"
    ]


def test_landing_tolerance_allows_a_few_missing_rows_not_many(
    loaded: None, s3_store: S3Resource
) -> None:
    _drop_last_rows(s3_store, 6, source="landing")  # 2% of 300 = 6 may be missing
    assert ev.check_row_counts(ev.load_batch(s3_store, PARTS)).passed
    _drop_last_rows(s3_store, 1, source="landing")  # 7 now
    outcome = ev.check_row_counts(ev.load_batch(s3_store, PARTS))
    assert not outcome.passed and outcome.failing[PART]["minimum"] == 294


def test_missing_object_fails_row_count(loaded: None, s3_store: S3Resource) -> None:
    s3_store.delete_prefix(f"ohlcv/timeframe=M1/date={PART.session_date}/symbol=7203/")
    outcome = ev.check_row_counts(ev.load_batch(s3_store, PARTS))
    assert not outcome.passed and outcome.failing[PART]["actual"] == 0


# -- great-expectations suite ------------------------------------------------------------------
def test_expectation_suite_passes_and_stores_its_result(loaded: None, s3_store: S3Resource) -> None:
    outcome = ev.check_expectation_suite(ev.load_batch(s3_store, PARTS), s3_store, "run-1")
    assert outcome.passed and outcome.summary
    key = outcome.figures["result_key"]
    assert key.startswith(f"{EXPECTATIONS_PREFIX}/{PART.session_date}_{PART.session_date}/")
    stored = read_result(s3_store, key)
    assert stored["success"] is True
    assert stored["statistics"]["evaluated_expectations"] == outcome.figures["expectations"] > 20


def test_expectation_suite_attributes_failures_to_their_partition(
    loaded: None, s3_store: S3Resource
) -> None:
    def corrupt(f):  # type: ignore[no-untyped-def]
        f.loc[10, "high"] = f.loc[10, "low"] - 5
        f.loc[20, "volume"] = float("inf")

    _tamper(s3_store, corrupt)
    outcome = ev.check_expectation_suite(ev.load_batch(s3_store, PARTS), s3_store, "run-2")
    assert not outcome.passed
    assert list(outcome.failing) == [PART]  # USDJPY is clean
    failed = outcome.failing[PART]["expectations"]
    assert failed["expect_column_values_to_be_between(volume)"] == 1
    assert failed["expect_column_pair_values_a_to_be_greater_than_b(high>=open)"] == 1
    stored = read_result(s3_store, outcome.figures["result_key"])
    assert stored["success"] is False
    assert (
        stored["statistics"]["unsuccessful_expectations"]
        == len(outcome.failures)
        == outcome.figures["expectations_failed"]
    )


def test_expectation_suite_fails_a_missing_column_for_every_partition(
    loaded: None, s3_store: S3Resource
) -> None:
    batch = ev.load_batch(s3_store, PARTS)
    batch.s3_bars = batch.s3_bars.drop(columns=["adj_factor"])
    outcome = ev.check_expectation_suite(batch, s3_store, "run-3")
    assert not outcome.passed and set(outcome.failing) == set(PARTS)
    assert any("expect_table_columns_to_match_set(table)" in line for line in outcome.failures)


# -- H1 rollup --------------------------------------------------------------------------------
def test_stale_h1_rollup_fails_h1_check(
    loaded: None, postgres: PostgresResource, db: DbTarget
) -> None:
    with db.connect() as conn:
        conn.execute(
            "UPDATE ohlcv_h1 SET low = low - 1 WHERE symbol = 'USDJPY'"
            " AND ts = (SELECT min(ts) FROM ohlcv_h1 WHERE symbol = 'USDJPY')"
        )
        conn.execute(
            "DELETE FROM ohlcv_h1 WHERE symbol = '7203'"
            " AND ts = (SELECT max(ts) FROM ohlcv_h1 WHERE symbol = '7203')"
        )
    outcome = ev.check_h1_rollup(PARTS, postgres)
    assert not outcome.passed and outcome.figures["hours_mismatched"] == 2
    assert outcome.failing == {PART: {"missing": 1}, USDJPY: {"differs": 1}}


# -- per-partition metrics ---------------------------------------------------------------------
def test_metrics_hold_one_row_per_check_and_partition(
    loaded: None, s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    _tamper(s3_store, lambda f: f.__setitem__("low", f["low"].where(f.index != 3, -1.0)))
    batch = ev.load_batch(s3_store, PARTS)
    outcomes = [ev.check_ohlc_sanity(batch), ev.check_row_counts(batch)]
    assert ev.record_metrics(postgres, outcomes, "run-m", PARTS) == 4
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT check_name, partition_key, passed, figures FROM data_quality_metrics"
            " WHERE run_id = 'run-m' ORDER BY 1, 2"
        ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ohlc_sanity", str(PART.key), False),
        ("ohlc_sanity", str(USDJPY.key), True),
        ("row_count", str(PART.key), True),
        ("row_count", str(USDJPY.key), True),
    ]
    assert rows[0][3] == {"failures": 1}
    assert rows[3][3]["expected"] == rows[3][3]["actual"] == 1440


# -- freshness --------------------------------------------------------------------------------
def test_freshness_passes_when_the_due_session_is_in(
    loaded: None, postgres: PostgresResource
) -> None:
    day = PART.session_date
    after_deadline = dt.datetime.combine(day, dt.time(16, 30), TOKYO)
    outcome = check_freshness(postgres, DEADLINES["XTKS"], ["7203"], after_deadline)
    assert outcome.passed and outcome.name == "freshness_tokyo"
    assert outcome.figures["due_session"] == day.isoformat()
    # The next day before its deadline: the loaded session is still the one due.
    next_morning = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(16, 29), TOKYO)
    assert check_freshness(postgres, DEADLINES["XTKS"], ["7203"], next_morning).passed


def test_freshness_fails_after_the_deadline_of_a_missing_session(
    loaded: None, postgres: PostgresResource
) -> None:
    next_day = PART.session_date + dt.timedelta(days=1)
    late = dt.datetime.combine(next_day, dt.time(16, 31), TOKYO)
    outcome = check_freshness(postgres, DEADLINES["XTKS"], ["7203", "6758"], late)
    assert not outcome.passed and outcome.figures["symbols_stale"] == 2
    assert outcome.failures == [
        f"6758: newest session none in the last 21 days, {next_day} was due by 16:30 Asia/Tokyo",
        f"7203: newest session {PART.session_date}, {next_day} was due by 16:30 Asia/Tokyo",
    ]


def test_freshness_check_in_dagster_uses_registered_symbols_and_records_metrics(
    loaded: None,
    s3_store: S3Resource,
    postgres: PostgresResource,
    db: DbTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["USDJPY", "7203"])
    day = PART.session_date
    for now, passed in (
        (dt.datetime.combine(day, dt.time(17, 30), NEW_YORK), True),
        (dt.datetime.combine(day + dt.timedelta(days=1), dt.time(17, 30), NEW_YORK), False),
    ):
        monkeypatch.setattr(freshness_checks, "utc_now", lambda now=now: now)
        # A check-only run without partitions, as the automation sensor launches it.
        run = materialize(
            [db_bars],
            selection=AssetSelection.checks(AssetCheckKey(db_bars.key, "freshness_fx")),
            instance=instance,
            resources={"postgres": postgres, "s3": s3_store},
        )
        assert run.success
        (evaluation,) = run.get_asset_check_evaluations()
        assert evaluation.passed is passed and evaluation.severity == AssetCheckSeverity.ERROR
        assert evaluation.metadata["symbols_checked"].value == 1  # USDJPY; 7203 is Tokyo's
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT passed, partition_key, figures->>'due_session' FROM data_quality_metrics"
            " WHERE check_name = 'freshness_fx' ORDER BY id"
        ).fetchall()
    assert rows == [
        (True, None, day.isoformat()),
        (False, None, (day + dt.timedelta(days=1)).isoformat()),
    ]


# -- H1 rollup on TimescaleDB (continuous aggregates) -------------------------------------------
@pytest.fixture
def ts_postgres(timescale_url: str) -> Iterator[PostgresResource]:
    """A migrated schema on the PGlite TimescaleDB server (one connection at a time)."""
    bootstrap.ensure_extensions(timescale_url, ("timescaledb",))
    schema = f"tsq_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
    migrate.upgrade(timescale_url, schema)
    resource = PostgresResource(url=timescale_url, schema_name=schema, pool_max_size=1)
    yield resource
    resource.close()
    with psycopg.connect(conninfo_for(timescale_url), autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema))
        )


@pytest.mark.timescale
@pytest.mark.timeout(600)
def test_h1_check_on_continuous_aggregates(ts_postgres: PostgresResource) -> None:
    # Asked first: with a pool of one, the bulk path cannot open a second connection to ask.
    assert ts_postgres.capabilities().dialect == "timescale"
    assert ts_postgres.effective_bulk_mode() == "unnest"
    instruments = [default_universe().resolve(p.symbol) for p in PARTS]
    bars = GeneratorSource().fetch_many(instruments, [PART.session_date])
    replace_partitions(ts_postgres, bars, [(p.symbol, "M1", p.session_date) for p in PARTS])
    refresh_rollups(ts_postgres, PARTS)
    outcome = ev.check_h1_rollup(PARTS, ts_postgres)
    assert outcome.passed and outcome.figures["partitions_checked"] == 2
    # An M1 bar corrected after the refresh: the materialised H1 hour is now stale.
    with ts_postgres.transaction() as conn:
        conn.execute(
            "UPDATE ohlcv_bars SET high = high + 100 WHERE symbol = 'USDJPY'"
            " AND ts = (SELECT min(ts) FROM ohlcv_bars WHERE symbol = 'USDJPY')"
        )
    outcome = ev.check_h1_rollup(PARTS, ts_postgres)
    assert not outcome.passed and outcome.failing == {USDJPY: {"differs": 1}}
