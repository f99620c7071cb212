"""The daily family's schedules: each market's current year, refreshed after its close.

A daily base's partition is a year, so the run after a session's close re-fetches the year in
progress for every active daily symbol of the market (one run per contiguous block of
registered symbols, as the intraday schedules batch): its object is rewritten with the new
session and the database and Redis follow.
"""

import datetime as dt

from dagster import RunRequest

from market_assets.core.run_plan import RANGE_END_TAG, RANGE_START_TAG, plan_runs
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.daily_family import daily_job
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY
from market_assets.defs.ohlcv.schedules import MARKETS, market_schedule


def year_run_requests(
    calendar: str, session_date: dt.date, registered: list[str], active: list[str], name: str
) -> list[RunRequest]:
    """One run per contiguous block of the market's active registered daily symbols."""
    chosen = default_universe().by_calendar(active).get(calendar, [])
    year = DAILY_FAMILY.date_key(session_date)
    return [
        RunRequest(
            run_key=f"{name}:{session_date}:{window.first_symbol}",
            tags={
                RANGE_START_TAG: DAILY_FAMILY.partition_key(year, window.first_symbol),
                RANGE_END_TAG: DAILY_FAMILY.partition_key(year, window.last_symbol),
                "market-assets/schedule": name,
            },
        )
        for window in plan_runs(session_date, session_date, chosen, registered, 1)
    ]


DAILY_SCHEDULES = [
    market_schedule(
        name.replace("_daily", "_year"),
        calendar,
        cron,
        tz,
        job=daily_job,
        symbols_set=DAILY_FAMILY.symbols_set,
        run_requests=year_run_requests,
        description=f"The current year of the {calendar} daily-base symbols, after each"
        f" session's close ({cron} {tz}).",
        symbol_kind="daily-base symbol",
    )
    for name, calendar, cron, tz in MARKETS
]
