"""New-symbol sensor and the alert sensors (freshness checks, failed runs) on real PostgreSQL,
with a local HTTP server standing in for the alert webhook."""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    DagsterInstance,
    SensorResult,
    SkipReason,
    asset,
    asset_check,
    build_sensor_context,
    instance_for_test,
    materialize,
)
from pytest_httpserver import HTTPServer

from market_assets.core.calendars import is_session
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, default_universe
from market_assets.defs.ohlcv.new_symbols import new_symbols_sensor
from market_assets.defs.ops.alerts import freshness_alert
from resources.postgres import PostgresResource
from tests.integration.runs import alert_on_failed_run
from tests.integration.test_automation import _requested
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        inst.add_dynamic_partitions("symbols", default_universe().symbols())
        yield inst


def _symbols_tick(
    instance: DagsterInstance, postgres: PostgresResource, cursor: str | None = None
) -> tuple[SensorResult | SkipReason, str | None]:
    with build_sensor_context(
        instance=instance, resources={"postgres": postgres}, cursor=cursor
    ) as context:
        result = new_symbols_sensor(context)
        cursor = context.cursor
    if isinstance(result, SensorResult):
        for request in result.dynamic_partitions_requests or []:
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        cursor = result.cursor or cursor
    return result, cursor


def test_new_active_companies_get_a_partition_and_their_recent_sessions(
    instance: DagsterInstance,
    postgres: PostgresResource,
    db: DbTarget,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKET_ASSETS_NEW_SYMBOL_SESSIONS", "3")
    first, cursor = _symbols_tick(instance, postgres)
    assert isinstance(first, SkipReason)  # the universe is registered, no company yet

    with db.connect() as conn:
        conn.execute(
            "INSERT INTO companies (code, company_name, is_active) VALUES"
            " ('83060', 'MUFG', true), ('80580', 'Mitsubishi Corp', true),"
            " ('99830', 'Fast Retailing', false)"
        )
    result, cursor = _symbols_tick(instance, postgres, cursor)
    assert isinstance(result, SensorResult)
    [added] = result.dynamic_partitions_requests or []
    assert sorted(added.partition_keys or []) == ["8058", "8306"]  # not the inactive one
    requests = list(result.run_requests or [])
    assert len(requests) == 1  # two contiguous new symbols share one run
    requested = _requested(instance, requests)
    assert {s for _, s in requested} == {"8058", "8306"}
    # the range may span a weekend; the sessions in it are the last three before today
    sessions = sorted({d for d, _ in requested if is_session("XTKS", d)})
    assert len(sessions) == 3
    assert sessions[-1] < dt.datetime.now(dt.UTC).date().isoformat()

    again, _ = _symbols_tick(instance, postgres, cursor)
    assert isinstance(again, SkipReason)  # idempotent: both are partitions now


def test_companies_registered_by_the_sync_still_get_their_history(
    instance: DagsterInstance, postgres: PostgresResource, db: DbTarget
) -> None:
    """The companies asset adds partitions itself; the change log tells the sensor."""
    _, cursor = _symbols_tick(instance, postgres)
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO companies (code, company_name, is_active)"
            " VALUES ('43850', 'Mercari', true)"
        )
        conn.execute("INSERT INTO company_changes (code, change) VALUES ('43850', 'new')")
    instance.add_dynamic_partitions("symbols", ["4385"])  # as register_symbols does
    result, cursor = _symbols_tick(instance, postgres, cursor)
    assert isinstance(result, SensorResult)
    assert not result.dynamic_partitions_requests
    assert {s for _, s in _requested(instance, list(result.run_requests or []))} == {"4385"}
    again, _ = _symbols_tick(instance, postgres, cursor)
    assert isinstance(again, SkipReason)


@asset
def tiny_bars() -> None:
    """A stand-in asset whose checks say what the test needs."""


@asset_check(asset=tiny_bars, name="freshness_last_bar")
def stale() -> AssetCheckResult:
    return AssetCheckResult(
        passed=False, severity=AssetCheckSeverity.WARN, description="last bar is 26 h old"
    )


@asset_check(asset=tiny_bars, name="freshness_last_bar")
def recovered() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


@asset_check(asset=tiny_bars, name="freshness_fresh")
def fresh() -> AssetCheckResult:
    return AssetCheckResult(passed=True)


@asset_check(asset=tiny_bars, name="ohlc_sanity")
def not_freshness() -> AssetCheckResult:
    return AssetCheckResult(passed=False)


# One event table with global ids, as the PostgreSQL event log of dagster.yaml has (SQLite's
# default shards events per run).
CONSOLIDATED_EVENTS = {
    "event_log_storage": {
        "module": "dagster.core.storage.event_log",
        "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": {"env": "DAGSTER_HOME"}},
    }
}


def _webhook(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("MARKET_ASSETS_ALERT_WEBHOOK", httpserver.url_for("/hook"))


def _posted(httpserver: HTTPServer) -> list[str]:
    return [json.loads(request.get_data())["text"] for request, _ in httpserver.log]


def test_a_failed_freshness_check_is_recorded_and_posted_once(
    postgres: PostgresResource,
    db: DbTarget,
    httpserver: HTTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _webhook(httpserver, monkeypatch)
    with instance_for_test(overrides=CONSOLIDATED_EVENTS) as inst:
        materialize([tiny_bars, stale, fresh, not_freshness], instance=inst)
        with build_sensor_context(instance=inst, resources={"postgres": postgres}) as context:
            result = freshness_alert(context)
        assert isinstance(result, SensorResult) and result.cursor
        [text] = _posted(httpserver)
        assert "tiny_bars.freshness_last_bar" in text and "26 h old" in text and "WARN" in text
        with build_sensor_context(
            instance=inst, resources={"postgres": postgres}, cursor=result.cursor
        ) as context:
            again = freshness_alert(context)
        assert isinstance(again, SkipReason)
        # the same check failing again in a later run is the same stale spell: no new alert
        materialize([tiny_bars, stale], instance=inst)
        with build_sensor_context(
            instance=inst, resources={"postgres": postgres}, cursor=result.cursor
        ) as context:
            repeat = freshness_alert(context)
        assert isinstance(repeat, SensorResult) and repeat.skip_reason
        # once it passes, the next failure is a new spell and alerts again
        materialize([tiny_bars, recovered], instance=inst)
        materialize([tiny_bars, stale], instance=inst)
        with build_sensor_context(
            instance=inst, resources={"postgres": postgres}, cursor=repeat.cursor
        ) as context:
            new_spell = freshness_alert(context)
        assert isinstance(new_spell, SensorResult) and not new_spell.skip_reason
    assert len(httpserver.log) == 2  # one alert per stale spell
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT asset, status, error FROM data_collection_log WHERE source = 'dagster'"
        ).fetchall()
    assert len(rows) == 2 and rows[0][:2] == ("tiny_bars", "failed")
    assert "freshness_last_bar" in rows[0][2]


def test_a_failed_run_posts_the_webhook(
    postgres: PostgresResource, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _webhook(httpserver, monkeypatch)
    with instance_for_test() as inst:
        run_id = alert_on_failed_run(inst, postgres)
    [text] = _posted(httpserver)
    assert run_id in text and "failing" in text


def test_a_daily_base_symbol_is_registered_in_the_daily_family_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres: PostgresResource
) -> None:
    """A universe instrument with a D1 base joins `daily_symbols`, never `symbols`, and gets
    no intraday history runs (its year schedules fetch it)."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "AAPL":
            entry.update(base_timeframe="D1")
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))
    with instance_for_test() as instance:
        others = [s for s in default_universe().symbols() if s != "AAPL"]
        instance.add_dynamic_partitions("symbols", others)
        result, cursor = _symbols_tick(instance, postgres)
        assert isinstance(result, SensorResult)
        assert list(result.run_requests or []) == []
        assert instance.get_dynamic_partitions("daily_symbols") == ["AAPL"]
        assert "AAPL" not in instance.get_dynamic_partitions("symbols")
        again, _ = _symbols_tick(instance, postgres, cursor)
        assert isinstance(again, SkipReason)


def test_symbols_of_declared_families_join_their_own_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres: PostgresResource
) -> None:
    """With families declared in the universe file, each symbol joins its own family's set
    (a D1 symbol still `daily_symbols`), none of them `symbols`, and none gets intraday runs."""
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    document["families"] = [
        {
            "name": "fx_m1",
            "bases": ["M1"],
            "grain": "day",
            "start": "2024-01-01",
            "days": "weekdays",
        },
        {"name": "us_h1", "bases": ["H1"], "grain": "month", "start": "2024-01-01"},
    ]
    for entry in document["instruments"]:
        if entry["symbol"] in ("EURUSD", "USDJPY"):
            entry["family"] = "fx_m1"
        elif entry["symbol"] == "AAPL":
            entry.update(base_timeframe="H1", family="us_h1")
        elif entry["symbol"] == "MSFT":
            entry.update(base_timeframe="D1")
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))
    moved = {"EURUSD", "USDJPY", "AAPL", "MSFT"}
    with instance_for_test() as instance:
        others = [s for s in default_universe().symbols() if s not in moved]
        instance.add_dynamic_partitions("symbols", others)
        result, cursor = _symbols_tick(instance, postgres)
        assert isinstance(result, SensorResult)
        assert list(result.run_requests or []) == []
        assert instance.get_dynamic_partitions("fx_m1_symbols") == ["EURUSD", "USDJPY"]
        assert instance.get_dynamic_partitions("us_h1_symbols") == ["AAPL"]
        assert instance.get_dynamic_partitions("daily_symbols") == ["MSFT"]
        assert moved.isdisjoint(instance.get_dynamic_partitions("symbols"))
        again, _ = _symbols_tick(instance, postgres, cursor)
        assert isinstance(again, SkipReason)
