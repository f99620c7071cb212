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
- families a user declares in the universe file (`families:`, `parse_families`): any subset of
  the nine bases, a grain, a start, for day grain `days: weekdays` (keys Monday..Friday only,
  a `0 0 * * 1-5` cron) and optionally one `calendar` whose weekday holidays are no keys
  either (Dagster's `exclusions`); partitions set `<name>_symbols`, assets `<name>_...`.

Pure: no Dagster here; market_assets/defs/ohlcv/partitions.py builds the definitions from these.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any

from market_assets.core import settings
from market_assets.core.calendars import (
    CalendarError,
    calendar_bounds,
    is_calendar,
    sessions_in_range,
    unknown_calendar,
)
from market_assets.core.identifiers import describe, validate_symbol
from market_assets.core.partition_keys import FIRST_SESSION, SYMBOLS_PARTITIONS, BarPartition
from market_assets.core.timeframes import Timeframe

INTRADAY = "intraday"
DAILY = "daily"
DAILY_SYMBOLS_PARTITIONS = "daily_symbols"
DEFAULT_DAILY_START = "2000-01-01"
EARLIEST_START = dt.date(1990, 1, 1)  # no calendar of the project reaches further back
WEEKDAY_CRON = "0 0 * * 1-5"  # a weekdays family's date keys: Monday..Friday, midnight UTC
# Names a declared family may not take: the built-ins, `bar` (its `bar_rollups` and
# `bar_snapshots` would be the intraday family's asset keys) and `year` (its schedules would be
# the daily family's, `tokyo_equities_year`).
RESERVED_NAMES = frozenset({INTRADAY, DAILY, "bar", "year"})
_FAMILY_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,29}")


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


class DayKeys(StrEnum):
    """Which days a day-grain family has keys for: every calendar day, or Monday..Friday."""

    ALL = "all"
    WEEKDAYS = "weekdays"


@cache
def _weekday_holidays(calendar_code: str, start: dt.date) -> tuple[dt.date, ...]:
    """Monday..Friday dates from `start` to the calendar's last that are not its sessions."""
    lo, hi = calendar_bounds(calendar_code)
    first = max(start, lo)
    sessions = set(sessions_in_range(calendar_code, first, hi))
    days = (first + dt.timedelta(days=i) for i in range((hi - first).days + 1))
    return tuple(d for d in days if d.weekday() < 5 and d not in sessions)


@cache
def _holiday_set(calendar_code: str, start: dt.date) -> frozenset[dt.date]:
    return frozenset(_weekday_holidays(calendar_code, start))


@cache
def _weekend_session(calendar_code: str, start: dt.date) -> dt.date | None:
    """The first Saturday or Sunday session of a calendar from `start`, None if it has none."""
    lo, hi = calendar_bounds(calendar_code)
    for day in sessions_in_range(calendar_code, max(start, lo), hi):
        if day.weekday() >= 5:
            return day
    return None


@dataclass(frozen=True)
class Family:
    """One asset family: the bases it carries, its date grain, start and symbols set; for a
    day grain, which days have keys (`days`) and the one calendar whose weekday holidays are
    excluded too (`calendar`, None: no exclusions)."""

    name: str
    bases: tuple[Timeframe, ...]
    grain: DateGrain
    start: dt.date
    symbols_set: str
    days: DayKeys = DayKeys.ALL
    calendar: str | None = None

    def carries(self, timeframe: Timeframe | str) -> bool:
        return Timeframe.parse(timeframe) in self.bases

    @property
    def cron(self) -> str:
        """The cron whose ticks start the date keys (Dagster's `cron_schedule`)."""
        return WEEKDAY_CRON if self.days is DayKeys.WEEKDAYS else self.grain.cron

    def excluded_days(self) -> tuple[dt.date, ...]:
        """Weekdays with no key: the pinned calendar's weekday holidays from the start on (to
        the calendar's last date, so the definition does not change from one day to the next);
        Dagster's `exclusions`."""
        if self.days is not DayKeys.WEEKDAYS or self.calendar is None:
            return ()
        return _weekday_holidays(self.calendar, self.start)

    def has_key(self, day: dt.date) -> bool:
        """True when a day-grain family has a key for `day` (every period has one otherwise)."""
        if self.days is not DayKeys.WEEKDAYS:
            return True
        if day.weekday() >= 5:
            return False
        return self.calendar is None or day not in _holiday_set(self.calendar, self.start)

    def check_calendar(self, calendar_code: str) -> None:
        """FamilyError when a calendar's sessions would not all have a key in this family: a
        calendar other than the pinned one, or a weekend session in a weekdays family (24/7,
        or an exchange trading on Sunday)."""
        if self.calendar is not None and calendar_code != self.calendar:
            raise FamilyError(
                f"family {self.name} is pinned to calendar {self.calendar}, not {calendar_code}"
            )
        if self.days is DayKeys.WEEKDAYS:
            weekend = _weekend_session(calendar_code, self.start)
            if weekend is not None:
                raise FamilyError(
                    f"family {self.name} has weekday keys only, but calendar {calendar_code} "
                    f"has weekend sessions (e.g. {weekend:%a} {weekend}) that would have no key;"
                    " use a family with `days: all`"
                )

    @property
    def start_key(self) -> str:
        """The first date key (the start as Dagster's partitions definition takes it)."""
        return self.grain.key_of(self.start)

    def period(self, date_key: str) -> tuple[dt.date, dt.date]:
        """`DateGrain.period`, refusing a day this family has no key for (a Saturday of a
        weekdays family, a holiday of its pinned calendar)."""
        first, last = self.grain.period(date_key)
        if self.grain is DateGrain.DAY and not self.has_key(first):
            raise FamilyError(
                f"date key {date_key} ({first:%a}) is not a key of family {self.name}, whose keys"
                " are weekdays" + (f" with {self.calendar} sessions" if self.calendar else "")
            )
        return first, last

    def date_key(self, day: dt.date) -> str:
        """The date key holding `day`; FamilyError for a day the family has no key for."""
        key = self.grain.key_of(day)
        if self.grain is DateGrain.DAY and not self.has_key(day):
            self.period(key)  # raises, naming the day
        return key

    def date_keys(self, today: dt.date) -> list[str]:
        """Every date key from the start to the period holding `today` (end_offset 1), as
        Dagster lists them for the family's date dimension."""
        if self.grain is not DateGrain.DAY:
            keys, day = [], self.start.replace(month=1, day=1)
            if self.grain is DateGrain.MONTH:
                day = self.start.replace(day=1)
            while day <= today:
                keys.append(self.grain.key_of(day))
                day = self.grain.period(self.grain.key_of(day))[1] + dt.timedelta(days=1)
            return keys
        days = (self.start + dt.timedelta(days=i) for i in range((today - self.start).days + 1))
        return [d.isoformat() for d in days if self.has_key(d)]

    def partition_key(self, date_key: str, symbol: str) -> str:
        """The multi-partition key (`date|symbol`, dimensions in alphabetical order)."""
        self.period(date_key)  # validates the key
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
        first, last = self.period(date_key)
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
        self.period(date_key)
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

    def key_of(self, part: BarPartition) -> str:
        """The family's partition key holding a session (`2004-03-01|AAPL` -> `2004|AAPL`)."""
        return f"{self.date_key(part.session_date)}|{part.symbol}"

    def keys_per_symbol(self, today: dt.date) -> int:
        """Date keys of the family up to the period of `today`: each symbol's partitions."""
        if self.days is DayKeys.WEEKDAYS:
            return len(self.date_keys(today))
        return self.grain.count(self.start, today)

    def keys(self, symbols: int, today: dt.date) -> int:
        """Partition keys of each of the family's assets with `symbols` registered."""
        return symbols * self.keys_per_symbol(today)


def _checked_start(name: str, raw: Any) -> dt.date:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        value = raw  # YAML reads an unquoted 2024-01-01 as a date
    else:
        try:
            value = dt.date.fromisoformat(str(raw))
        except ValueError:
            raise FamilyError(
                f"{name} must be an ISO date (YYYY-MM-DD), got {str(raw)[:30]!r}"
            ) from None
    if value < EARLIEST_START:
        raise FamilyError(f"{name} must be on or after {EARLIEST_START}, got {value}")
    if value > dt.date.today():
        raise FamilyError(f"{name} must not be in the future, got {value}")
    return value


def _start_from_env(name: str, default: str) -> dt.date:
    return _checked_start(name, settings.env(name, default) or default)


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


_FAMILY_KEYS = {"name", "bases", "grain", "start", "days", "calendar"}


def _declared_family(entry: Any, index: int, taken: set[str]) -> Family:
    where = f"families[{index}]"
    if not isinstance(entry, dict):
        raise FamilyError(f"{where}: expected a mapping, got {describe(entry)}")
    unknown = sorted(str(k) for k in entry if k not in _FAMILY_KEYS)
    if unknown:
        raise FamilyError(f"{where}: unknown keys {unknown}; allowed are {sorted(_FAMILY_KEYS)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _FAMILY_NAME_RE.fullmatch(name):
        raise FamilyError(
            f"{where}: field name {describe(name)} must be a lower-case identifier"
            " ([a-z][a-z0-9_]*, at most 30 characters)"
        )
    if name in RESERVED_NAMES:
        raise FamilyError(f"{where}: field name {name!r} is reserved ({sorted(RESERVED_NAMES)})")
    if name in taken:
        raise FamilyError(f"{where}: field name {name!r} is declared twice")
    where = f"{where} ({name})"
    for key in ("bases", "grain", "start"):
        if key not in entry:
            raise FamilyError(f"{where}: missing required field {key!r}")
    raw_bases = entry["bases"]
    if not isinstance(raw_bases, list) or not raw_bases:
        raise FamilyError(f"{where}: field bases must be a non-empty list of timeframes")
    bases: list[Timeframe] = []
    for raw in raw_bases:
        try:
            tf = Timeframe.parse(raw)
        except (ValueError, TypeError):
            valid = ", ".join(Timeframe)
            raise FamilyError(
                f"{where}: field bases: {describe(raw)} is not one of {valid}"
            ) from None
        if tf in bases:
            raise FamilyError(f"{where}: field bases lists {tf} twice")
        bases.append(tf)
    try:
        grain = DateGrain(entry["grain"])
    except ValueError:
        raise FamilyError(
            f"{where}: field grain {describe(entry['grain'])} is not one of"
            f" {[g.value for g in DateGrain]}"
        ) from None
    start = _checked_start(f"{where}: field start", entry["start"])
    try:
        days = DayKeys(entry.get("days", DayKeys.ALL.value))
    except ValueError:
        raise FamilyError(
            f"{where}: field days {describe(entry.get('days'))} is not one of"
            f" {[d.value for d in DayKeys]}"
        ) from None
    if days is DayKeys.WEEKDAYS and grain is not DateGrain.DAY:
        raise FamilyError(f"{where}: field days: weekdays needs grain day, not {grain}")
    calendar = entry.get("calendar")
    if calendar is not None:
        if days is not DayKeys.WEEKDAYS:
            raise FamilyError(
                f"{where}: field calendar pins the weekday keys to one calendar's sessions;"
                " it needs `days: weekdays`"
            )
        if not is_calendar(calendar):
            raise FamilyError(f"{where}: field calendar: {unknown_calendar(calendar)}")
    family = Family(name, tuple(bases), grain, start, f"{name}_symbols", days, calendar)
    if calendar is not None:
        try:
            family.check_calendar(calendar)
        except FamilyError as exc:
            raise FamilyError(f"{where}: field calendar: {exc}") from None
        except CalendarError as exc:  # pragma: no cover - a calendar that cannot be built
            raise FamilyError(f"{where}: field calendar: {exc}") from None
    return family


def parse_families(entries: Any) -> tuple[Family, ...]:
    """The `families:` section of a universe file (None or a list), validated: every error
    names the entry (`families[1] (fx_m1)`) and the field."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise FamilyError(f"families must be a list of families, got {describe(entries)}")
    out: list[Family] = []
    for i, entry in enumerate(entries):
        out.append(_declared_family(entry, i, {f.name for f in out}))
    return tuple(out)
