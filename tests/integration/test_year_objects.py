"""Period objects of the daily family on the embedded stack: a D1-base symbol's sessions of one
year share one S3 object; a run over some of its sessions rewrites them over the object's other
sessions (kept), the same answer twice writes the same object, and the load takes only the
run's sessions, each with its own checksum (the reconciliation passes)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from dagster import instance_for_test

from market_assets.core.bars import from_arrow, table_checksum
from market_assets.core.calendars import sessions_in_range
from market_assets.core.families import daily_family
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import period_object_key
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.collect import collect_partitions, record_outcomes
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.operations.backfill import run_family_backfill
from market_assets.quality import evaluation as ev
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from tests.integration.sources import OneSource
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OBJECT = period_object_key("D1", daily_family().grain, "2004", "AAPL")


@pytest.fixture(autouse=True)
def us_daily_stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "AAPL":
            entry.update(base_timeframe="D1", source="generator")
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))


def _collect(s3: S3Resource, postgres: PostgresResource, parts: list[BarPartition]) -> None:
    outcomes = collect_partitions(parts, OneSource(GeneratorSource()), s3, run_id="year")  # type: ignore[arg-type]
    assert [o.entry.error for o in outcomes if o.held_back] == []
    record_outcomes(postgres, outcomes, run_id="year")


def test_a_year_is_one_object_rewritten_in_place(
    s3_store: S3Resource, postgres: PostgresResource
) -> None:
    year = daily_family().expand("2004|AAPL", "XNYS")
    assert len(year) == 252
    _collect(s3_store, postgres, year)
    first = s3_store.read_parquet(OBJECT)
    assert first.num_rows == 252
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=D1/")] == [OBJECT]

    march = [p for p in year if p.session_date.month == 3]
    _collect(s3_store, postgres, march)  # the same source answer for March: the same object
    again = s3_store.read_parquet(OBJECT)
    assert again.num_rows == 252
    assert table_checksum(again) == table_checksum(first)

    load_partitions_from_s3(s3_store, postgres, march, "year")
    with postgres.connection() as conn:
        stored = read_bars(conn, "AAPL", "D1")
        conn.rollback()
    assert len(stored) == len(march)  # only the run's sessions load
    days = sessions_in_range("XNYS", "2004-03-01", "2004-03-31")
    assert [d.date() for d in stored.index] == days
    in_s3 = from_arrow(again)
    assert list(in_s3["session_date"]) == sorted(in_s3["session_date"])

    batch = ev.load_batch(s3_store, march)
    assert len(batch.s3_bars) == len(march) and batch.missing_objects == []
    assert ev.check_s3_db_reconciliation(batch, postgres).passed
    assert ev.check_row_counts(batch).passed
    assert dt.date(2004, 3, 1) in {p.session_date for p in march}


def test_daily_family_backfill_runs_years_and_skips_other_families(
    monkeypatch: pytest.MonkeyPatch,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    """`market-assets backfill --family daily`'s service: AAPL's years 2004-2005 in one run;
    7203 (an M1 base) is registered in `symbols` and not run here."""
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("MARKET_ASSETS_SOURCE", "generator")
    from market_assets.cli.code_location import daily_assets

    with instance_for_test() as instance:
        outcomes = run_family_backfill(
            instance,
            daily_assets(),
            daily_family(),
            dt.date(2004, 11, 1),
            dt.date(2005, 2, 1),
            ["AAPL", "7203"],
        )
        assert [(w.start.year, w.end.year, ok) for w, ok in outcomes] == [(2004, 2005, True)]
        assert instance.get_dynamic_partitions("daily_symbols") == ["AAPL"]
        assert instance.get_dynamic_partitions("symbols") == ["7203"]
    objects = sorted(o.key for o in s3_store.list_objects("ohlcv/timeframe=D1/"))
    assert objects == [
        f"ohlcv/timeframe=D1/year={y}/symbol=AAPL/bars.parquet" for y in ("2004", "2005")
    ]
    with postgres.connection() as conn:
        stored = read_bars(conn, "AAPL", "D1")
        conn.rollback()
    sessions = sessions_in_range("XNYS", "2004-01-01", "2005-12-31")
    assert [d.date() for d in stored.index] == sessions  # whole years: the partitions' sessions


def test_two_runs_writing_one_year_object_at_once_lose_nothing(
    s3_store: S3Resource, postgres: PostgresResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A landing run and the scheduled run of the same year: both read the object before
    either writes (forced by a barrier on the first read of each), so the second PUT must be
    refused and merged again over the first writer's sessions."""
    year = daily_family().expand("2004|AAPL", "XNYS")
    halves = [
        [p for p in year if p.session_date.month <= 6],
        [p for p in year if p.session_date.month > 6],
    ]
    barrier = threading.Barrier(2, timeout=30)
    first_read: set[int] = set()
    read = S3Resource._get_with_etag

    def raced(self, key):  # type: ignore[no-untyped-def]
        got = read(self, key)
        if threading.get_ident() not in first_read:
            first_read.add(threading.get_ident())
            barrier.wait()  # both writers hold the same (absent) version now
        return got

    monkeypatch.setattr(S3Resource, "_get_with_etag", raced)
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(collect_partitions, half, OneSource(GeneratorSource()), s3_store, "r")  # type: ignore[arg-type]
            for half in halves
        ]
        outcomes = [o for future in done for o in future.result()]
    assert not [o for o in outcomes if o.held_back]
    stored = s3_store.read_parquet(OBJECT)
    assert stored.num_rows == len(year) == 252  # neither run's half was lost
    sessions = sorted(set(stored.column("session_date").to_pylist()))
    assert sessions == [p.session_date for p in year]


def test_a_session_tagged_run_fetches_only_its_session_of_the_year(
    monkeypatch: pytest.MonkeyPatch,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    """The year schedules tag their runs with the session (SESSIONS_TAG): the run over
    `2004|AAPL` fetches that one session, merges it into the stored year and loads it, and
    the year's other 251 sessions stay as they were in S3 and the database. A window outside
    the run's year fails, naming the tag."""
    from dagster import materialize

    from market_assets.cli.code_location import daily_assets
    from market_assets.composition import definitions_resources
    from market_assets.core.run_plan import RANGE_END_TAG, RANGE_START_TAG, SESSIONS_TAG
    from market_assets.operations.backfill import materialization_metadata

    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("MARKET_ASSETS_SOURCE", "generator")
    range_tags = {RANGE_START_TAG: "2004|AAPL", RANGE_END_TAG: "2004|AAPL"}
    with instance_for_test() as instance:
        instance.add_dynamic_partitions("daily_symbols", ["AAPL"])

        def run(**tags: str):
            return materialize(
                daily_assets(),
                instance=instance,
                resources=definitions_resources(),
                tags={**range_tags, **tags},
                raise_on_error=False,
            )

        assert run().success  # the whole year, as a backfill asks
        year = s3_store.read_parquet(OBJECT)
        assert year.num_rows == 252
        day = dt.date(2004, 6, 1)
        result = run(**{SESSIONS_TAG: f"{day}..{day}"})
        assert result.success
        raw = materialization_metadata(result)["daily_raw_bars"]
        assert raw["batch_rows"].value == 1  # one session fetched and written
        after = s3_store.read_parquet(OBJECT)
        assert after.num_rows == 252
        assert table_checksum(after) == table_checksum(year)  # the same answer, merged in
        with postgres.connection() as conn:
            stored = read_bars(conn, "AAPL", "D1")
            conn.rollback()
        assert len(stored) == 252
        outside = run(**{SESSIONS_TAG: "2005-01-03..2005-01-03"})
        assert not outside.success
        failure = outside.get_step_failure_events()[0].step_failure_data.error
        assert failure is not None and SESSIONS_TAG in failure.message
