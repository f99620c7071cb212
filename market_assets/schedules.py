"""Schedules: each market's session after its close, the master sync, maintenance.

A market's daily run requests that day's session for every active symbol of the market, in
batches: one run per contiguous block of registered symbols (a multi-partition range, at most
MAX_PARTITIONS_PER_RUN partitions), not one run per symbol. Time zones are explicit; a day
that is not a session is skipped.
"""

import datetime as dt
from collections.abc import Iterator

from dagster import (
    DefaultScheduleStatus,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from market_assets.assets.policies import MAX_PARTITIONS_PER_RUN
from market_assets.backfill import RunWindow, plan_runs
from market_assets.calendars import is_session
from market_assets.jobs import database_maintenance, master_sync_job, ohlcv_job
from market_assets.masters.registration import active_company_codes, scheduled_symbols
from market_assets.partitions import symbols
from market_assets.settings import automation_enabled
from market_assets.universe import default_universe
from resources.postgres import PostgresResource


def default_status() -> DefaultScheduleStatus:
    """On by default; MARKET_ASSETS_AUTOMATION=off keeps schedules and sensors stopped
    (browser tests, a second deployment reading the same stores)."""
    return DefaultScheduleStatus.RUNNING if automation_enabled() else DefaultScheduleStatus.STOPPED


# name, calendar, cron (local time), time zone
MARKETS = (
    ("tokyo_equities_daily", "XTKS", "45 15 * * 1-5", "Asia/Tokyo"),
    ("fx_daily", "FX24X5", "5 17 * * 1-5", "America/New_York"),
    ("us_equities_daily", "XNYS", "30 16 * * 1-5", "America/New_York"),
)


def capped_windows(
    start: dt.date,
    end: dt.date,
    chosen: list[str],
    registered: list[str],
    max_partitions: int = MAX_PARTITIONS_PER_RUN,
) -> list[RunWindow]:
    """`plan_runs` over [start, end] with at most `max_partitions` date x symbol partitions a
    run: a market of 4,000 companies is a few runs, not one that no retry can redo cheaply."""
    days = (end - start).days + 1
    if days > max_partitions:
        raise ValueError(f"{days} days exceed {max_partitions} partitions for a single symbol")
    per_run = max(1, max_partitions // days)
    position = {s: i for i, s in enumerate(registered)}
    windows: list[RunWindow] = []
    for block in plan_runs(start, end, chosen, registered, days):
        symbols_in_block = registered[
            position[block.first_symbol] : position[block.last_symbol] + 1
        ]
        for i in range(0, len(symbols_in_block), per_run):
            chunk = symbols_in_block[i : i + per_run]
            windows.append(RunWindow(start, end, chunk[0], chunk[-1]))
    return windows


def market_run_requests(
    calendar: str, session_date: dt.date, registered: list[str], active: list[str], name: str
) -> list[RunRequest]:
    chosen = default_universe().by_calendar(active).get(calendar, [])
    requests = []
    for window in capped_windows(session_date, session_date, chosen, registered):
        requests.append(
            RunRequest(
                run_key=f"{name}:{session_date}:{window.first_symbol}",
                tags={**window.range_tags(), "market-assets/schedule": name},
            )
        )
    return requests


def _market_schedule(name: str, calendar: str, cron: str, tz: str) -> ScheduleDefinition:
    @schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=tz,
        job=ohlcv_job,
        default_status=default_status(),
        description=f"The {calendar} session of the day, after the close ({cron} {tz}).",
    )
    def _daily(
        context: ScheduleEvaluationContext, postgres: PostgresResource
    ) -> Iterator[RunRequest | SkipReason]:
        session_date = context.scheduled_execution_time.date()
        if not is_session(calendar, session_date):
            yield SkipReason(f"{session_date} is not a {calendar} session")
            return
        registered = context.instance.get_dynamic_partitions(symbols.name or "symbols")
        active = [s for s in scheduled_symbols(active_company_codes(postgres)) if s in registered]
        requests = market_run_requests(calendar, session_date, registered, active, name)
        if not requests:
            yield SkipReason(f"no active {calendar} symbol is registered")
            return
        yield from requests

    return _daily


master_sync_schedule = ScheduleDefinition(
    name="company_master_morning",
    cron_schedule="0 7 * * 1-5",
    execution_timezone="Asia/Tokyo",
    job=master_sync_job,
    default_status=default_status(),
    description="Company master before the Tokyo open (07:00 Asia/Tokyo).",
)

maintenance_schedule = ScheduleDefinition(
    name="weekly_database_maintenance",
    cron_schedule="0 3 * * 6",
    execution_timezone="UTC",
    job=database_maintenance,
    default_status=default_status(),
    description="Saturday 03:00 UTC, when no market in scope trades.",
)

SCHEDULES = [*(_market_schedule(*m) for m in MARKETS), master_sync_schedule, maintenance_schedule]
