"""Compression and retention, configured per deployment rather than fixed in migrations.

Retention trims the database only: S3 keeps every session, and `market-assets rebuild`
restores any range. Each timeframe has its own setting, `MARKET_ASSETS_RETENTION_<TF>` for the
nine (M1, M5, M15, M30, H1, H4, D1, W1, MN1): M1 defaults to 6 months (`off` disables it, as
the dev stack, tests and benchmarks do), every other timeframe keeps its bars until a value is
set. A setting covers the bars of that base timeframe and the rollup level of that timeframe
(a rollup follows its timeframe's rule, whatever base it came from). Bars are dropped whole
per timeframe (migration 0011 files each timeframe apart): on plain PostgreSQL the maintenance
job drops the timeframe's monthly (intraday) or yearly (D1 and coarser) partitions; on
TimescaleDB a job drops the timeframe's chunks. Rollups of plain PostgreSQL are tables, trimmed
by DELETE; TimescaleDB's continuous aggregates get retention policies of their own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
import psycopg

from market_assets.core import settings as s
from market_assets.core.timeframes import ALL_TIMEFRAMES, Timeframe

_INTERVAL = re.compile(r"^\d+ (minutes?|hours?|days?|weeks?|months?|years?)$")
_OFF = ("off", "none", "0")

# Rollup relations per timeframe, by dialect: what a timeframe's retention trims besides its
# bars. W1 and MN1 are views over the daily bars (nothing stored of their own).
ROLLUP_TABLES: dict[str, tuple[str, str]] = {  # timeframe -> (relation, time column)
    "M5": ("ohlcv_m5", "ts"),
    "M15": ("ohlcv_m15", "ts"),
    "M30": ("ohlcv_m30", "ts"),
    "H1": ("ohlcv_h1", "ts"),
    "H4": ("ohlcv_h4", "ts"),
    "D1": ("ohlcv_d1", "week"),
}


def retention_variable(timeframe: str) -> str:
    """The environment variable holding a timeframe's retention."""
    return f"{s.RETENTION_PREFIX}{Timeframe.parse(timeframe).value}"


def parse_interval(name: str, value: str | None) -> str | None:
    """`value` as an interval for the server (None: off); the error names the variable."""
    if value is None:
        return None
    value = value.strip().lower()
    if value in _OFF:
        return None
    if not _INTERVAL.fullmatch(value):
        raise ValueError(
            f"{name} must look like '6 months' (a whole number of minutes, hours, days, weeks,"
            f" months or years) or be 'off', got {value[:40]!r}"
        )
    return value


@dataclass(frozen=True)
class PolicySettings:
    """`retention_m1` keeps its historical place; `retention` holds the other timeframes."""

    retention_m1: str | None = "6 months"
    compress_after: str | None = "30 days"
    retention: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for tf, value in self.retention.items():
            if Timeframe.parse(tf).value == "M1":
                raise ValueError("M1's retention is `retention_m1`, not in `retention`")
            parse_interval(retention_variable(tf), value)

    @classmethod
    def from_env(cls) -> PolicySettings:
        def read(name: str, default: str) -> str | None:
            return parse_interval(name, (s.env(name, default) or default))

        others = {
            tf.value: read(retention_variable(tf.value), "off")
            for tf in ALL_TIMEFRAMES
            if tf.value != "M1"
        }
        return cls(
            retention_m1=read(s.RETENTION_M1, "6 months"),
            compress_after=read(s.COMPRESS_AFTER, "30 days"),
            retention={tf: v for tf, v in others.items() if v},
        )

    def retention_for(self, timeframe: str) -> str | None:
        """The timeframe's retention interval, None when its bars are kept."""
        tf = Timeframe.parse(timeframe).value
        return self.retention_m1 if tf == "M1" else self.retention.get(tf)

    def configured(self) -> dict[str, str]:
        """Every timeframe with a retention, in timeframe order."""
        return {
            tf.value: value
            for tf in ALL_TIMEFRAMES
            if (value := self.retention_for(tf.value)) is not None
        }


def _offset(interval: str) -> pd.DateOffset:
    amount, unit = interval.split()
    n = int(amount)
    return pd.DateOffset(**{unit.rstrip("s") + "s": n})


def horizon(policy: PolicySettings, timeframe: str, today: dt.date) -> dt.date | None:
    """The oldest session the database is sure to keep `timeframe`'s bars (and its rollup
    level) for; None: no retention.

    Retention drops whole chunks or partitions that lie wholly before `today - retention`;
    sessions from that day on are always kept, older ones may or may not be. Checks that
    compare the database with S3 judge only the sessions the database is sure to keep: S3
    keeps every session, the database a window.
    """
    interval = policy.retention_for(timeframe)
    if not interval:
        return None
    return (pd.Timestamp(today) - _offset(interval)).date()


def m1_horizon(policy: PolicySettings, today: dt.date) -> dt.date | None:
    """`horizon` of M1 bars (kept for the callers that judge minute bars)."""
    return horizon(policy, "M1", today)


def latest_horizon(policy: PolicySettings, timeframes: list[str], today: dt.date) -> dt.date | None:
    """The newest of the timeframes' horizons: the window in which all of them are kept."""
    found = [h for tf in timeframes if (h := horizon(policy, tf, today)) is not None]
    return max(found) if found else None


def apply_policies(conn: psycopg.Connection, dialect: str, policy: PolicySettings) -> list[str]:
    """Make the server's policies match `policy`; returns what was done, for the operator.

    TimescaleDB: compression on the bars, a retention policy on each continuous aggregate
    whose timeframe has a retention, and the bars' retention as one job (`bar_retention`)
    that drops each configured timeframe's chunks. Plain PostgreSQL keeps no server-side
    policy: the weekly maintenance job (`enforce_retention`) drops partitions."""
    configured = policy.configured()
    if dialect != "timescale":
        lines = [f"{tf} retention {v}" for tf, v in configured.items()] or ["retention off"]
        return [
            *lines,
            "plain PostgreSQL: retention runs in the maintenance job (drops partitions)",
        ]
    done: list[str] = []
    conn.execute("SELECT remove_compression_policy('ohlcv_bars', if_exists => true)")
    if policy.compress_after:
        conn.execute(
            "SELECT add_compression_policy('ohlcv_bars', compress_after => %s::interval)",
            (policy.compress_after,),
        )
        done.append(f"compression after {policy.compress_after}")
    # A hypertable-wide policy (0001..0010) would drop every timeframe's chunks at once.
    conn.execute("SELECT remove_retention_policy('ohlcv_bars', if_exists => true)")
    for tf, (relation, _) in ROLLUP_TABLES.items():
        conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (relation,))
        if tf in configured:
            conn.execute(
                "SELECT add_retention_policy(%s, drop_after => %s::interval)",
                (relation, configured[tf]),
            )
    conn.execute("SELECT set_bar_retention(%s::jsonb)", (_json(configured),))
    for tf, value in configured.items():
        rollup = f" and its rollup {ROLLUP_TABLES[tf][0]}" if tf in ROLLUP_TABLES else ""
        done.append(f"{tf} retention {value}: {tf} bars{rollup}")
    if not configured:
        done.append("retention off for every timeframe")
    return done


def _json(configured: dict[str, str]) -> str:
    import json

    return json.dumps(configured, sort_keys=True)


def enforce_retention(conn: psycopg.Connection, dialect: str, policy: PolicySettings) -> int:
    """Plain PostgreSQL: per configured timeframe, drop its bar partitions wholly older than
    the retention and delete its rollup rows older than it; returns partitions dropped.
    TimescaleDB runs the same in its jobs (see `apply_policies`)."""
    if dialect == "timescale":
        return 0
    dropped = 0
    for tf, interval in policy.configured().items():
        row = conn.execute(
            "SELECT drop_bar_partitions_before(%s, now() - %s::interval)", (tf, interval)
        ).fetchone()
        dropped += int(row[0]) if row else 0
        if tf in ROLLUP_TABLES:
            relation, column = ROLLUP_TABLES[tf]  # a fixed allow-list, not input
            conn.execute(
                psycopg.sql.SQL("DELETE FROM {} WHERE {} < now() - %s::interval").format(
                    psycopg.sql.Identifier(relation), psycopg.sql.Identifier(column)
                ),
                (interval,),
            )
    return dropped
