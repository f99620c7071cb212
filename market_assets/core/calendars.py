"""Trading sessions: which dates are sessions and which UTC windows they trade in.

Every calendar of exchange_calendars can be used, by its name (`XTKS`, `XNYS`, `XLON`, `XHKG`,
`XKRX`, ..., and its `24/7` calendar), plus our own `FX24X5`:

* exchange calendars come with holidays, early closes and lunch breaks as exchange_calendars
  4.13 encodes them (Tokyo's close moved from 15:00 to 15:30 JST on 2024-11-05; nothing is
  hard-coded here). Each is built over 2000-2035 clipped to the calendar's own bounds (some
  exchanges' rules are only known from a later year), and a date outside them is a clear error.
* `24/7` (crypto) is exchange_calendars' always-open calendar: the session dated D is the UTC
  day D, 00:00 to 24:00, every day of the year.
* `FX24X5` is our own: the session dated D runs from 17:00 America/New_York on D-1 to 17:00
  New York on D, for D Monday..Friday (the Sunday 17:00 New York open starts Monday's session).
  It has no holidays: the interbank market trades through almost every national holiday and
  vendors disagree about the few thin days (25 Dec, 1 Jan), so inventing closures would only
  make complete vendor data look like it has extra bars. Because New York changes its clocks
  on Sunday at 02:00, always before the 17:00 open, every FX session is exactly 24 hours long;
  in UTC it is 21:00-21:00 in summer time and 22:00-22:00 in winter time.

All schedules are precomputed once per process as int64-nanosecond numpy arrays (sorted by
session), so per-day lookups are a binary search and the generator can call them thousands of
times. Building an exchange_calendars object for 2000-2035 takes about 0.4 s per calendar, so
they are built lazily, on first use, and cached.

Window convention: a window is half-open [start, end); an M1 bar with opening time t belongs to
the window when start <= t < end, so the last M1 bar of a 09:00-15:30 session opens at 15:29.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

FX24X5 = "FX24X5"
ALWAYS_OPEN = "24/7"  # exchange_calendars' name: the session is the UTC day
FX_TIMEZONE = "America/New_York"

# exchange_calendars range (cost ~0.4 s per calendar). FX24X5 is cheap to build much wider.
CALENDAR_START = dt.date(2000, 1, 1)
CALENDAR_END = dt.date(2035, 12, 31)
FX_START = dt.date(1990, 1, 1)
FX_END = dt.date(2099, 12, 31)
FX_ROLL_TIME = dt.time(17, 0)

_NAT = np.iinfo(np.int64).min
_MINUTE_NS = 60_000_000_000


class CalendarError(ValueError):
    """Unknown calendar code, a date outside the supported range, or an ambiguous timestamp."""


@dataclass(frozen=True)
class _Schedule:
    """One calendar's sessions as sorted arrays; break columns hold _NAT when there is none."""

    code: str
    days: np.ndarray  # datetime64[D]
    opens: np.ndarray  # int64 ns UTC
    break_starts: np.ndarray
    break_ends: np.ndarray
    closes: np.ndarray
    first: dt.date
    last: dt.date

    def position(self, day: dt.date) -> int | None:
        """Index of `day` among the sessions, or None when it is not a session."""
        self.check_range(day)
        d = np.datetime64(day, "D")
        i = int(np.searchsorted(self.days, d))
        return i if i < len(self.days) and self.days[i] == d else None

    def check_range(self, day: dt.date) -> None:
        if not self.first <= day <= self.last:
            raise CalendarError(
                f"{day.isoformat()} is outside the {self.code} calendar range "
                f"{self.first.isoformat()}..{self.last.isoformat()}"
            )


def to_date(value: dt.date | str | pd.Timestamp | np.datetime64) -> dt.date:
    """Normalise a session-date argument (date, ISO string, Timestamp) to `datetime.date`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return pd.Timestamp(value).date()
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"not a date: {str(value)[:40]!r}") from exc


def to_utc(value: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
    """A timezone-aware instant in UTC; naive values are refused because they are ambiguous."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise CalendarError(f"timestamp {str(value)[:40]!r} has no timezone; pass UTC explicitly")
    return ts.tz_convert("UTC")


def _ns(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    arr = pd.DatetimeIndex(values).as_unit("ns").asi8.copy()
    arr[pd.isna(values)] = _NAT
    return arr


@cache
def exchange_calendar_names() -> frozenset[str]:
    """Every calendar name exchange_calendars knows (aliases such as `NYSE` included)."""
    return frozenset(xcals.get_calendar_names(include_aliases=True))


def calendar_codes() -> tuple[str, ...]:
    """Every calendar code a universe may name: FX24X5 and exchange_calendars' names."""
    return (FX24X5, *sorted(exchange_calendar_names()))


def is_calendar(code: object) -> bool:
    return isinstance(code, str) and (code == FX24X5 or code in exchange_calendar_names())


def unknown_calendar(code: object) -> CalendarError:
    shown = repr(code[:20]) if isinstance(code, str) else type(code).__name__
    return CalendarError(
        f"unknown calendar {shown}: use FX24X5 or a name of exchange_calendars"
        " (XTKS, XNYS, XLON, XHKG, XKRX, 24/7, ...; `exchange_calendars.get_calendar_names()`)"
    )


def _calendar_class(code: str) -> type[xcals.ExchangeCalendar]:
    """The calendar's class, without building a schedule (that costs ~0.4 s): the dispatcher's
    factory when it exposes one, else the class of a default-range build."""
    dispatcher = xcals.calendar_utils.global_calendar_dispatcher
    factories = getattr(dispatcher, "_calendar_factories", {})
    factory = factories.get(dispatcher.resolve_alias(code))
    if isinstance(factory, type):
        return factory
    return type(xcals.get_calendar(code))


@cache
def calendar_bounds(code: str) -> tuple[dt.date, dt.date]:
    """2000-2035 clipped to what the calendar's rules cover (FX24X5: its own wider range)."""
    if code == FX24X5:
        return FX_START, FX_END
    if not is_calendar(code):
        raise unknown_calendar(code)
    cls = _calendar_class(code)
    lo, hi = cls.bound_min(), cls.bound_max()
    first = max(CALENDAR_START, lo.date()) if lo is not None else CALENDAR_START
    last = min(CALENDAR_END, hi.date()) if hi is not None else CALENDAR_END
    return first, last


@cache
def exchange_calendar(code: str) -> xcals.ExchangeCalendar:
    """The cached exchange_calendars object of `code` (built once per process, ~0.4 s)."""
    if code == FX24X5 or code not in exchange_calendar_names():
        raise unknown_calendar(code)
    first, last = calendar_bounds(code)
    return xcals.get_calendar(code, start=first.isoformat(), end=last.isoformat())


def calendar_timezone(code: str) -> str:
    """The calendar's local time zone (IANA name): session dates are local dates."""
    if code == FX24X5:
        return FX_TIMEZONE
    return str(exchange_calendar(code).tz)


def _exchange_schedule(code: str) -> _Schedule:
    sched = exchange_calendar(code).schedule
    first, last = calendar_bounds(code)
    return _Schedule(
        code=code,
        days=sched.index.values.astype("datetime64[D]"),
        opens=_ns(sched["open"]),
        break_starts=_ns(sched["break_start"]),
        break_ends=_ns(sched["break_end"]),
        closes=_ns(sched["close"]),
        first=first,
        last=last,
    )


def _fx_schedule() -> _Schedule:
    days = pd.bdate_range(FX_START, FX_END)  # Monday..Friday, no holidays by design
    roll = pd.Timedelta(hours=FX_ROLL_TIME.hour, minutes=FX_ROLL_TIME.minute)
    tz = FX_TIMEZONE
    opens = (days - pd.Timedelta(days=1) + roll).tz_localize(tz).tz_convert("UTC")
    closes = (days + roll).tz_localize(tz).tz_convert("UTC")
    none = np.full(len(days), _NAT, dtype=np.int64)
    return _Schedule(
        code=FX24X5,
        days=days.values.astype("datetime64[D]"),
        opens=_ns(opens),
        break_starts=none,
        break_ends=none,
        closes=_ns(closes),
        first=FX_START,
        last=FX_END,
    )


@cache
def schedule(code: str) -> _Schedule:
    """The cached session arrays of a calendar (raises CalendarError for unknown codes)."""
    if code == FX24X5:
        return _fx_schedule()
    if is_calendar(code):
        return _exchange_schedule(code)
    raise unknown_calendar(code)


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")


def _windows_ns(s: _Schedule, i: int) -> list[tuple[int, int]]:
    o, bs, be, c = (int(s.opens[i]), int(s.break_starts[i]), int(s.break_ends[i]), int(s.closes[i]))
    if bs == _NAT or be == _NAT:
        return [(o, c)]
    return [(o, bs), (be, c)]


def is_session(calendar_code: str, date: dt.date | str) -> bool:
    return schedule(calendar_code).position(to_date(date)) is not None


def session_windows(
    calendar_code: str, session_date: dt.date | str
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The UTC [start, end) trading windows of a session; [] when the date is not a session.

    XTKS sessions have two windows (morning, afternoon) around the lunch break.
    """
    s = schedule(calendar_code)
    i = s.position(to_date(session_date))
    if i is None:
        return []
    return [(_ts(a), _ts(b)) for a, b in _windows_ns(s, i)]


def session_windows_ns(calendar_code: str, session_date: dt.date) -> list[tuple[int, int]]:
    """`session_windows` as int64 nanoseconds, for vectorised callers (the generator)."""
    s = schedule(calendar_code)
    i = s.position(to_date(session_date))
    return [] if i is None else _windows_ns(s, i)


def session_bounds(
    calendar_code: str, session_date: dt.date | str
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(open, close) of a session in UTC, breaks included; None when not a session."""
    s = schedule(calendar_code)
    i = s.position(to_date(session_date))
    return None if i is None else (_ts(int(s.opens[i])), _ts(int(s.closes[i])))


def sessions_in_range(
    calendar_code: str, start: dt.date | str, end: dt.date | str
) -> list[dt.date]:
    """Every session date with start <= date <= end (both inclusive)."""
    s = schedule(calendar_code)
    a, b = to_date(start), to_date(end)
    if b < a:
        return []
    s.check_range(a)
    s.check_range(b)
    lo = np.searchsorted(s.days, np.datetime64(a, "D"), side="left")
    hi = np.searchsorted(s.days, np.datetime64(b, "D"), side="right")
    return list(s.days[lo:hi].astype(object))


def next_session(calendar_code: str, date: dt.date | str) -> dt.date:
    """The first session strictly after `date`."""
    s = schedule(calendar_code)
    d = to_date(date)
    s.check_range(d)
    i = int(np.searchsorted(s.days, np.datetime64(d, "D"), side="right"))
    if i >= len(s.days):
        raise CalendarError(f"no {calendar_code} session after {d} within the calendar range")
    return s.days[i].astype(object)


def previous_session(calendar_code: str, date: dt.date | str) -> dt.date:
    """The last session strictly before `date`."""
    s = schedule(calendar_code)
    d = to_date(date)
    s.check_range(d)
    i = int(np.searchsorted(s.days, np.datetime64(d, "D"), side="left")) - 1
    if i < 0:
        raise CalendarError(f"no {calendar_code} session before {d} within the calendar range")
    return s.days[i].astype(object)


def session_dates_of(
    calendar_code: str, ts: pd.DatetimeIndex | pd.Series | np.ndarray, *, strict: bool = False
) -> np.ndarray:
    """Vectorised `session_date_of`: datetime64[D] per timestamp, NaT when outside sessions."""
    s = schedule(calendar_code)
    idx = pd.DatetimeIndex(ts)
    if idx.tz is None:
        raise CalendarError("timestamps have no timezone; pass UTC explicitly")
    t = idx.tz_convert("UTC").as_unit("ns").asi8
    i = np.searchsorted(s.opens, t, side="right") - 1
    ok = i >= 0
    ic = np.where(ok, i, 0)
    ok &= t < s.closes[ic]
    if strict:
        has_break = s.break_starts[ic] != _NAT
        in_break = has_break & (t >= s.break_starts[ic]) & (t < s.break_ends[ic])
        ok &= ~in_break
    out = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[D]")
    out[ok] = s.days[ic[ok]]
    return out


def session_date_of(
    calendar_code: str, ts: pd.Timestamp | dt.datetime | str, *, strict: bool = False
) -> dt.date | None:
    """The session whose [open, close) contains `ts`, or None (overnight, weekend, holiday).

    A time inside Tokyo's lunch break belongs to that day's session unless `strict`, which
    requires `ts` to fall inside a trading window (i.e. to be a valid M1 bar opening time).
    """
    t = to_utc(ts)
    day = session_dates_of(calendar_code, pd.DatetimeIndex([t]), strict=strict)[0]
    return None if np.isnat(day) else day.astype(object)


def expected_minute_bars(calendar_code: str, date: dt.date | str) -> pd.DatetimeIndex:
    """Every M1 opening time (UTC) of the session's windows; empty for non-sessions."""
    parts = [
        np.arange(a, b, _MINUTE_NS, dtype=np.int64)
        for a, b in session_windows_ns(calendar_code, to_date(date))
    ]
    values = np.concatenate(parts) if parts else np.array([], dtype=np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True), name="ts")


def next_close(calendar_code: str, after_ts: pd.Timestamp | dt.datetime | str) -> pd.Timestamp:
    """The first session close strictly after `after_ts` (UTC)."""
    s = schedule(calendar_code)
    t = to_utc(after_ts).as_unit("ns").value
    i = int(np.searchsorted(s.closes, t, side="right"))
    if i >= len(s.closes):
        raise CalendarError(f"no {calendar_code} close after {after_ts} within the calendar range")
    return _ts(int(s.closes[i]))


# --- bars of any base timeframe ------------------------------------------------------------
#
# Intraday bars of n minutes are labelled by their origin-aligned bucket start (origin
# 2000-01-01 00:00 UTC, the rollups' origin), so a base timeframe's bars and the rollups of a
# finer base share their labels. A session's expected labels are the distinct buckets of its
# trading minutes. A bucket that holds minutes of two sessions (FX H4: the 20:00 UTC bucket of
# a winter day closes one session at 22:00 and opens the next) belongs to the session of its
# first traded minute, so every label belongs to exactly one session.
#
# D1, W1 and MN1 bars are labelled by the opening time of their first session: D1 one per
# session; a W1 bar's session_date is the first session of its ISO week (Monday..Sunday, on
# the instrument's calendar), an MN1 bar's the first session of its calendar month, and `ts`
# is that session's open. A week or month without a session has no bar.

ORIGIN = pd.Timestamp("2000-01-01", tz="UTC")
_ORIGIN_NS = int(ORIGIN.value)


def _bar_minutes(timeframe: str) -> int | None:
    """Minutes of an intraday timeframe (M1..H4), None for D1/W1/MN1; ValueError otherwise."""
    from market_assets.core.timeframes import Timeframe

    return Timeframe.parse(timeframe).minutes


@cache
def _period_firsts(code: str, period: str) -> np.ndarray:
    """Boolean per session of the schedule: is it the first session of its ISO week / month."""
    days = schedule(code).days
    if period == "W1":
        # datetime64[D] counts days from 1970-01-01, a Thursday: Monday-based week numbers.
        key = (days.astype(np.int64) + 3) // 7
    else:
        key = days.astype("datetime64[M]").astype(np.int64)
    first = np.ones(len(days), dtype=bool)
    first[1:] = key[1:] != key[:-1]
    return first


def _bucket_ns(values: np.ndarray, minutes: int) -> np.ndarray:
    size = minutes * _MINUTE_NS
    return _ORIGIN_NS + (values - _ORIGIN_NS) // size * size


def expected_bar_labels(
    calendar_code: str, timeframe: str, date: dt.date | str
) -> pd.DatetimeIndex:
    """The labels (UTC `ts`) of every bar of `timeframe` the session `date` expects.

    M1 gives `expected_minute_bars`; M5..H4 the distinct origin-aligned buckets of the
    session's minutes, without a bucket that began in the previous session; D1 the session's
    open; W1/MN1 the session's open when it is the first session of its week/month, else none.
    Non-sessions expect nothing.
    """
    s = schedule(calendar_code)
    day = to_date(date)
    i = s.position(day)
    minutes = _bar_minutes(timeframe)
    if i is None:
        values = np.array([], dtype=np.int64)
    elif minutes == 1:
        return expected_minute_bars(calendar_code, day)
    elif minutes is not None:
        traded = np.concatenate([np.arange(a, b, _MINUTE_NS) for a, b in _windows_ns(s, i)])
        values = np.unique(_bucket_ns(traded, minutes))
        if i > 0 and len(values):
            previous_last = int(s.closes[i - 1]) - _MINUTE_NS
            if _bucket_ns(np.array([previous_last]), minutes)[0] == values[0]:
                values = values[1:]
    elif timeframe in ("W1", "MN1") and not _period_firsts(calendar_code, str(timeframe))[i]:
        values = np.array([], dtype=np.int64)
    else:
        values = np.array([int(s.opens[i])], dtype=np.int64)
    return pd.DatetimeIndex(pd.to_datetime(values, unit="ns", utc=True), name="ts")


def bar_session_dates(
    calendar_code: str, timeframe: str, ts: pd.DatetimeIndex | pd.Series | np.ndarray
) -> np.ndarray:
    """The session (datetime64[D]) each bar of `timeframe` labelled `ts` belongs to; NaT for a
    label that no session expects (misaligned, outside every session, not a period's first).

    The inverse of `expected_bar_labels`: t maps to D exactly when t is among D's labels.
    """
    minutes = _bar_minutes(timeframe)
    if minutes == 1:
        return session_dates_of(calendar_code, ts, strict=True)
    s = schedule(calendar_code)
    idx = pd.DatetimeIndex(ts)
    if idx.tz is None:
        raise CalendarError("timestamps have no timezone; pass UTC explicitly")
    t = idx.tz_convert("UTC").as_unit("ns").asi8
    out = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[D]")
    if not len(t) or not len(s.days):
        return out
    if minutes is not None:
        size = minutes * _MINUTE_NS
        i = np.searchsorted(s.closes, t, side="right")  # first session closing after t
        ok = i < len(s.days)
        ic = np.where(ok, i, 0)
        first = np.maximum(t, s.opens[ic])  # its first traded minute at or after t
        has_break = s.break_starts[ic] != _NAT
        in_break = has_break & (first >= s.break_starts[ic]) & (first < s.break_ends[ic])
        first = np.where(in_break, s.break_ends[ic], first)
        # Session i is the first to close after t, so the bucket's first traded minute (the
        # one that files the bucket, see above) is in session i when it is inside the bucket.
        ok &= ((t - _ORIGIN_NS) % size == 0) & (first < t + size)
    else:
        i = np.searchsorted(s.opens, t, side="left")
        ok = i < len(s.days)
        ic = np.where(ok, i, 0)
        ok &= s.opens[ic] == t
        if timeframe in ("W1", "MN1"):
            ok &= _period_firsts(calendar_code, str(timeframe))[ic]
    out[ok] = s.days[ic[ok]]
    return out


def period_first_session(calendar_code: str, timeframe: str, date: dt.date | str) -> dt.date | None:
    """The session a D1/W1/MN1 bar of the period containing `date` is filed under: the session
    on `date` (D1), the first session of its ISO week (W1) or calendar month (MN1); None when
    the period has no session."""
    day = to_date(date)
    if timeframe == "D1":
        return day if is_session(calendar_code, day) else None
    if timeframe == "W1":
        start = day - dt.timedelta(days=day.weekday())
        end = start + dt.timedelta(days=6)
    elif timeframe == "MN1":
        start = day.replace(day=1)
        end = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    else:
        raise CalendarError(f"{timeframe} is not a D1, W1 or MN1 timeframe")
    first, last = calendar_bounds(calendar_code)
    found = sessions_in_range(calendar_code, max(start, first), min(end, last))
    return found[0] if found else None


def dated_bar_sessions(
    calendar_code: str, timeframe: str, days: np.ndarray, *, sunday_starts_week: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(session_date, ts in int64 ns) of D1/W1/MN1 bars a vendor dates by a day of their period
    (datetime64[D] `days`): the period containing the day, filed under its first session and
    labelled by that session's open; NaT / _NAT where the period has no session.

    A vendor that dates a week by its first day and starts weeks on Sunday gives a Sunday that
    belongs to the ISO week after it (`sunday_starts_week`).
    """
    s = schedule(calendar_code)
    sessions = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[D]")
    opens = np.full(len(days), _NAT, dtype=np.int64)
    found: dict[np.datetime64, dt.date | None] = {}
    for i, value in enumerate(days):
        if np.isnat(value):
            continue
        if value not in found:
            day = value.astype(object)
            if sunday_starts_week and timeframe == "W1" and day.weekday() == 6:
                day += dt.timedelta(days=1)
            try:
                found[value] = period_first_session(calendar_code, timeframe, day)
            except CalendarError:
                found[value] = None  # outside the calendar's range: no session
        first = found[value]
        if first is not None:
            sessions[i] = np.datetime64(first, "D")
            pos = s.position(first)
            assert pos is not None
            opens[i] = s.opens[pos]
    return sessions, opens
