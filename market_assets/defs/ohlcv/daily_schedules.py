"""The schedules of the families other than the intraday one: each market's current period,
refreshed after its close.

A daily base's partition is a year, so the run after a session's close materializes the year in
progress for every active daily symbol of the market (one run per contiguous block of at most
1,000 registered symbols, as the intraday schedules batch), tagged to fetch that one session
(`SESSIONS_TAG`): the session is merged into the year's object and the database and Redis
follow. Re-fetching the whole year each day cost 4,400 x ~230 sessions a run. A family declared
in the universe file gets the same per market (`<market>_<family>`), for the period of its
grain holding the session; a market whose calendar its members cannot have (a weekdays family
and a weekend calendar) is no different: its symbols are never in the family, so the schedule
skips. Its instruments on other calendars (24/7, XLON, ...) get a schedule per calendar after
midnight UTC.
"""

import datetime as dt
import re

from dagster import RunRequest, ScheduleDefinition

from market_assets.core.families import Family
from market_assets.core.run_plan import (
    RANGE_END_TAG,
    RANGE_START_TAG,
    capped_windows,
    session_window_tags,
)
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv.daily_family import daily_job
from market_assets.defs.ohlcv.family_assets import FamilyAssets
from market_assets.defs.ohlcv.partitions import DAILY_FAMILY
from market_assets.defs.ohlcv.schedules import MARKETS, RequestsFn, market_schedule


def period_run_requests(family: Family) -> RequestsFn:
    """One run per contiguous block of the market's active registered symbols of `family`
    (at most MAX_PARTITIONS_PER_RUN symbols a run), over the family's date key holding the
    session, tagged to fetch that session only (`SESSIONS_TAG`): the period's other sessions
    are stored already, and its object keeps them when the new one is merged in."""

    def requests(
        calendar: str, session_date: dt.date, registered: list[str], active: list[str], name: str
    ) -> list[RunRequest]:
        if not family.has_key(session_date):  # a holiday of a pinned calendar: no key
            return []
        chosen = default_universe().by_calendar(active).get(calendar, [])
        key = family.date_key(session_date)
        return [
            RunRequest(
                run_key=f"{name}:{session_date}:{window.first_symbol}",
                tags={
                    RANGE_START_TAG: family.partition_key(key, window.first_symbol),
                    RANGE_END_TAG: family.partition_key(key, window.last_symbol),
                    **session_window_tags(session_date, session_date),
                    "market-assets/schedule": name,
                },
            )
            for window in capped_windows(session_date, session_date, chosen, registered)
        ]

    return requests


year_run_requests = period_run_requests(DAILY_FAMILY)

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


# Calendars other than the three markets' (24/7, XLON, ...): every session of every calendar
# closes by midnight UTC of its date (24/7 exactly then), so a tick at 00:15 UTC requests the
# session dated the UTC day before.
OTHER_CALENDAR_CRON = "15 0 * * *"


def _calendar_slug(calendar: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", calendar.lower()).strip("_")
    return slug if slug[:1].isalpha() else f"cal_{slug}"


def family_schedules(built: FamilyAssets) -> list[ScheduleDefinition]:
    """A declared family's schedule per market (`tokyo_equities_<family>`, ...), and one per
    other calendar its instruments trade on (`xlon_<family>`, `cal_24_7_<family>`), at 00:15
    UTC for the previous UTC day's session."""
    family = built.family
    period = family.grain.value
    markets = {calendar for _, calendar, _, _ in MARKETS}
    others = sorted(
        {i.calendar for i in default_universe() if i.declared_family == family} - markets
    )
    cron = OTHER_CALENDAR_CRON
    extra = [
        market_schedule(
            f"{_calendar_slug(calendar)}_{family.name}",
            calendar,
            cron,
            "UTC",
            job=built.job,
            symbols_set=family.symbols_set,
            run_requests=period_run_requests(family),
            description=f"The {period} holding the previous UTC day's {calendar} session of"
            f" the {family.name} family's symbols ({cron} UTC).",
            symbol_kind=f"{family.name}-family symbol",
            session_lag_days=1,
        )
        for calendar in others
    ]
    return extra + [
        market_schedule(
            name.replace("_daily", f"_{family.name}"),
            calendar,
            cron,
            tz,
            job=built.job,
            symbols_set=family.symbols_set,
            run_requests=period_run_requests(family),
            description=f"The current {period} of the {calendar} symbols of the"
            f" {family.name} family, after each session's close ({cron} {tz}).",
            symbol_kind=f"{family.name}-family symbol",
        )
        for name, calendar, cron, tz in MARKETS
    ]
