"""The nine bar timeframes, M1 to MN1.

Intraday timeframes have a fixed length in minutes and are rolled up from M1. D1, W1 and MN1
have no fixed length: D1 is one exchange session (which may span two calendar days, or have a
lunch break, or close early), W1 and MN1 group sessions by calendar week and month. Keeping
`minutes` as `None` for them forces callers to go through the calendar instead of assuming
1440 minutes a day.
"""

from __future__ import annotations

from enum import StrEnum


class Timeframe(StrEnum):
    """A bar timeframe; the value is the name stored in the database and in Parquet."""

    minutes: int | None

    def __new__(cls, value: str, minutes: int | None) -> Timeframe:
        member = str.__new__(cls, value)
        member._value_ = value
        member.minutes = minutes
        return member

    M1 = ("M1", 1)
    M5 = ("M5", 5)
    M15 = ("M15", 15)
    M30 = ("M30", 30)
    H1 = ("H1", 60)
    H4 = ("H4", 240)
    D1 = ("D1", None)
    W1 = ("W1", None)
    MN1 = ("MN1", None)

    @property
    def is_intraday(self) -> bool:
        """True when the bar length is a fixed number of minutes inside a session."""
        return self.minutes is not None

    @property
    def is_session_based(self) -> bool:
        """True for D1/W1/MN1, whose boundaries come from the exchange calendar."""
        return self.minutes is None

    @classmethod
    def parse(cls, value: str | Timeframe) -> Timeframe:
        """Accept a timeframe name in any case ('m5', 'D1'); reject anything else clearly."""
        if isinstance(value, Timeframe):
            return value
        if isinstance(value, str):
            member = cls._value2member_map_.get(value.strip().upper())
            if member is not None:
                return member  # type: ignore[return-value]
        shown = repr(value[:20]) if isinstance(value, str) else type(value).__name__
        valid = ", ".join(m.value for m in cls)
        raise ValueError(f"unknown timeframe {shown}; valid timeframes are: {valid}")

    @classmethod
    def intraday(cls) -> tuple[Timeframe, ...]:
        return tuple(m for m in cls if m.is_intraday)


ALL_TIMEFRAMES: tuple[Timeframe, ...] = tuple(Timeframe)
