"""Data-quality checks over a set of partitions, shared by Dagster and `market-assets check`.

Each check reads what it needs once per batch (one dataset scan of S3, one query), so a
backfill of thousands of partitions is checked in a few calls, and returns a CheckOutcome with
its figures and the first failing partitions or rows. Every evaluation is also written to
data_quality_metrics so that quality can be queried over time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from psycopg.types.json import Jsonb

from market_assets.bars import frame_checksum, from_arrow, normalize_bars
from market_assets.calendars import expected_minute_bars
from market_assets.contracts import contract_failures
from market_assets.partitions import BarPartition, dates_by_symbol
from market_assets.snapshots import decode
from market_assets.storage_layout import existing_keys, raw_object_key
from market_assets.timeframes import Timeframe
from market_assets.universe import Instrument, UnknownSymbolError, default_universe
from resources.cache_keys import snapshot_key
from resources.postgres import PostgresResource
from resources.queries import query
from resources.redis import RedisResource
from resources.s3 import S3Resource

FAILURES_SHOWN = 10


@dataclass
class CheckOutcome:
    asset: str
    name: str
    passed: bool
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    severity: str = "ERROR"

    def describe(self) -> str:
        return "; ".join(self.failures[:FAILURES_SHOWN]) or "ok"


@dataclass
class BatchData:
    """What the checks of one batch share: instruments and the S3 bars, read once."""

    parts: list[BarPartition]
    instruments: dict[str, Instrument]
    s3_bars: pd.DataFrame
    missing_objects: list[BarPartition]


def load_batch(s3: S3Resource, parts: Iterable[BarPartition]) -> BatchData:
    parts = sorted(set(parts))
    universe = default_universe()
    instruments: dict[str, Instrument] = {}
    for symbol in {p.symbol for p in parts}:
        try:
            instruments[symbol] = universe.resolve(symbol)
        except UnknownSymbolError:
            continue
    keys = {
        raw_object_key(str(instruments[p.symbol].base_timeframe), p.session_date, p.symbol): p
        for p in parts
        if p.symbol in instruments
    }
    present = existing_keys(s3, set(keys))
    bars = from_arrow(s3.read_many(present)) if present else pd.DataFrame()
    missing = [p for k, p in keys.items() if k not in set(present)]
    return BatchData(parts, instruments, bars, missing)


def _by_partition(frame: pd.DataFrame) -> dict[tuple[str, dt.date], pd.DataFrame]:
    if frame.empty:
        return {}
    return {(str(s), d): g for (s, d), g in frame.groupby(["symbol", "session_date"], sort=True)}


# -- raw bars in S3 -------------------------------------------------------------------------
def check_contract(batch: BatchData) -> CheckOutcome:
    if batch.s3_bars.empty:
        return CheckOutcome("raw_bars", "schema_contract", True, {"rows_checked": 0})
    bad, lines = contract_failures(batch.s3_bars)
    return CheckOutcome(
        "raw_bars",
        "schema_contract",
        bad == 0,
        {"rows_checked": len(batch.s3_bars), "failures": bad},
        lines,
    )


def check_ohlc_sanity(batch: BatchData) -> CheckOutcome:
    f = batch.s3_bars
    if f.empty:
        return CheckOutcome("raw_bars", "ohlc_sanity", True, {"rows_checked": 0})
    prices = f[["open", "high", "low", "close"]].to_numpy("float64")
    bad = (
        ~np.isfinite(prices).all(axis=1)
        | (prices <= 0).any(axis=1)
        | (f["low"].to_numpy() > np.minimum(f["open"], f["close"]).to_numpy())
        | (f["high"].to_numpy() < np.maximum(f["open"], f["close"]).to_numpy())
        | ~(f["volume"].to_numpy("float64") >= 0)
    )
    rows = f.loc[bad]
    lines = [
        f"{r.symbol} {r.ts}: o={r.open} h={r.high} l={r.low} c={r.close} v={r.volume}"
        for r in rows.head(FAILURES_SHOWN).itertuples()
    ]
    return CheckOutcome(
        "raw_bars",
        "ohlc_sanity",
        not bad.any(),
        {"rows_checked": len(f), "failures": int(bad.sum())},
        lines,
    )


def check_unique(batch: BatchData) -> CheckOutcome:
    f = batch.s3_bars
    dup = f.duplicated(["symbol", "timeframe", "ts"], keep=False) if not f.empty else pd.Series()
    lines = [
        f"{r.symbol} {r.timeframe} {r.ts}" for r in f.loc[dup].head(FAILURES_SHOWN).itertuples()
    ]
    return CheckOutcome(
        "raw_bars",
        "unique_symbol_timeframe_ts",
        not dup.any(),
        {"rows_checked": len(f), "duplicates": int(dup.sum())},
        lines,
    )


def check_continuity(batch: BatchData, tolerance: float = 0.0) -> CheckOutcome:
    """M1 bars against the calendar: none missing in a session, none outside it.

    `tolerance` is the share of a session's bars a source may miss (vendors skip minutes
    without trades); the generator delivers every minute, so its tolerance is 0.
    """
    grouped = _by_partition(batch.s3_bars)
    missing_total = extra_total = expected_total = 0
    lines: list[str] = []
    for part in batch.parts:
        inst = batch.instruments.get(part.symbol)
        if inst is None or str(inst.base_timeframe) != "M1":
            continue
        expected = expected_minute_bars(inst.calendar, part.session_date)
        got = grouped.get((part.symbol, part.session_date))
        have = pd.DatetimeIndex(got["ts"]) if got is not None else pd.DatetimeIndex([], tz="UTC")
        missing = len(expected.difference(have))
        extra = len(have.difference(expected))
        expected_total += len(expected)
        missing_total += missing
        extra_total += extra
        if extra or missing > tolerance * len(expected):
            lines.append(f"{part.symbol} {part.session_date}: {missing} missing, {extra} outside")
    passed = not lines
    return CheckOutcome(
        "raw_bars",
        "session_continuity",
        passed,
        {
            "partitions_checked": len(batch.parts),
            "expected_bars": expected_total,
            "missing_bars": missing_total,
            "bars_outside_sessions": extra_total,
        },
        lines,
    )


# -- database --------------------------------------------------------------------------------
def _db_bars(postgres: PostgresResource, parts: list[BarPartition]) -> pd.DataFrame:
    params = {"symbols": [p.symbol for p in parts], "dates": [p.session_date for p in parts]}
    with postgres.connection() as conn:
        cur = conn.execute(query("checks/partition_bars"), params)
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or []])
        conn.rollback()
    return normalize_bars(frame) if not frame.empty else frame


def check_s3_db_reconciliation(batch: BatchData, postgres: PostgresResource) -> CheckOutcome:
    """Per partition: the same rows in S3 and the database (count and value checksum)."""
    db = _by_partition(_db_bars(postgres, batch.parts))
    s3 = _by_partition(batch.s3_bars)
    lines: list[str] = []
    for key in sorted(set(db) | set(s3)):
        a, b = s3.get(key), db.get(key)
        if a is None or b is None or len(a) != len(b) or frame_checksum(a) != frame_checksum(b):
            lines.append(
                f"{key[0]} {key[1]}: s3 {0 if a is None else len(a)} rows,"
                f" db {0 if b is None else len(b)} rows"
                + ("" if a is None or b is None or len(a) != len(b) else ", values differ")
            )
    return CheckOutcome(
        "db_bars",
        "s3_db_reconciliation",
        not lines,
        {"partitions_checked": len(set(db) | set(s3)), "mismatches": len(lines)},
        lines,
    )


def check_d1_rollup(parts: list[BarPartition], postgres: PostgresResource) -> CheckOutcome:
    """Needs only the database: no S3 read."""
    params = {"symbols": [p.symbol for p in parts], "dates": [p.session_date for p in parts]}
    with postgres.connection() as conn:
        rows = conn.execute(query("checks/d1_vs_m1"), params).fetchall()
        conn.rollback()
    lines = [
        f"{s} {d}: {'missing D1 bar' if missing else 'D1 differs from its M1 bars'}"
        for s, d, missing, _ in rows
    ]
    return CheckOutcome(
        "bar_rollups",
        "d1_equals_m1_aggregate",
        not rows,
        {"partitions_checked": len(parts), "mismatches": len(rows)},
        lines,
    )


def check_snapshot_reconciliation(
    symbols: Iterable[str], postgres: PostgresResource, redis: RedisResource
) -> CheckOutcome:
    """The Redis M1 snapshot equals the database's latest window for each symbol."""
    from market_assets.bar_reads import read_bars

    lines: list[str] = []
    checked = 0
    for symbol in sorted(set(symbols)):
        payload = redis.get_snapshot(snapshot_key(symbol, "M1", redis.key_prefix))
        if payload is None:
            lines.append(f"{symbol}: no snapshot (stale or expired; rebuilt by bar_snapshots)")
            continue
        snap = decode(payload)
        with postgres.connection() as conn:
            db = read_bars(conn, symbol, Timeframe.M1, last_n=len(snap))
            conn.rollback()
        checked += 1
        if not snap.equals(db):
            lines.append(f"{symbol}: snapshot ({len(snap)} bars) differs from the database")
    return CheckOutcome(
        "bar_snapshots",
        "snapshot_matches_database",
        not lines,
        {"symbols_checked": checked, "mismatches": len(lines)},
        lines,
        severity="WARN",
    )


def record_metrics(
    postgres: PostgresResource,
    outcomes: Iterable[CheckOutcome],
    run_id: str | None,
    parts: list[BarPartition],
) -> None:
    scope = _scope(parts)
    with postgres.transaction() as conn, conn.cursor() as cur:
        cur.executemany(
            query("checks/insert_metric"),
            [
                {
                    "run_id": run_id,
                    "asset": o.asset,
                    "partition_key": scope,
                    "check_name": o.name,
                    "passed": o.passed,
                    "severity": o.severity,
                    "figures": Jsonb({**o.figures, "failures": o.failures[:FAILURES_SHOWN]}),
                }
                for o in outcomes
            ],
        )


def _scope(parts: list[BarPartition]) -> str:
    """One partition key, or a compact range description for a batch."""
    if len(parts) == 1:
        return str(parts[0].key)
    by_symbol = dates_by_symbol(parts)
    days = sorted({p.session_date for p in parts})
    return f"{days[0]}..{days[-1]}|{','.join(by_symbol)}"[:500] if days else ""
