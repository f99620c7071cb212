"""Each bar check passes on good data and fails, for the right reason, on bad data."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from market_assets.core.bars import from_arrow, to_arrow
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import raw_object_key
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH
from market_assets.db.policies import PolicySettings, enforce_retention
from market_assets.ohlcv.collect import collect_partitions, record_outcomes
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.ohlcv.publish import publish_symbols
from market_assets.ohlcv.rollups import refresh_rollups
from market_assets.quality import evaluation as ev
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PART = BarPartition(dt.date(2024, 3, 12), "7203")
PARTS = [PART, BarPartition(dt.date(2024, 3, 12), "USDJPY")]


def load_parts(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource
) -> None:
    """PARTS through every store: S3, the database, rollups, Redis snapshots."""
    outcomes = collect_partitions(PARTS, BarSourcesResource(), s3_store, run_id="t")
    record_outcomes(postgres, outcomes, run_id="t")
    load_partitions_from_s3(s3_store, postgres, PARTS, "t")
    refresh_rollups(postgres, PARTS)
    publish_symbols(postgres, redis_store, ["7203", "USDJPY"], bars=500)


@pytest.fixture
def loaded(s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource) -> None:
    load_parts(s3_store, postgres, redis_store)


def _tamper(s3: S3Resource, change) -> None:  # type: ignore[no-untyped-def]
    key = raw_object_key("M1", PART.session_date, PART.symbol)
    frame = from_arrow(s3.read_parquet(key))
    change(frame)
    s3.write_parquet(key, to_arrow(frame))


def test_every_check_passes_on_good_data(
    loaded: None, s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource
) -> None:
    batch = ev.load_batch(s3_store, PARTS)
    outcomes = [
        ev.check_contract(batch),
        ev.check_ohlc_sanity(batch),
        ev.check_unique(batch),
        ev.check_continuity(batch),
        ev.check_row_counts(batch),
        ev.check_expectation_suite(batch, s3_store, "t"),
        ev.check_s3_db_reconciliation(batch, postgres),
        ev.check_d1_rollup(batch.parts, postgres),
        ev.check_h1_rollup(batch.parts, postgres),
        ev.check_snapshot_reconciliation(["7203", "USDJPY"], postgres, redis_store),
    ]
    assert [o.name for o in outcomes if not o.passed] == []
    assert outcomes[0].figures["rows_checked"] == len(batch.s3_bars) > 1000
    assert all(not o.failing for o in outcomes)


def test_high_below_low_fails_sanity_and_contract(loaded: None, s3_store: S3Resource) -> None:
    def corrupt(f):  # type: ignore[no-untyped-def]
        f.loc[10, "high"] = f.loc[10, "low"] - 5

    _tamper(s3_store, corrupt)
    batch = ev.load_batch(s3_store, PARTS)
    sanity, contract = ev.check_ohlc_sanity(batch), ev.check_contract(batch)
    assert not sanity.passed and sanity.figures["failures"] == 1
    assert "7203" in sanity.failures[0]
    assert not contract.passed and any("high_above_body" in line for line in contract.failures)


def test_duplicate_timestamp_fails_uniqueness(loaded: None, s3_store: S3Resource) -> None:
    _tamper(s3_store, lambda f: f.__setitem__("ts", f["ts"].where(f.index != 5, f["ts"][4])))
    outcome = ev.check_unique(ev.load_batch(s3_store, PARTS))
    assert not outcome.passed and outcome.figures["duplicates"] == 2


def test_missing_minutes_fail_continuity(loaded: None, s3_store: S3Resource) -> None:
    key = raw_object_key("M1", PART.session_date, PART.symbol)
    frame = from_arrow(s3_store.read_parquet(key)).iloc[:-7]
    s3_store.write_parquet(key, to_arrow(frame))
    outcome = ev.check_continuity(ev.load_batch(s3_store, PARTS))
    assert not outcome.passed and outcome.figures["missing_bars"] == 7
    assert outcome.failures == [f"7203 {PART.session_date}: 7 missing, 0 outside"]


def test_database_drift_fails_reconciliation(
    loaded: None, s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    with db.connect() as conn:
        conn.execute(
            "UPDATE ohlcv_bars SET close = close + 1 WHERE symbol = 'USDJPY'"
            " AND ts = (SELECT min(ts) FROM ohlcv_bars WHERE symbol = 'USDJPY')"
        )
    outcome = ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres)
    assert not outcome.passed
    assert outcome.failures == [
        f"USDJPY {PART.session_date}: s3 1440 rows, db 1440 rows, values differ"
    ]


def test_a_newer_object_not_loaded_yet_is_a_warning_and_drift_an_error(
    loaded: None, s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    """Overlapping runs: another run has written a newer USDJPY object and not loaded it yet.
    The database still holds exactly what its last load loaded: S3 is ahead (WARN, does not
    block), not drift (ERROR, blocks)."""
    usdjpy = PARTS[1]
    newer = collect_partitions([usdjpy], BarSourcesResource(generator_seed=7), s3_store, "b")
    assert [o.entry.status for o in newer] == ["success"]
    outcome = ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres)
    assert not outcome.passed and outcome.severity == "WARN"
    assert outcome.figures["pending_load"] == 1 and outcome.figures["mismatches"] == 0
    assert outcome.failures == [f"USDJPY {usdjpy.session_date}: S3 object not loaded yet"]

    load_partitions_from_s3(s3_store, postgres, [usdjpy], "b")  # the other run's db_bars
    assert ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres).passed

    collect_partitions([usdjpy], BarSourcesResource(generator_seed=8), s3_store, "c")
    with db.connect() as conn:  # and the database drifts meanwhile
        conn.execute(
            "UPDATE ohlcv_bars SET close = close + 1 WHERE symbol = 'USDJPY'"
            " AND ts = (SELECT min(ts) FROM ohlcv_bars WHERE symbol = 'USDJPY')"
        )
    outcome = ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres)
    assert not outcome.passed and outcome.severity == "ERROR"
    assert outcome.figures["mismatches"] == 1 and outcome.figures["pending_load"] == 0


def test_partitions_the_database_no_longer_keeps_are_not_judged(
    loaded: None,
    s3_store: S3Resource,
    postgres: PostgresResource,
    db: DbTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retention trimmed the database (S3 keeps every session): not a mismatch."""
    with db.connect() as conn:
        conn.execute("DELETE FROM ohlcv_bars")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")  # the 2024 bars are older
    outcome = ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres)
    assert outcome.passed and outcome.figures["outside_db_retention"] == len(PARTS)
    assert ev.check_h1_rollup(PARTS, postgres).passed
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "off")
    assert not ev.check_s3_db_reconciliation(ev.load_batch(s3_store, PARTS), postgres).passed


@pytest.fixture
def daily_base_universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The shipped universe plus DAYIX, an index whose base timeframe is D1."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["instruments"].append(
        {
            "symbol": "DAYIX",
            "kind": "index",
            "calendar": "XNYS",
            "currency": "USD",
            "start_price": 100.0,
            "base_timeframe": "D1",
        }
    )
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    return "DAYIX"


def test_minute_bars_age_out_and_a_daily_base_stays_judged(
    daily_base_universe: str,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
    db: DbTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """M1 retention drops the minute partitions for real (the maintenance drop); the checks
    pass, skipping the minute partitions that aged out and still judging the D1 base's
    partition of the same (old) session, whose bars stay."""
    daily = BarPartition(PART.session_date, daily_base_universe)
    load_parts(s3_store, postgres, redis_store)
    outcomes = collect_partitions([daily], BarSourcesResource(), s3_store, run_id="d")
    record_outcomes(postgres, outcomes, run_id="d")
    load_partitions_from_s3(s3_store, postgres, [daily], "d")
    monkeypatch.setenv("MARKET_ASSETS_RETENTION_M1", "6 months")  # the 2024 bars are older
    with db.connect(db.owner_url) as conn:
        dropped = enforce_retention(conn, "postgres", PolicySettings.from_env())
        left = dict(conn.execute("SELECT timeframe, count(*) FROM ohlcv_bars GROUP BY 1"))
    assert dropped > 0 and left == {"D1": 1}
    parts = [*PARTS, daily]
    outcome = ev.check_s3_db_reconciliation(ev.load_batch(s3_store, parts), postgres)
    assert outcome.passed, outcome.failures
    assert outcome.figures["outside_db_retention"] == len(PARTS)
    assert outcome.checked == [daily]
    assert ev.check_d1_rollup(parts, postgres).passed
    assert ev.check_h1_rollup(parts, postgres).passed
    # Judged, not skipped: the daily bar gone from the database is a mismatch.
    with db.connect() as conn:
        conn.execute("DELETE FROM ohlcv_bars WHERE symbol = %s", (daily_base_universe,))
    assert not ev.check_s3_db_reconciliation(ev.load_batch(s3_store, parts), postgres).passed


def test_stale_rollup_fails_d1_check(
    loaded: None, s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    with db.connect() as conn:
        conn.execute("UPDATE ohlcv_d1 SET high = high * 2 WHERE symbol = '7203'")
    outcome = ev.check_d1_rollup(PARTS, postgres)
    assert not outcome.passed and outcome.failures == [
        f"7203 {PART.session_date}: D1 differs from its M1 bars"
    ]


def test_missing_snapshot_fails_snapshot_check(
    loaded: None, postgres: PostgresResource, redis_store: RedisResource
) -> None:
    redis_store.invalidate("ohlcv:USDJPY:*")
    outcome = ev.check_snapshot_reconciliation(["7203", "USDJPY"], postgres, redis_store)
    assert not outcome.passed and outcome.failures[0].startswith("USDJPY: no snapshot")


def test_rebuild_restores_database_and_redis_from_s3(
    loaded: None,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
    db: DbTarget,
) -> None:
    from market_assets.operations.rebuild import rebuild

    with db.connect() as conn:
        conn.execute("DELETE FROM ohlcv_bars")
        conn.execute("DELETE FROM ohlcv_d1")
    redis_store.invalidate("ohlcv:*")
    steps: list = []
    figures = rebuild(
        s3_store,
        postgres,
        redis_store,
        PART.session_date,
        PART.session_date,
        ["7203", "USDJPY"],
        progress=steps.append,
    )
    assert figures["inserted"] == figures["rows"] > 0 and figures["snapshots"] == 18
    # progress: the total, then one step per symbol, rows adding up to the figures
    assert [(s.label, s.partitions, s.total) for s in steps] == [
        ("2 symbols", 0, 2),
        ("7203", 1, 2),
        ("USDJPY", 1, 2),
    ]
    assert sum(s.rows for s in steps) == figures["rows"]
    batch = ev.load_batch(s3_store, PARTS)
    assert ev.check_s3_db_reconciliation(batch, postgres).passed
    assert ev.check_d1_rollup(batch.parts, postgres).passed
    assert ev.check_snapshot_reconciliation(["7203", "USDJPY"], postgres, redis_store).passed
