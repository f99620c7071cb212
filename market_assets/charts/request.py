"""What a chart asks for, validated: every query parameter is untrusted input.

Symbols go through the identifier allow-list, timeframes through `Timeframe.parse`, times
through ISO 8601 parsing; anything else is refused with `BadRequest`, whose message is short
and safe to show (it quotes at most a truncated repr of the value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from market_assets.core.identifiers import describe, validate_symbol
from market_assets.core.timeframes import Timeframe

DEFAULT_TIMEFRAME = Timeframe.H1
DEFAULT_LAST = 720  # 30 FX sessions of H1
MAX_LAST = 20_000  # a chart is for eyes: more candles than pixels helps no one
KNOWN = frozenset({"symbol", "tf", "timeframe", "start", "end", "last", "adjusted"})


class BadRequest(ValueError):
    """A chart request that cannot be answered as asked (HTTP 400)."""


@dataclass(frozen=True)
class ChartRequest:
    """One chart: a symbol, a timeframe and either a window [start, end) or the latest N."""

    symbol: str
    timeframe: Timeframe
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    last: int | None = DEFAULT_LAST
    adjusted: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "timeframe": str(self.timeframe),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "last": self.last,
            "adjusted": self.adjusted,
        }


def parse_time(value: str, name: str, *, end: bool = False) -> dt.datetime:
    """ISO 8601 date or time, UTC without an offset. A bare date as `end` includes that day
    (the page's date pickers are inclusive); a time as `end` is exclusive."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), dt.UTC)
            return moment + dt.timedelta(days=1) if end else moment
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"{name} must be an ISO 8601 date or time (2024-03-11, 2024-03-11T09:00), "
            f"got {describe(value)}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_request(params: Mapping[str, Sequence[str]]) -> ChartRequest:
    """A ChartRequest from query parameters (`urllib.parse.parse_qs` shape); BadRequest if not."""
    unknown = sorted(set(params) - KNOWN)
    if unknown:
        raise BadRequest(
            f"unknown parameter {describe(unknown[0])}; known: {', '.join(sorted(KNOWN))}"
        )

    def one(name: str) -> str | None:
        values = params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f"{name} given {len(values)} times")
        return values[0]

    raw_symbol = one("symbol")
    if not raw_symbol:
        raise BadRequest("symbol is required (e.g. symbol=EURUSD)")
    try:
        symbol = validate_symbol(raw_symbol.strip().upper())
        timeframe = Timeframe.parse(one("tf") or one("timeframe") or DEFAULT_TIMEFRAME)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    start_text, end_text, last_text = one("start"), one("end"), one("last")
    start = parse_time(start_text, "start") if start_text else None
    end = parse_time(end_text, "end", end=True) if end_text else None
    if start is not None and end is not None and end <= start:
        raise BadRequest("end must be after start")
    last: int | None = None if start is not None else DEFAULT_LAST
    if last_text:
        if not last_text.strip().isdigit() or not 1 <= int(last_text) <= MAX_LAST:
            raise BadRequest(f"last must be a whole number from 1 to {MAX_LAST}")
        last = int(last_text)
    adjusted_text = (one("adjusted") or "0").strip().lower()
    if adjusted_text not in {"0", "1", "true", "false", "yes", "no", "on", "off"}:
        raise BadRequest(f"adjusted must be 0 or 1, got {describe(adjusted_text)}")
    adjusted = adjusted_text in {"1", "true", "yes", "on"}
    return ChartRequest(symbol, timeframe, start, end, last, adjusted)


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
