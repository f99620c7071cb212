"""Compression and retention, configured per deployment rather than fixed in migrations.

Retention trims the database only: S3 keeps every session, and `market-assets rebuild`
restores any range. Minute bars are dropped after `MARKET_ASSETS_RETENTION_M1` (default 6
months; `off` disables it, as the dev stack, tests and benchmarks do); D1 and coarser rollups
are kept. On TimescaleDB the policies are background jobs; on plain PostgreSQL the maintenance
job drops whole monthly partitions.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd
import psycopg

from market_assets.core import settings as s

_INTERVAL = re.compile(r"^\d+ (minutes?|hours?|days?|weeks?|months?|years?)$")


@dataclass(frozen=True)
class PolicySettings:
    retention_m1: str | None = "6 months"
    compress_after: str | None = "30 days"

    @classmethod
    def from_env(cls) -> PolicySettings:
        def parse(name: str, default: str) -> str | None:
            value = (s.env(name, default) or default).strip().lower()
            if value in ("off", "none", "0"):
                return None
            if not _INTERVAL.fullmatch(value):
                raise ValueError(f"{name} must look like '6 months' or be 'off', got {value!r}")
            return value

        return cls(
            retention_m1=parse(s.RETENTION_M1, "6 months"),
            compress_after=parse(s.COMPRESS_AFTER, "30 days"),
        )


def m1_horizon(policy: PolicySettings, today: dt.date) -> dt.date | None:
    """The oldest session the database is sure to keep M1 bars for (None: no retention).

    Retention drops whole chunks (TimescaleDB) or monthly partitions (plain PostgreSQL) that
    lie wholly before `today - retention_m1`; sessions from that day on are always kept, older
    ones may or may not be. Checks that compare the database with S3 judge only the sessions
    the database is sure to keep: S3 keeps every session, the database a window.
    """
    if not policy.retention_m1:
        return None
    amount, unit = policy.retention_m1.split()
    unit = unit.rstrip("s")
    n = int(amount)
    offsets = {
        "minute": pd.DateOffset(minutes=n),
        "hour": pd.DateOffset(hours=n),
        "day": pd.DateOffset(days=n),
        "week": pd.DateOffset(weeks=n),
        "month": pd.DateOffset(months=n),
        "year": pd.DateOffset(years=n),
    }
    return (pd.Timestamp(today) - offsets[unit]).date()


def apply_policies(conn: psycopg.Connection, dialect: str, policy: PolicySettings) -> list[str]:
    """Make the server's policies match `policy`; returns what was done, for the operator."""
    done: list[str] = []
    if dialect != "timescale":
        return ["plain PostgreSQL: retention runs in the maintenance job (drop partitions)"]
    conn.execute("SELECT remove_compression_policy('ohlcv_bars', if_exists => true)")
    if policy.compress_after:
        conn.execute(
            "SELECT add_compression_policy('ohlcv_bars', compress_after => %s::interval)",
            (policy.compress_after,),
        )
        done.append(f"compression after {policy.compress_after}")
    conn.execute("SELECT remove_retention_policy('ohlcv_bars', if_exists => true)")
    if policy.retention_m1:
        conn.execute(
            "SELECT add_retention_policy('ohlcv_bars', drop_after => %s::interval)",
            (policy.retention_m1,),
        )
        done.append(f"M1 retention {policy.retention_m1}")
    return done


def enforce_retention(conn: psycopg.Connection, dialect: str, policy: PolicySettings) -> int:
    """Plain PostgreSQL: drop monthly partitions wholly older than the M1 retention."""
    if dialect == "timescale" or not policy.retention_m1:
        return 0
    row = conn.execute(
        "SELECT drop_bar_partitions_before(now() - %s::interval)", (policy.retention_m1,)
    ).fetchone()
    return int(row[0]) if row else 0
