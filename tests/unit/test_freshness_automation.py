"""Each market's freshness check is requested alone at its own deadline, although the three
are checks of the db_bars step (market_assets.defs.ohlcv.freshness_checks)."""

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import (
    AssetCheckKey,
    DagsterInstance,
    Definitions,
    ResourceDefinition,
    evaluate_automation_conditions,
)

from market_assets.defs.ohlcv.db_bars import db_bars

DEFS = Definitions(
    assets=[db_bars],
    resources={k: ResourceDefinition.none_resource() for k in ("s3", "postgres")},
)


def _requested_checks(times: list[dt.datetime]) -> list[set[str]]:
    """The check names requested at each evaluation, with one cursor, as the sensor does."""
    instance = DagsterInstance.ephemeral()
    cursor = None
    requested = []
    for when in times:
        result = evaluate_automation_conditions(DEFS, instance, evaluation_time=when, cursor=cursor)
        cursor = result.cursor
        requested.append(
            {
                r.key.name
                for r in result.results
                if isinstance(r.key, AssetCheckKey) and r.true_subset.size
            }
        )
    return requested


def test_each_market_deadline_requests_only_its_own_check() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    new_york = ZoneInfo("America/New_York")
    wednesday = dt.date(2024, 3, 13)
    times = [
        dt.datetime.combine(wednesday, dt.time(16, 29), tokyo),
        dt.datetime.combine(wednesday, dt.time(16, 31), tokyo),
        dt.datetime.combine(wednesday, dt.time(16, 29), new_york),
        dt.datetime.combine(wednesday, dt.time(16, 31), new_york),
        dt.datetime.combine(wednesday, dt.time(17, 31), new_york),
        dt.datetime.combine(wednesday, dt.time(17, 40), new_york),
    ]
    assert _requested_checks(times)[1:] == [
        {"freshness_tokyo"},
        set(),
        {"freshness_new_york"},
        {"freshness_fx"},
        set(),
    ]
