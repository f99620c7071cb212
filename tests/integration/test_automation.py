"""Schedules and sensors ask for exactly the expected partitions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from dagster import (
    DagsterInstance,
    MultiPartitionKey,
    PartitionKeyRange,
    RunRequest,
    SensorResult,
    SkipReason,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from market_assets.core.partition_keys import parse_partition
from market_assets.core.universe import default_universe
from market_assets.definitions import defs
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY, bar_partitions
from market_assets.defs.ohlcv.sensors import landing_files_sensor
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from tests.integration.runs import alert_on_failed_run
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "landing"


def _schedule(name: str):  # type: ignore[no-untyped-def]
    return defs.resolve_schedule_def(name)


def _tick(name: str, instance: DagsterInstance, when: dt.datetime, postgres: PostgresResource):  # type: ignore[no-untyped-def]
    with build_schedule_context(
        instance=instance, scheduled_execution_time=when, resources={"postgres": postgres}
    ) as context:
        return list(_schedule(name)(context))


def _requested(instance: DagsterInstance, requests: list[RunRequest]) -> set[tuple[str, str]]:
    keys: set[tuple[str, str]] = set()
    for request in requests:
        rng = PartitionKeyRange(
            request.tags["dagster/asset_partition_range_start"],
            request.tags["dagster/asset_partition_range_end"],
        )
        for key in bar_partitions.get_partition_keys_in_range(
            rng, dynamic_partitions_store=instance
        ):
            part = parse_partition(MultiPartitionKey(key.keys_by_dimension))
            keys.add((part.session_date.isoformat(), part.symbol))
    return keys


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as inst:
        inst.add_dynamic_partitions("symbols", default_universe().symbols())
        yield inst


def test_tokyo_schedule_requests_active_xtks_symbols_in_batches(
    instance: DagsterInstance, postgres: PostgresResource, db: DbTarget
) -> None:
    """Equities come from the company master (active ones only); indices from the universe."""
    when = dt.datetime(2024, 3, 12, 15, 45, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert _requested(instance, _tick("tokyo_equities_daily", instance, when, postgres)) == {
        ("2024-03-12", "N225")
    }
    with db.connect() as conn:
        conn.execute(
            "INSERT INTO companies (code, company_name, is_active) VALUES"
            " ('72030', 'Toyota', true), ('67580', 'Sony', true), ('99840', 'SoftBank', false)"
        )
    requests = _tick("tokyo_equities_daily", instance, when, postgres)
    assert _requested(instance, requests) == {
        ("2024-03-12", "N225"),
        ("2024-03-12", "7203"),
        ("2024-03-12", "6758"),
    }
    assert len(requests) < 3  # contiguous symbols share a run


def test_fx_schedule_and_a_holiday(instance: DagsterInstance, postgres: PostgresResource) -> None:
    fx_time = dt.datetime(2024, 3, 12, 17, 5, tzinfo=ZoneInfo("America/New_York"))
    fx = _tick("fx_daily", instance, fx_time, postgres)
    assert {s for _, s in _requested(instance, fx)} == {
        i.symbol for i in default_universe().active() if i.calendar == "FX24X5"
    }
    holiday = dt.datetime(2024, 3, 20, 15, 45, tzinfo=ZoneInfo("Asia/Tokyo"))  # Vernal Equinox
    skipped = _tick("tokyo_equities_daily", instance, holiday, postgres)
    assert len(skipped) == 1 and isinstance(skipped[0], SkipReason)


def test_us_schedule_requests_the_new_york_session_of_its_own_date(
    instance: DagsterInstance, postgres: PostgresResource
) -> None:
    """16:30 New York is already the next day in Tokyo: the partition is the XNYS session."""
    when = dt.datetime(2024, 3, 12, 16, 30, tzinfo=ZoneInfo("America/New_York"))
    requests = _tick("us_equities_daily", instance, when, postgres)
    assert _requested(instance, requests) == {("2024-03-12", s) for s in ("SPX", "AAPL", "MSFT")}
    independence_day = dt.datetime(2024, 7, 4, 16, 30, tzinfo=ZoneInfo("America/New_York"))
    skipped = _tick("us_equities_daily", instance, independence_day, postgres)
    assert len(skipped) == 1 and isinstance(skipped[0], SkipReason)


def test_year_schedule_requests_the_current_year_of_registered_daily_symbols(
    instance: DagsterInstance, postgres: PostgresResource
) -> None:
    """The daily family's schedule shares the intraday one's steps: a non-session skips, no
    registered daily symbol skips, else the year in progress of the market's daily symbols."""
    when = dt.datetime(2024, 3, 12, 16, 30, tzinfo=ZoneInfo("America/New_York"))
    nothing = _tick("us_equities_year", instance, when, postgres)
    assert [str(r.skip_message) for r in nothing] == [
        "no active XNYS daily-base symbol is registered"
    ]
    instance.add_dynamic_partitions(DAILY_FAMILY.symbols_set, ["AAPL"])
    (request,) = _tick("us_equities_year", instance, when, postgres)
    assert request.tags["dagster/asset_partition_range_start"] == DAILY_FAMILY.partition_key(
        "2024", "AAPL"
    )
    assert request.tags["dagster/asset_partition_range_end"] == DAILY_FAMILY.partition_key(
        "2024", "AAPL"
    )
    independence_day = dt.datetime(2024, 7, 4, 16, 30, tzinfo=ZoneInfo("America/New_York"))
    skipped = _tick("us_equities_year", instance, independence_day, postgres)
    assert [str(r.skip_message) for r in skipped] == ["2024-07-04 is not a XNYS session"]


def test_landing_sensor_requests_the_files_partitions_once(
    instance: DagsterInstance, s3_store: S3Resource, postgres: PostgresResource
) -> None:
    body = (FIXTURES / "clean_generic.csv").read_bytes()
    s3_store.client().put_object(
        Bucket=s3_store.bucket, Key=s3_store.full_key("landing/generic/clean.csv"), Body=body
    )
    resources = {"s3": s3_store, "postgres": postgres}
    with build_sensor_context(instance=instance, resources=resources) as context:
        result = landing_files_sensor(context)
    assert isinstance(result, SensorResult)
    assert _requested(instance, list(result.run_requests or [])) == {
        ("2024-03-11", "7203"),
        ("2024-03-12", "7203"),
        ("2024-03-11", "USDJPY"),
        ("2024-03-12", "USDJPY"),
    }
    with build_sensor_context(instance=instance, resources=resources) as context:
        again = landing_files_sensor(context)
    assert isinstance(again, SkipReason)


def test_maintenance_job_vacuums_as_owner(db: DbTarget) -> None:
    from market_assets.defs.ops.maintenance import database_maintenance

    owner = PostgresResource(url=db.owner_url, schema_name=db.schema)
    result = database_maintenance.execute_in_process(resources={"postgres_owner": owner})
    owner.close()
    assert result.success
    with db.connect() as conn:
        analyzed = conn.execute(
            "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables"
            " WHERE schemaname = %s AND relname = 'data_collection_log'",
            (db.schema,),
        ).fetchone()
    assert analyzed == (True,)


def test_run_failure_sensor_records_the_failure(
    postgres: PostgresResource, db: DbTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MARKET_ASSETS_ALERT_WEBHOOK", raising=False)
    with instance_for_test() as inst:
        run_id = alert_on_failed_run(inst, postgres)
    with db.connect() as conn:
        row = conn.execute(
            "SELECT asset, status, run_id FROM data_collection_log WHERE source = 'dagster'"
        ).fetchone()
    assert row == ("failing", "failed", run_id)
