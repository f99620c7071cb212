"""Freshness: is each market's newest session in the database by its deadline?

A market is a calendar (XTKS, XNYS, FX24X5); its deadline (universe.yaml, quality.freshness)
is a local time on the session date, e.g. 16:30 Asia/Tokyo. At any instant the session that
*must* be in is the latest one whose deadline has passed; before today's deadline that is the
previous session, so a check evaluated at 15:50 in Tokyo does not fail for a session still
being collected. Each scheduled symbol of the market must have bars of that session (or a
later one; for a W1/MN1 base, of the first session of the week/month holding it) in ohlcv_bars:
the bars table, not the collection log, because "in" means a reader can get them, and a
collection that was logged but rolled back or held back is not in.

The clock is an argument: the Dagster checks pass the real time, tests pass any instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from market_assets.core import names
from market_assets.core.calendars import is_session, period_first_session, previous_session
from market_assets.core.quality_config import Deadline
from market_assets.core.universe import default_universe
from market_assets.quality.evaluation import FAILURES_SHOWN, CheckOutcome
from resources.postgres import PostgresResource
from resources.queries import query

# How far back "newest" looks: enough to name the last loaded session of a stale symbol after
# a long holiday, bounded so the query touches a few chunks or monthly partitions.
LOOKBACK = dt.timedelta(days=21)

CHECK_NAMES: Mapping[str, str] = {
    "XTKS": "freshness_tokyo",
    "XNYS": "freshness_new_york",
    "FX24X5": "freshness_fx",
}


# A W1 or MN1 bar is filed under the first session of its week or month, up to a month back.
PERIOD_LOOKBACK = dt.timedelta(days=31)


def due_of_base(calendar: str, symbol: str, due: dt.date) -> dt.date:
    """The session whose bar must be in for `due` to count as in: `due` itself, or for a W1/MN1
    base the first session of the week/month holding it (the period's bar is filed there)."""
    inst = default_universe().known([symbol]).get(symbol)
    if inst is None or str(inst.base_timeframe) not in ("W1", "MN1"):
        return due
    return period_first_session(calendar, str(inst.base_timeframe), due) or due


def market_symbols(symbols: list[str], calendar: str) -> list[str]:
    """The given symbols that trade on `calendar`, sorted (unknown symbols left out)."""
    return sorted(default_universe().by_calendar(symbols).get(calendar, []))


def due_session(deadline: Deadline, now: dt.datetime) -> dt.date:
    """The latest session of the market whose deadline is at or before `now`."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_day = now.astimezone(deadline.at(now.date()).tzinfo).date()
    if is_session(deadline.calendar, local_day) and deadline.at(local_day) <= now:
        return local_day
    day = previous_session(deadline.calendar, local_day)
    while deadline.at(day) > now:  # a deadline set past midnight of the session date
        day = previous_session(deadline.calendar, day)
    return day


def newest_sessions(
    postgres: PostgresResource, symbols: Iterable[str], since: dt.datetime
) -> dict[str, dt.date]:
    """Each symbol's newest session_date in ohlcv_bars with bars since `since`."""
    with postgres.connection() as conn:
        rows = conn.execute(
            query("checks/newest_sessions"), {"symbols": sorted(set(symbols)), "since": since}
        ).fetchall()
        conn.rollback()
    return {str(symbol): day for symbol, day in rows}


def check_freshness(
    postgres: PostgresResource,
    deadline: Deadline,
    symbols: Iterable[str],
    now: dt.datetime,
) -> CheckOutcome:
    """One market: every given symbol has its due session (or a newer one) in the database;
    a symbol not listed on the due session (delisted before it, listed after it) owes none."""
    due = due_session(deadline, now)
    known = default_universe().known(set(symbols))
    chosen = sorted(s for s in set(symbols) if s not in known or known[s].trades_on(due))
    wanted = {s: due_of_base(deadline.calendar, s, due) for s in chosen}
    since = (
        now
        - LOOKBACK
        - (PERIOD_LOOKBACK if any(d != due for d in wanted.values()) else dt.timedelta())
    )
    newest = newest_sessions(postgres, chosen, since) if chosen else {}
    stale = {s: newest.get(s) for s in chosen if (newest.get(s) or dt.date.min) < wanted[s]}
    lines = [
        f"{s}: newest session {day or f'none in the last {LOOKBACK.days} days'},"
        f" {due} was due by {deadline.describe()}"
        for s, day in sorted(stale.items())
    ]
    return CheckOutcome(
        names.DB_BARS,
        CHECK_NAMES.get(deadline.calendar, f"freshness_{deadline.calendar.lower()}"),
        not stale,
        {
            "market": deadline.calendar,
            "deadline": deadline.describe(),
            "due_session": due.isoformat(),
            "evaluated_at": now.astimezone(dt.UTC).isoformat(timespec="seconds"),
            "symbols_checked": len(chosen),
            "symbols_stale": len(stale),
            "stale_symbols": sorted(stale)[: FAILURES_SHOWN * 5],
        },
        lines,
    )
