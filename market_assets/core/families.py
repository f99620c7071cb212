"""Asset families: which base timeframes share one date x symbol partitions definition.

A Dagster `MultiPartitionsDefinition` is the full cartesian product of its dimensions with one
start date, so its keys are symbols x date keys. One definition for every base would either cap
daily history at the intraday start or give minute symbols decades of empty days. A family is
the unit that fixes this: its own base timeframes, date grain, start and dynamic partitions set
(so a symbol is registered only in the family of its base), sharing services and tables with the
others. docs/DESIGN.md ("Asset families") has the arithmetic.

- `intraday` (M1..H4): one key per calendar day, from `MARKET_ASSETS_INTRADAY_START` (default
  2020-01-01). Its keys, asset keys, partitions set ("symbols") and S3 layout are the ones
  every OHLCV asset had before families existed.
- `daily` (D1, W1, MN1): one key per calendar year (`2004`), from `MARKET_ASSETS_DAILY_START`
  (default 2000-01-01), partitions set "daily_symbols". A year partition expands to the year's
  sessions on the symbol's calendar, clipped to the calendar's bounds and the listing.

Pure: no Dagster here; market_assets/defs/ohlcv/partitions.py builds the definitions from these.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from market_assets.core import settings
from market_assets.core.calendars import calendar_bounds, sessions_in_range
from market_assets.core.identifiers import validate_symbol
from market_assets.core.partition_keys import FIRST_SESSION, SYMBOLS_PARTITIONS, BarPartition
from market_assets.core.timeframes import Timeframe

INTRADAY = "intraday"
DAILY = "daily"
DAILY_SYMBOLS_PARTITIONS = "daily_symbols"
DEFAULT_DAILY_START = "2000-01-01"
EARLIEST_START = dt.date(1990, 1, 1)  # no calendar of the project reaches further back


class FamilyError(ValueError):
    """A family setting or partition key that cannot be used; the message names it."""


class DateGrain(StrEnum):
    """How much time one date key of a family covers."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"

    @property
    def fmt(self) -> str:
        """The strftime format of the date keys (Dagster's `fmt`)."""
        return {"day": "%Y-%m-%d", "month": "%Y-%m", "year": "%Y"}[self.value]

    @property
    def cron(self) -> str:
        """The cron whose ticks start the date keys (midnight UTC of each period's first day)."""
        return {"day": "0 0 * * *", "month": "0 0 1 * *", "year": "0 0 1 1 *"}[self.value]

    def key_of(self, day: dt.date) -> str:
        """The date key holding `day`."""
        return day.strftime(self.fmt)

    def period(self, key: str) -> tuple[dt.date, dt.date]:
        """The first and last calendar day of a date key; FamilyError if it is not one."""
        try:
            first = dt.datetime.strptime(str(key), self.fmt).date()
        except ValueError:
            raise FamilyError(
                f"date key {str(key)[:20]!r} is not a {self.value} key ({self.fmt})"
            ) from None
        if first.strftime(self.fmt) != str(key):  # strptime accepts '2004-1' for '%Y-%m'
            raise FamilyError(f"date key {str(key)[:20]!r} is not a {self.value} key ({self.fmt})")
        if self is DateGrain.DAY:
            return first, first
        if self is DateGrain.MONTH:
            last_day = _calendar.monthrange(first.year, first.month)[1]
            return first, first.replace(day=last_day)
        return first, dt.date(first.year, 12, 31)

    def count(self, start: dt.date, today: dt.date) -> int:
        """Date keys from `start` to the period holding `today`, inclusive (end_offset 1)."""
        if today < start:
            return 0
        if self is DateGrain.DAY:
            return (today - start).days + 1
        if self is DateGrain.MONTH:
            return (today.year - start.year) * 12 + today.month - start.month + 1
        return today.year - start.year + 1


@dataclass(frozen=True)
class Family:
    """One asset family: the bases it carries, its date grain, start and symbols set."""

    name: str
    bases: tuple[Timeframe, ...]
    grain: DateGrain
    start: dt.date
    symbols_set: str

    def carries(self, timeframe: Timeframe | str) -> bool:
        return Timeframe.parse(timeframe) in self.bases

    @property
    def start_key(self) -> str:
        """The first date key (the start as Dagster's partitions definition takes it)."""
        return self.grain.key_of(self.start)

    def date_key(self, day: dt.date) -> str:
        return self.grain.key_of(day)

    def partition_key(self, date_key: str, symbol: str) -> str:
        """The multi-partition key (`date|symbol`, dimensions in alphabetical order)."""
        self.grain.period(date_key)  # validates the key
        return f"{date_key}|{validate_symbol(symbol)}"

    def sessions(
        self,
        date_key: str,
        calendar_code: str,
        *,
        listed: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[dt.date]:
        """The sessions a date key covers on a calendar, clipped to the calendar's bounds, the
        family's start, the listing and `until` (the last session a run may ask for: the
        current year's partition holds no future session); empty (never an error) when nothing
        is left, so a partition before a symbol's first session is skipped rather than failed."""
        first, last = self.grain.period(date_key)
        lo, hi = calendar_bounds(calendar_code)
        first = max(first, lo, self.start, listed or first)
        last = min(last, hi, until or last)
        if last < first:
            return []
        return sessions_in_range(calendar_code, first, last)

    def split_key(self, key: str) -> tuple[str, str]:
        """A multi-partition key (`2004|AAPL`) as its validated date key and symbol."""
        date_key, symbol = str(key).split("|", 1) if "|" in str(key) else (str(key), "")
        if not symbol:
            raise FamilyError(f"partition key {str(key)[:40]!r} is not `date|symbol`")
        self.grain.period(date_key)
        return date_key, validate_symbol(symbol)

    def expand(
        self,
        key: str,
        calendar_code: str,
        *,
        listed: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[BarPartition]:
        """A multi-partition key (`2004|AAPL`) as the sessions it holds (BarPartitions)."""
        date_key, symbol = self.split_key(key)
        days = self.sessions(date_key, calendar_code, listed=listed, until=until)
        return [BarPartition(day, symbol) for day in days]

    def expand_keys(
        self,
        keys: Iterable[str],
        calendar_of: Callable[[str], str],
        *,
        listed_of: Callable[[str], dt.date | None] = lambda _symbol: None,
        until: dt.date | None = None,
    ) -> list[BarPartition]:
        """A run's partition keys as the sorted sessions they hold: what the services take.

        `calendar_of` and `listed_of` give a symbol's calendar and listing date (None when
        unknown); a key whose period holds no session of its symbol contributes nothing."""
        out: set[BarPartition] = set()
        for key in keys:
            _, symbol = self.split_key(key)
            out.update(self.expand(key, calendar_of(symbol), listed=listed_of(symbol), until=until))
        return sorted(out)

    def key_of(self, part: BarPartition) -> str:
        """The family's partition key holding a session (`2004-03-01|AAPL` -> `2004|AAPL`)."""
        return f"{self.grain.key_of(part.session_date)}|{part.symbol}"

    def keys_per_symbol(self, today: dt.date) -> int:
        """Date keys of the family up to the period of `today`: each symbol's partitions."""
        return self.grain.count(self.start, today)

    def keys(self, symbols: int, today: dt.date) -> int:
        """Partition keys of each of the family's assets with `symbols` registered."""
        return symbols * self.keys_per_symbol(today)


def _start_from_env(name: str, default: str) -> dt.date:
    raw = settings.env(name, default) or default
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise FamilyError(f"{name} must be an ISO date (YYYY-MM-DD), got {raw[:30]!r}") from None
    if value < EARLIEST_START:
        raise FamilyError(f"{name} must be on or after {EARLIEST_START}, got {value}")
    if value > dt.date.today():
        raise FamilyError(f"{name} must not be in the future, got {value}")
    return value


def intraday_family() -> Family:
    """M1..H4: day grain, the partitions and layout every OHLCV asset had before families."""
    start = _start_from_env(settings.INTRADAY_START, FIRST_SESSION)
    bases = tuple(tf for tf in Timeframe if tf.is_intraday)
    return Family(INTRADAY, bases, DateGrain.DAY, start, SYMBOLS_PARTITIONS)


def daily_family() -> Family:
    """D1, W1, MN1: year grain from 2000 by default, its own symbols set."""
    start = _start_from_env(settings.DAILY_START, DEFAULT_DAILY_START)
    bases = (Timeframe.D1, Timeframe.W1, Timeframe.MN1)
    return Family(DAILY, bases, DateGrain.YEAR, start, DAILY_SYMBOLS_PARTITIONS)


def families() -> tuple[Family, ...]:
    return (intraday_family(), daily_family())


def family_for(timeframe: Timeframe | str) -> Family:
    """The family carrying a base timeframe (every one of the nine has exactly one)."""
    tf = Timeframe.parse(timeframe)
    for family in families():
        if family.carries(tf):
            return family
    raise FamilyError(f"no family carries base timeframe {tf}")  # pragma: no cover
