"""Quality tolerances from universe.yaml's `quality` section, validated when the file loads.

They sit beside the instruments because they describe the sources and markets declared there:
how many of a session's bars a source may miss (the generator none, a vendor that skips
minutes without trades some), and by when each market's session must be in the database.
A typo here would otherwise surface as a check that never fails, so unknown keys, unknown
sources or calendars and out-of-range values are refused.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from market_assets.core.calendars import is_calendar, unknown_calendar

_TIME_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_SOURCES = ("generator", "landing", "yfinance", "jquants")


class QualityConfigError(ValueError):
    """The `quality` section of the universe file is invalid."""


@dataclass(frozen=True)
class Deadline:
    """A market's session must be loaded by `time` (local, `timezone`) on the session date."""

    calendar: str
    time: dt.time
    timezone: str

    def at(self, session_date: dt.date) -> dt.datetime:
        return dt.datetime.combine(session_date, self.time, ZoneInfo(self.timezone))

    def describe(self) -> str:
        return f"{self.time:%H:%M} {self.timezone}"


# Used when the file has no `quality` section: exact for the generator, a margin for vendors.
DEFAULT_TOLERANCES: Mapping[str, float] = MappingProxyType(
    {"generator": 0.0, "landing": 0.02, "jquants": 0.05, "yfinance": 0.10}
)
DEFAULT_DEADLINES: Mapping[str, Deadline] = MappingProxyType(
    {
        "XTKS": Deadline("XTKS", dt.time(16, 30), "Asia/Tokyo"),
        "XNYS": Deadline("XNYS", dt.time(16, 30), "America/New_York"),
        "FX24X5": Deadline("FX24X5", dt.time(17, 30), "America/New_York"),
    }
)


@dataclass(frozen=True)
class QualityConfig:
    row_count_tolerance: Mapping[str, float] = field(
        default_factory=lambda: DEFAULT_TOLERANCES, hash=False
    )
    deadlines: Mapping[str, Deadline] = field(default_factory=lambda: DEFAULT_DEADLINES, hash=False)

    def tolerance(self, source: str) -> float:
        """Share of the expected bars a source may miss; unknown sources get none."""
        return self.row_count_tolerance.get(source, 0.0)

    def __reduce__(self) -> tuple[Any, ...]:
        return (QualityConfig, (dict(self.row_count_tolerance), dict(self.deadlines)))


def _tolerances(data: Any) -> dict[str, float]:
    if not isinstance(data, dict):
        raise QualityConfigError("quality.row_count_tolerance must map source -> share (0..1)")
    out = dict(DEFAULT_TOLERANCES)
    for source, value in data.items():
        if source not in _SOURCES:
            raise QualityConfigError(
                f"quality.row_count_tolerance: unknown source {str(source)[:20]!r};"
                f" sources are {list(_SOURCES)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
            raise QualityConfigError(
                f"quality.row_count_tolerance.{source} must be a share in [0, 1), got {value!r}"
            )
        out[source] = float(value)
    return out


def _deadlines(data: Any) -> dict[str, Deadline]:
    if not isinstance(data, dict):
        raise QualityConfigError("quality.freshness must map calendar -> {deadline, timezone}")
    out = dict(DEFAULT_DEADLINES)
    for code, spec in data.items():
        where = f"quality.freshness.{str(code)[:20]}"
        if not is_calendar(code):
            raise QualityConfigError(f"{where}: {unknown_calendar(code)}")
        if not isinstance(spec, dict) or set(spec) - {"deadline", "timezone"}:
            raise QualityConfigError(f"{where}: expected {{deadline: 'HH:MM', timezone: ...}}")
        raw = spec.get("deadline", "")
        match = _TIME_RE.fullmatch(raw) if isinstance(raw, str) else None
        if match is None:
            raise QualityConfigError(f"{where}.deadline must be 'HH:MM' (quoted), got {raw!r}")
        tz = spec.get("timezone", DEFAULT_DEADLINES[code].timezone)
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise QualityConfigError(f"{where}.timezone: unknown time zone {tz!r}") from None
        out[code] = Deadline(code, dt.time(int(match[1]), int(match[2])), str(tz))
    return out


def parse_quality(data: Any) -> QualityConfig:
    if data is None:
        return QualityConfig()
    if not isinstance(data, dict) or set(data) - {"row_count_tolerance", "freshness"}:
        raise QualityConfigError("quality: allowed keys are row_count_tolerance and freshness")
    return QualityConfig(
        row_count_tolerance=MappingProxyType(_tolerances(data.get("row_count_tolerance", {}))),
        deadlines=MappingProxyType(_deadlines(data.get("freshness", {}))),
    )
