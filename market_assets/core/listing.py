"""A symbol's listing window, applied to a run's partitions: sessions to work on, keys to skip.

An instrument may carry `listed` and `delisted` dates (universe file). A run's keys are cut to
the sessions inside [listed, delisted]; a key with no day inside is *skipped*, with the reason,
rather than handed to the source (which has no bars there, so every session would be held back
and the partition fail). The steps after raw_bars get the same cut, so the gap and continuity
checks never see a session outside the window, and "backfill missing" over years before a
listing materialises skips, not failures.

Pure: the families' key arithmetic and the instruments in, sessions and reasons out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from market_assets.core.families import Family
from market_assets.core.partition_keys import BarPartition
from market_assets.core.universe import Instrument


@dataclass
class ListedParts:
    """The sessions a run works on, and its keys skipped whole with the reason why."""

    parts: list[BarPartition] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def clip_days(
    parts: Iterable[BarPartition], instrument_of: Callable[[str], Instrument | None]
) -> ListedParts:
    """Day partitions (one session each, the intraday family): those outside their symbol's
    listing are skipped. A symbol the universe cannot resolve (`instrument_of` gives None)
    is kept: raw_bars holds it back with that reason, as before."""
    out = ListedParts()
    for part in parts:
        inst = instrument_of(part.symbol)
        reason = inst.outside_listing(part.session_date, part.session_date) if inst else None
        if reason is None:
            out.parts.append(part)
        else:
            out.skipped[str(part.key)] = reason
    return out


def clip_periods(
    family: Family,
    keys: Iterable[str],
    instrument_of: Callable[[str], Instrument],
    *,
    until: dt.date,
    window: tuple[dt.date, dt.date] | None = None,
) -> ListedParts:
    """Period keys (`2004|AAPL`, the daily family) expanded to their sessions on the symbol's
    calendar inside [listed, min(delisted, until)]; a key whose period lies wholly outside the
    listing is skipped. A period holding no session for other reasons (before the calendar's
    bounds, the year in progress before its first session) contributes nothing, as before.
    `window` (first, last), when given, keeps only the sessions inside it (a session-tagged
    run), expanding nothing outside it: a year of 4,400 symbols is a million sessions."""
    out: set[BarPartition] = set()
    skipped: dict[str, str] = {}
    for key in keys:
        date_key, symbol = family.split_key(key)
        inst = instrument_of(symbol)
        first, last = family.grain.period(date_key)
        reason = inst.outside_listing(first, last)
        if reason is not None:
            skipped[key] = reason
            continue
        end = min(until, inst.delisted) if inst.delisted else until
        start = inst.listed
        if window is not None:
            start = max(start, window[0]) if start else window[0]
            end = min(end, window[1])
        out.update(family.expand(key, inst.calendar, listed=start, until=end))
    return ListedParts(_sorted(out), skipped)


def _sorted(parts: Iterable[BarPartition]) -> list[BarPartition]:
    """BarPartition order (session date, then symbol) by a tuple key: the dataclass's own
    comparisons took 6 s of the 11 s that a year of 4,400 symbols cost to expand."""
    return sorted(parts, key=lambda p: (p.session_date, p.symbol))
