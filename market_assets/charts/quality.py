"""The data-quality strip: sessions of a symbol with quarantined rows or failed checks.

Read from `quarantine` and `data_quality_metrics` with the reader role (named statements in
sql/queries/charts, values bound). A check marks a session while its latest evaluation of
that partition failed, so a session repaired by a later run is no longer flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from market_assets.core.partition_keys import parse_partition, partition_key
from resources.postgres import PostgresResource
from resources.queries import query


@dataclass
class SessionQuality:
    """What went wrong in one session: rows held back (by rule) and checks that failed."""

    session_date: dt.date
    quarantined_rows: int = 0
    rules: list[str] = field(default_factory=list)
    failed_checks: list[str] = field(default_factory=list)  # "asset.check (SEVERITY)"

    def as_dict(self) -> dict[str, object]:
        return {
            "session_date": self.session_date.isoformat(),
            "quarantined_rows": self.quarantined_rows,
            "rules": self.rules,
            "failed_checks": self.failed_checks,
        }


def session_quality(
    postgres: PostgresResource, symbol: str, sessions: Sequence[dt.date]
) -> list[SessionQuality]:
    """The flagged sessions among `sessions`, in date order (an empty list: all clean)."""
    if not sessions:
        return []
    wanted = sorted(set(sessions))
    keys = [partition_key(day, symbol) for day in wanted]
    found: dict[dt.date, SessionQuality] = {}
    with postgres.connection() as conn:
        conn.autocommit = True  # two SELECTs: no transaction to open and roll back
        try:
            rows = conn.execute(
                query("charts/quarantined_sessions"),
                {"symbol": symbol, "first": wanted[0], "last": wanted[-1]},
            ).fetchall()
            for day, count, rules in rows:
                found[day] = SessionQuality(day, int(count), list(rules))
            checks = conn.execute(query("charts/failed_checks"), {"keys": keys}).fetchall()
        finally:
            if not conn.closed:
                conn.autocommit = False
    for key, asset, check_name, severity in checks:
        day = parse_partition(key).session_date
        entry = found.setdefault(day, SessionQuality(day))
        entry.failed_checks.append(f"{asset}.{check_name} ({severity})")
    return [found[day] for day in sorted(found)]
