"""raw_bars -> db_bars on real servers: batches, idempotence, hold-back and quarantine."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import DagsterInstance, materialize

from market_assets.core.bars import frame_checksum, from_arrow, to_arrow
from market_assets.core.partition_keys import BarPartition, partition_key
from market_assets.core.storage_layout import raw_object_key
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.db_bars import db_bars
from market_assets.defs.ohlcv.raw_bars import raw_bars
from market_assets.ohlcv.collect import collect_partitions, record_outcomes
from market_assets.ohlcv.load import load_partitions_from_s3
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from resources.sources.resource import BarSourcesResource
from tests.integration.convergence import stored_bars
from tests.integration.runs import materialize_range
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
SYMBOLS = ["USDJPY", "7203"]


def _db_rows(db: DbTarget, symbol: str, day: dt.date) -> pd.DataFrame:
    with db.connect() as conn:
        return stored_bars(conn, symbol, day)


def _run_batch(parts, s3, postgres):  # type: ignore[no-untyped-def]
    outcomes = collect_partitions(parts, BarSourcesResource(), s3, run_id="test")
    record_outcomes(postgres, outcomes, run_id="test")
    loaded = load_partitions_from_s3(s3, postgres, [o.partition for o in outcomes], "test")
    return outcomes, loaded


def test_batch_lands_in_s3_and_db_identically(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    parts = [BarPartition(d, s) for d in DAYS for s in SYMBOLS]
    outcomes, loaded = _run_batch(parts, s3_store, postgres)
    assert all(o.entry.status == "success" for o in outcomes)
    assert loaded["inserted"] == loaded["rows"] > 0

    universe = default_universe()
    expected = GeneratorSource().fetch_many([universe.resolve(s) for s in SYMBOLS], DAYS)
    for part in parts:
        key = raw_object_key("M1", part.session_date, part.symbol)
        in_s3 = from_arrow(s3_store.read_parquet(key))
        want = expected[
            (expected["symbol"] == part.symbol) & (expected["session_date"] == part.session_date)
        ]
        assert frame_checksum(in_s3) == frame_checksum(want)
        in_db = _db_rows(db, part.symbol, part.session_date)
        assert len(in_db) == len(want)
        assert frame_checksum(in_db) == frame_checksum(want)


def test_rerun_is_idempotent_and_counts_nothing_revised(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    parts = [BarPartition(DAYS[0], "USDJPY")]
    _, first = _run_batch(parts, s3_store, postgres)
    _, second = _run_batch(parts, s3_store, postgres)
    assert first["inserted"] > 0
    assert second == {
        "rows": first["rows"],
        "inserted": 0,
        "revised": 0,
        "deleted": 0,
        "adjustment_events": 0,
    }
    assert len(_db_rows(db, "USDJPY", DAYS[0])) == first["rows"]


def test_rows_gone_from_source_are_removed_and_revisions_counted(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    part = BarPartition(DAYS[0], "7203")
    _run_batch([part], s3_store, postgres)
    key = raw_object_key("M1", part.session_date, part.symbol)
    frame = from_arrow(s3_store.read_parquet(key))
    shorter = frame.iloc[:-10].copy()
    shorter.loc[0, "close"] = shorter.loc[0, "high"]  # a revised bar
    s3_store.write_parquet(key, to_arrow(shorter))
    loaded = load_partitions_from_s3(s3_store, postgres, [part], "test")
    assert loaded["deleted"] == 10
    assert loaded["revised"] == 1
    assert len(_db_rows(db, "7203", part.session_date)) == len(shorter)


def test_unknown_symbol_is_held_back_while_others_proceed(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    parts = [BarPartition(DAYS[0], "USDJPY"), BarPartition(DAYS[0], "NOPE")]
    outcomes, loaded = _run_batch(parts, s3_store, postgres)
    status = {o.partition.symbol: o.entry.status for o in outcomes}
    assert status == {"USDJPY": "success", "NOPE": "failed"}
    assert "unknown symbol" in next(o.entry.error for o in outcomes if o.partition.symbol == "NOPE")
    assert loaded["inserted"] > 0
    with db.connect() as conn:
        logged = conn.execute(
            "SELECT status, error FROM data_collection_log WHERE asset = 'raw_bars'"
            " AND symbol = 'NOPE'"
        ).fetchone()
    assert logged is not None and logged[0] == "failed"


def test_materialize_one_partition_through_dagster(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("symbols", ["EURUSD"])
    result = materialize(
        [raw_bars, db_bars],
        partition_key=partition_key(DAYS[1], "EURUSD"),
        resources={"s3": s3_store, "postgres": postgres, "sources": BarSourcesResource()},
        instance=instance,
    )
    assert result.success
    raw_meta = result.asset_materializations_for_node("raw_bars")[0].metadata
    assert raw_meta["dagster/row_count"].value == 1440  # an FX session: 24 h of M1 bars
    assert raw_meta["batch_rows"].value == 1440  # the batch is this one partition
    assert raw_meta["checksum"].value
    assert len(_db_rows(db, "EURUSD", DAYS[1])) == raw_meta["dagster/row_count"].value


def test_full_family_through_dagster_publishes_snapshots(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget, redis_store
) -> None:  # type: ignore[no-untyped-def]
    from market_assets.ohlcv.snapshots import decode
    from resources.cache_keys import snapshot_info_key, snapshot_key

    result = materialize_range(
        s3_store,
        postgres,
        redis_store,
        ["USDJPY", "7203"],
        DAYS[0],
        DAYS[1],
    )
    assert result.success
    snaps = result.asset_materializations_for_node("bar_snapshots")[0].metadata
    assert snaps["batch_snapshots"].value == 2 * 9
    m1 = decode(redis_store.get_snapshot(snapshot_key("USDJPY", "M1", redis_store.key_prefix)))
    assert len(m1) == 2000 and str(m1.index.tz) == "UTC"
    d1 = decode(redis_store.get_snapshot(snapshot_key("USDJPY", "D1", redis_store.key_prefix)))
    assert len(d1) == 2  # two sessions
    h4 = decode(redis_store.get_snapshot(snapshot_key("7203", "H4", redis_store.key_prefix)))
    assert (h4.index.hour % 4 == 0).all()
    info = redis_store.get_info(snapshot_info_key("USDJPY", "M1", redis_store.key_prefix))
    assert info["bars"] == 2000
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    # freshness_* compare with today's clock (these bars are from 2024): see test_quality_checks
    assert {k: v for k, v in checks.items() if not k.startswith("freshness")} == {
        "schema_contract": True,
        "ohlc_sanity": True,
        "unique_symbol_timeframe_ts": True,
        "session_continuity": True,
        "row_count": True,
        "expectation_suite": True,
        "s3_db_reconciliation": True,
        "d1_equals_m1_aggregate": True,
        "h1_equals_m1_aggregate": True,
        "snapshot_matches_database": True,
    }
    with db.connect() as conn:
        metrics = dict(
            conn.execute("SELECT check_name, count(*) FROM data_quality_metrics GROUP BY 1")
        )
    # one row per check and partition (4), plus the suite's summary; per run where unpartitioned
    assert metrics["ohlc_sanity"] == metrics["h1_equals_m1_aggregate"] == 4
    assert metrics["expectation_suite"] == 5
    assert metrics["snapshot_matches_database"] == metrics["freshness_fx"] == 1


def test_checks_run_alone_against_what_is_stored(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget, redis_store
) -> None:  # type: ignore[no-untyped-def]
    """The checks live in their assets' steps, yet a run may select them alone: nothing is
    materialised, and they judge what the stores hold."""
    from dagster import AssetCheckKey, AssetCheckSeverity, AssetSelection

    from market_assets.defs.ohlcv.assets import OHLCV_ASSETS

    symbols = ["USDJPY", "7203"]
    assert materialize_range(s3_store, postgres, redis_store, symbols, DAYS[0], DAYS[1]).success
    with db.connect() as conn:
        conn.execute(
            "DELETE FROM ohlcv_bars WHERE (symbol, timeframe, ts) IN (SELECT symbol, timeframe, ts"
            " FROM ohlcv_bars WHERE symbol = 'USDJPY' AND session_date = %s LIMIT 1)",
            (DAYS[1],),
        )
        conn.commit()
    before = len(_db_rows(db, "USDJPY", DAYS[1]))

    checks_only = materialize_range(
        s3_store,
        postgres,
        redis_store,
        symbols,
        DAYS[0],
        DAYS[1],
        selection=AssetSelection.checks(
            AssetCheckKey(raw_bars.key, "ohlc_sanity"),
            AssetCheckKey(db_bars.key, "s3_db_reconciliation"),
        ),
        raise_on_error=False,
    )
    assert not checks_only.get_asset_materialization_events()
    results = {e.check_name: e for e in checks_only.get_asset_check_evaluations()}
    assert results.keys() == {"ohlc_sanity", "s3_db_reconciliation"}
    assert results["ohlc_sanity"].passed
    reconciliation = results["s3_db_reconciliation"]
    assert not reconciliation.passed
    assert f"USDJPY {DAYS[1]}" in str(reconciliation.metadata)
    # Blocking: its failure failed db_bars' step (and the run); the raw_bars step passed.
    assert reconciliation.blocking is True
    assert reconciliation.severity == AssetCheckSeverity.ERROR
    assert not checks_only.success
    failures = [e for e in checks_only.all_events if e.event_type_value == "STEP_FAILURE"]
    assert [e.step_key for e in failures] == ["db_bars"]
    error = failures[0].event_specific_data.error
    assert error.cls_name == "DagsterAssetCheckFailedError"
    assert "blocking" in error.message and "db_bars: s3_db_reconciliation" in error.message
    succeeded = {e.step_key for e in checks_only.all_events if e.event_type_value == "STEP_SUCCESS"}
    assert succeeded == {"raw_bars"}
    assert len(_db_rows(db, "USDJPY", DAYS[1])) == before  # nothing was reloaded

    # A partition-wise check launched with no partition at all says what it needs.
    instance = DagsterInstance.ephemeral()
    no_partitions = materialize(
        OHLCV_ASSETS,
        selection=AssetSelection.checks(AssetCheckKey(raw_bars.key, "row_count")),
        instance=instance,
        resources={
            "s3": s3_store,
            "postgres": postgres,
            "redis": redis_store,
            "sources": BarSourcesResource(),
        },
        raise_on_error=False,
    )
    assert not no_partitions.success
    (failure,) = [e for e in no_partitions.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "launch it with a partition" in str(failure.event_specific_data.error)
