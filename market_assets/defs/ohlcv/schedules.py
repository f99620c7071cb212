"""Each market's daily schedule: the session of the day, after the market's close.

A market's daily run requests that day's session for every active symbol of the market, in
batches: one run per contiguous block of registered symbols (a multi-partition range, at most
MAX_PARTITIONS_PER_RUN partitions), not one run per symbol. Time zones are explicit; a day
that is not a session is skipped.
"""

import datetime as dt
from collections.abc import Callable, Iterator

from dagster import (
    JobDefinition,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from market_assets.core.calendars import is_session
from market_assets.core.partition_keys import SYMBOLS_PARTITIONS
from market_assets.core.run_plan import capped_windows
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.jobs import ohlcv_job
from market_assets.defs.status import schedule_status
from market_assets.masters.registration import active_company_codes, scheduled_symbols
from resources.postgres import PostgresResource

# name, calendar, cron (local time), time zone
MARKETS = (
    ("tokyo_equities_daily", "XTKS", "45 15 * * 1-5", "Asia/Tokyo"),
    ("fx_daily", "FX24X5", "5 17 * * 1-5", "America/New_York"),
    ("us_equities_daily", "XNYS", "30 16 * * 1-5", "America/New_York"),
)


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


RequestsFn = Callable[[str, dt.date, list[str], list[str], str], list[RunRequest]]


def market_schedule(
    name: str,
    calendar: str,
    cron: str,
    tz: str,
    *,
    job: JobDefinition | UnresolvedAssetJobDefinition,
    symbols_set: str,
    run_requests: RequestsFn,
    description: str,
    symbol_kind: str = "symbol",
    session_lag_days: int = 0,
) -> ScheduleDefinition:
    """A market's schedule after its close: skip a day that is not a session, else request
    `run_requests` for the market's active symbols registered in `symbols_set` and listed on
    the day (the intraday family's sessions here, the daily family's current year in
    daily_schedules.py). The session is the tick's local date, or the date `session_lag_days`
    before it (a tick after midnight UTC for the previous UTC date's session)."""

    @schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone=tz,
        job=job,
        default_status=schedule_status(),
        description=description,
    )
    def _after_close(
        context: ScheduleEvaluationContext, postgres: PostgresResource
    ) -> Iterator[RunRequest | SkipReason]:
        session_date = context.scheduled_execution_time.date()
        session_date -= dt.timedelta(days=session_lag_days)
        if not is_session(calendar, session_date):
            yield SkipReason(f"{session_date} is not a {calendar} session")
            return
        registered = context.instance.get_dynamic_partitions(symbols_set)
        active = [s for s in scheduled_symbols(active_company_codes(postgres)) if s in registered]
        # Not before a symbol's listing, nor after its delisting: its data stays, no new runs.
        active = default_universe().trading_on(active, session_date)
        requests = run_requests(calendar, session_date, registered, active, name)
        if not requests:
            yield SkipReason(f"no active {calendar} {symbol_kind} is registered")
            return
        yield from requests

    return _after_close


OHLCV_SCHEDULES = [
    market_schedule(
        name,
        calendar,
        cron,
        tz,
        job=ohlcv_job,
        symbols_set=SYMBOLS_PARTITIONS,
        run_requests=market_run_requests,
        description=f"The {calendar} session of the day, after the close ({cron} {tz}).",
    )
    for name, calendar, cron, tz in MARKETS
]
