"""Listing windows and first data on the embedded stack (issue 15, items 1 and 6).

A D1-base symbol listed mid-year gets only sessions from its listing; its years before the
listing materialise as skips (with the reason), never failures, including a run that holds
nothing else; a source with no bars before a date makes the sessions before it skips, not
gaps, once the symbol has data; a delisted symbol gets no schedule request, and its days after
the delisting are skipped by a run that asks for them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import yaml
from dagster import (
    AssetKey,
    DagsterInstance,
    SkipReason,
    build_schedule_context,
    instance_for_test,
)

from market_assets.core.calendars import sessions_in_range
from market_assets.core.families import daily_family
from market_assets.core.timeframes import Timeframe
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, Instrument
from market_assets.ohlcv.bar_reads import read_bars
from market_assets.ohlcv.collect import collect_partitions, record_outcomes, stored_first_data
from market_assets.operations.backfill import run_family_backfill
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from tests.integration.runs import materialize_range
from tests.integration.sources import OneSource
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

LISTED = dt.date(2004, 6, 15)
DELISTED = dt.date(2024, 3, 8)  # a Friday


@pytest.fixture(autouse=True)
def listing_universe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AAPL a D1 base listed mid-2004; MSFT a D1 base without dates; SPX (M1) delisted."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "AAPL":
            entry.update(base_timeframe="D1", listed=LISTED.isoformat())
        elif entry["symbol"] == "MSFT":
            entry.update(base_timeframe="D1")
        elif entry["symbol"] == "SPX":
            entry.update(delisted=DELISTED)
    path = tmp_path / "universe.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))


def _latest(instance: DagsterInstance, asset: str) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for record in instance.fetch_materializations(AssetKey(asset), limit=100).records:
        event = record.asset_materialization
        assert event is not None and event.partition is not None
        found.setdefault(str(event.partition), dict(event.metadata))
    return found


def _text(meta: dict, key: str) -> str | None:
    value = meta.get(key)
    return None if value is None else str(value.value)


def test_a_symbol_listed_mid_year_gets_sessions_from_its_listing_only(
    monkeypatch: pytest.MonkeyPatch,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> None:
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("MARKET_ASSETS_SOURCE", "generator")
    from market_assets.cli.code_location import daily_assets

    family = daily_family()
    with instance_for_test() as instance:
        # A run holding only years before the listing: a materialization saying why.
        before = run_family_backfill(
            instance, daily_assets(), family, dt.date(2002, 1, 1), dt.date(2003, 12, 31), ["AAPL"]
        )
        assert [ok for _, ok in before] == [True]
        assert list(s3_store.list_objects("ohlcv/timeframe=D1/")) == []
        raw = _latest(instance, "daily_raw_bars")
        assert sorted(raw) == ["2002|AAPL", "2003|AAPL"]
        for meta in raw.values():
            assert _text(meta, "skipped") == f"before AAPL's listing on {LISTED}"
            assert meta["batch_partitions_skipped"].value == 2

        # The year of the listing with one before it, in one run.
        outcomes = run_family_backfill(
            instance, daily_assets(), family, dt.date(2003, 1, 1), dt.date(2004, 12, 31), ["AAPL"]
        )
        assert [ok for _, ok in outcomes] == [True]
        raw = _latest(instance, "daily_raw_bars")
        assert _text(raw["2003|AAPL"], "skipped") == f"before AAPL's listing on {LISTED}"
        assert _text(raw["2004|AAPL"], "skipped") is None
        assert raw["2004|AAPL"]["sessions_held_back"].value == 0
    objects = [o.key for o in s3_store.list_objects("ohlcv/timeframe=D1/")]
    assert objects == ["ohlcv/timeframe=D1/year=2004/symbol=AAPL/bars.parquet"]
    with postgres.connection() as conn:
        stored = read_bars(conn, "AAPL", "D1")
        conn.rollback()
    assert [d.date() for d in stored.index] == sessions_in_range("XNYS", LISTED, "2004-12-31")


class LateStart:
    """The generator, with no bars before `first` (a vendor whose history starts there)."""

    def __init__(self, first: dt.date) -> None:
        self.inner = GeneratorSource()
        self.name = self.inner.name
        self.first = first

    def fetch_many(
        self,
        instruments: Iterable[Instrument],
        session_dates: Sequence[dt.date],
        timeframe: Timeframe | str | None = None,
    ) -> pd.DataFrame:
        frame = self.inner.fetch_many(instruments, session_dates, timeframe)
        days = pd.to_datetime(frame["session_date"]).dt.date
        return frame[days >= self.first].reset_index(drop=True)


def test_sessions_before_the_first_data_are_skipped_not_held_back(
    s3_store: S3Resource, postgres: PostgresResource
) -> None:
    family = daily_family()
    first = dt.date(2004, 3, 1)
    source = OneSource(LateStart(first))
    year = family.expand("2004|MSFT", "XNYS")
    outcomes = collect_partitions(year, source, s3_store, "a")  # type: ignore[arg-type]
    record_outcomes(postgres, outcomes, "a")
    assert [o.partition for o in outcomes if o.held_back] == []
    skipped = [o for o in outcomes if o.skipped]
    assert [o.partition.session_date for o in skipped] == sessions_in_range(
        "XNYS", "2004-01-01", "2004-02-29"
    )
    assert {o.skipped for o in skipped} == {f"before MSFT's first data on {first}"}

    # A later run of an earlier year alone: the stored first data tells it apart from a gap.
    earlier = family.expand("2003|MSFT", "XNYS")
    assert stored_first_data(postgres, earlier) == {"MSFT": first}
    again = collect_partitions(
        earlier,
        source,  # type: ignore[arg-type]
        s3_store,
        "b",
        stored_first_data(postgres, earlier),
    )
    assert [o for o in again if o.held_back] == [] and all(o.skipped for o in again)

    # A gap after the first data is still held back; so is a symbol with no data anywhere
    # (a late start cannot be told from a wrong vendor spelling).
    gap = collect_partitions(
        family.expand("2004|MSFT", "XNYS")[-5:],
        OneSource(LateStart(dt.date(2005, 1, 1))),
        s3_store,
        "c",
        stored_first_data(postgres, year),
    )  # type: ignore[arg-type]
    assert all(o.held_back for o in gap)
    never = collect_partitions(family.expand("2003|AAPL", "XNYS")[:3], source, s3_store, "d")  # type: ignore[arg-type]
    assert all(o.held_back for o in never)


def test_a_delisted_symbol_gets_no_schedule_request_and_later_days_are_skipped(
    postgres: PostgresResource, s3_store: S3Resource, redis_store: RedisResource
) -> None:
    from market_assets.definitions import defs

    def tick(name: str, instance: DagsterInstance, when: dt.datetime) -> list:
        with build_schedule_context(
            instance=instance, scheduled_execution_time=when, resources={"postgres": postgres}
        ) as context:
            return list(defs.resolve_schedule_def(name)(context))

    with instance_for_test() as instance:
        instance.add_dynamic_partitions("symbols", ["SPX"])
        ny = ZoneInfo("America/New_York")
        (request,) = tick("us_equities_daily", instance, dt.datetime(2024, 3, 8, 16, 30, tzinfo=ny))
        assert request.tags["dagster/asset_partition_range_start"] == "2024-03-08|SPX"
        after = tick("us_equities_daily", instance, dt.datetime(2024, 3, 11, 16, 30, tzinfo=ny))
        assert len(after) == 1 and isinstance(after[0], SkipReason)
        assert after[0].skip_message == "no active XNYS symbol is registered"

        # The year schedule leaves out a daily symbol before its listing.
        instance.add_dynamic_partitions(daily_family().symbols_set, ["AAPL", "MSFT"])
        (year,) = tick("us_equities_year", instance, dt.datetime(2004, 3, 12, 16, 30, tzinfo=ny))
        assert year.tags["dagster/asset_partition_range_start"] == "2004|MSFT"
        assert year.tags["dagster/asset_partition_range_end"] == "2004|MSFT"

    # A run asking for days after the delisting: those days are skips, the run succeeds.
    instance = DagsterInstance.ephemeral()
    result = materialize_range(
        s3_store, postgres, redis_store, ["SPX"], DELISTED, dt.date(2024, 3, 11), instance=instance
    )
    assert result.success
    raw = _latest(instance, "raw_bars")
    reason = f"after SPX's delisting on {DELISTED}"
    assert _text(raw["2024-03-11|SPX"], "skipped") == reason
    assert _text(raw["2024-03-09|SPX"], "skipped") == reason
    assert _text(raw["2024-03-08|SPX"], "skipped") is None
    assert [o.key for o in s3_store.list_objects("ohlcv/timeframe=M1/")] == [
        "ohlcv/timeframe=M1/date=2024-03-08/symbol=SPX/bars.parquet"
    ]


def test_an_intraday_run_wholly_after_the_delisting_succeeds_as_a_skip(
    postgres: PostgresResource, s3_store: S3Resource, redis_store: RedisResource
) -> None:
    """Every asset of the run (raw, db, rollups, snapshots) gets no session and succeeds."""
    instance = DagsterInstance.ephemeral()
    first, last = dt.date(2024, 3, 11), dt.date(2024, 3, 12)
    result = materialize_range(
        s3_store, postgres, redis_store, ["SPX"], first, last, instance=instance
    )
    assert result.success
    raw = _latest(instance, "raw_bars")
    assert sorted(raw) == ["2024-03-11|SPX", "2024-03-12|SPX"]
    for meta in raw.values():
        assert _text(meta, "skipped") == f"after SPX's delisting on {DELISTED}"
        assert meta["batch_partitions"].value == 0
    assert sorted(_latest(instance, "db_bars")) == sorted(raw)
    assert list(s3_store.list_objects("ohlcv/")) == []
    with postgres.connection() as conn:
        log = conn.execute(
            "SELECT count(*) FROM data_collection_log WHERE symbol = 'SPX'"
        ).fetchone()
        conn.rollback()
    assert log == (0,)  # no source was asked, so nothing was collected


def test_registration_routes_each_company_by_the_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master sync's registration: a watch-list code in `symbols` (M1), every other company
    in `daily_symbols` (D1), the file's instruments as before."""
    from market_assets.core.universe import default_universe
    from market_assets.masters.registration import register_symbols

    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["rules"] = [
        {"match": {"symbols": [6501]}, "base_timeframe": "M1"},
        {"match": {"all_companies": True}, "base_timeframe": "D1", "source": "jquants"},
    ]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(path))
    assert default_universe().resolve("8306").source == "jquants"
    with instance_for_test() as instance:
        register_symbols(instance, ["65010", "83060", "72030"])
        intraday = set(instance.get_dynamic_partitions("symbols"))
        daily = set(instance.get_dynamic_partitions(daily_family().symbols_set))
    assert {"6501", "7203"} <= intraday and "8306" not in intraday
    assert "8306" in daily and not {"6501", "7203"} & daily


def test_freshness_owes_nothing_after_the_delisting(postgres: PostgresResource) -> None:
    from market_assets.core.quality_config import Deadline
    from market_assets.quality.freshness import check_freshness

    deadline = Deadline("XNYS", dt.time(16, 30), "America/New_York")
    ny = ZoneInfo("America/New_York")
    after = check_freshness(postgres, deadline, ["SPX"], dt.datetime(2024, 3, 12, 18, tzinfo=ny))
    assert after.passed and after.figures["symbols_checked"] == 0
    # on its last session it still owes that session's bars (none are loaded here)
    last = check_freshness(postgres, deadline, ["SPX"], dt.datetime(2024, 3, 8, 18, tzinfo=ny))
    assert not last.passed and last.figures["stale_symbols"] == ["SPX"]
