"""How a date range x symbols is cut into runs: date windows x contiguous symbol blocks.

A multi-partition range run carries the cartesian product of a date window and a block of
symbols that are contiguous in registration order (Dagster orders dynamic keys that way), so
one run can cover many partitions. Pure arithmetic, shared by the terminal backfill, the
schedules and the sensors.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from market_assets.core.families import Family
from market_assets.core.partition_keys import partition_key

# A batched run carries up to this many date x symbol partitions: enough that a year of ten
# symbols is a handful of runs, few enough that a failed run is cheap to retry.
MAX_PARTITIONS_PER_RUN = 1000

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
# A run over periods (years, months) that asks only for some of their sessions: the schedule's
# run after a session's close refreshes that session of the period in progress, not every
# session of the year again (for 4,400 daily symbols that is 4,400 sessions instead of about
# a million). Value `YYYY-MM-DD..YYYY-MM-DD`; a run without it works on whole periods.
SESSIONS_TAG = "market-assets/sessions"


class SessionWindowError(ValueError):
    """A run's sessions tag that cannot be used; the message names the tag and value."""


def session_window_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """The tag restricting a period run to the sessions in [first, last]."""
    if last < first:
        raise SessionWindowError(f"{SESSIONS_TAG}: {last} is before {first}")
    return {SESSIONS_TAG: f"{first.isoformat()}..{last.isoformat()}"}


def session_window(tags: Mapping[str, str]) -> tuple[dt.date, dt.date] | None:
    """The [first, last] sessions a run's tags ask for, or None (whole periods)."""
    raw = tags.get(SESSIONS_TAG)
    if raw is None:
        return None
    try:
        first_text, last_text = str(raw).split("..")
        first, last = dt.date.fromisoformat(first_text), dt.date.fromisoformat(last_text)
    except ValueError:
        raise SessionWindowError(
            f"run tag {SESSIONS_TAG}={str(raw)[:40]!r} is not YYYY-MM-DD..YYYY-MM-DD"
        ) from None
    if last < first:
        raise SessionWindowError(f"run tag {SESSIONS_TAG}={raw!r}: {last} is before {first}")
    return first, last


@dataclass(frozen=True)
class RunWindow:
    start: dt.date
    end: dt.date
    first_symbol: str
    last_symbol: str

    def range_tags(self, family: Family | None = None) -> dict[str, str]:
        """The run tags that make one run carry this window's date x symbol range; with a
        family, its date keys (the daily family's years: `2004|AAPL`)."""
        if family is None:
            return {
                RANGE_START_TAG: partition_key(self.start, self.first_symbol),
                RANGE_END_TAG: partition_key(self.end, self.last_symbol),
            }
        return {
            RANGE_START_TAG: family.partition_key(family.date_key(self.start), self.first_symbol),
            RANGE_END_TAG: family.partition_key(family.date_key(self.end), self.last_symbol),
        }


def plan_runs(
    start: dt.date, end: dt.date, chosen: list[str], registered: list[str], days_per_run: int
) -> list[RunWindow]:
    """Date windows x contiguous blocks of the chosen symbols in registration order."""
    wanted = set(chosen)
    position = {s: i for i, s in enumerate(registered)}  # linear: 4,400 symbols stay cheap
    blocks: list[list[str]] = []
    for symbol in (s for s in registered if s in wanted):
        index = position[symbol]
        if blocks and position[blocks[-1][-1]] == index - 1:
            blocks[-1].append(symbol)
        else:
            blocks.append([symbol])
    windows = []
    day = start
    while day <= end:
        stop = min(end, day + dt.timedelta(days=days_per_run - 1))
        windows.extend(RunWindow(day, stop, b[0], b[-1]) for b in blocks)
        day = stop + dt.timedelta(days=1)
    return windows


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


def plan_touched_runs(
    touched: Mapping[str, Iterable[dt.date]], registered: list[str]
) -> list[RunWindow]:
    """One run per session date and contiguous block of the symbols touched on it.

    `touched` maps each symbol to the session dates some files cover (the landing sensor and
    `market-assets landing process|retry`): the runs carry exactly those partitions, since a
    block holds only touched symbols that are neighbours in registration order.
    """
    by_date: dict[dt.date, set[str]] = defaultdict(set)
    for symbol, dates in touched.items():
        for day in dates:
            by_date[day].add(symbol)
    windows: list[RunWindow] = []
    for day in sorted(by_date):
        windows.extend(plan_runs(day, day, sorted(by_date[day]), registered, 1))
    return windows


def plan_touched_periods(
    family: Family, touched: Mapping[str, Iterable[dt.date]], registered: list[str]
) -> list[RunWindow]:
    """`plan_touched_runs` with the sessions folded into the family's periods (the years of a
    daily file): one run per period and contiguous block of the symbols touched in it; take
    the tags with `range_tags(family)`."""
    periods = {
        symbol: {family.grain.period(family.date_key(d))[0] for d in days}
        for symbol, days in touched.items()
    }
    return plan_touched_runs(periods, registered)
