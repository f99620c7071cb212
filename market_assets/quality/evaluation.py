"""Data-quality checks over a set of partitions, shared by Dagster and `market-assets check`.

Each check reads what it needs once per batch (one dataset scan of S3, one query), so a
backfill of thousands of partitions is checked in a few calls, and returns a CheckOutcome with
its figures, the first failing rows and which partitions failed. Dagster records one result
per check and run (see market_assets.defs.ohlcv.checks for why), so the per-partition truth lives in
data_quality_metrics: one row per check and partition, passed or not, with that partition's
figures, written in one statement per batch.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from psycopg.types.json import Jsonb

from market_assets.core import names
from market_assets.core.bars import frame_checksum, from_arrow, normalize_bars
from market_assets.core.calendars import expected_bar_labels
from market_assets.core.contracts import contract_failures
from market_assets.core.families import DateGrain
from market_assets.core.partition_keys import BarPartition, dates_by_symbol
from market_assets.core.partition_window import window_arrays
from market_assets.core.storage_layout import object_key_for
from market_assets.core.universe import Instrument, default_universe
from market_assets.db.policies import PolicySettings, latest_horizon
from market_assets.ohlcv.raw_objects import existing_keys
from market_assets.ohlcv.snapshots import decode
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
    # Partitions this evaluation covers (empty: not partition-resolved, e.g. per symbol).
    checked: list[BarPartition] = field(default_factory=list)
    # Failing partition -> its figures; figures of any partition (expected vs actual).
    failing: dict[BarPartition, dict[str, Any]] = field(default_factory=dict)
    per_partition: dict[BarPartition, dict[str, Any]] = field(default_factory=dict)
    # Also write one batch row to data_quality_metrics (besides the per-partition rows).
    summary: bool = False

    def describe(self) -> str:
        return "; ".join(self.failures[:FAILURES_SHOWN]) or "ok"

    def failing_keys(self) -> list[str]:
        return [str(p.key) for p in sorted(self.failing)]


def _parts_of_rows(frame: pd.DataFrame, rows: Iterable[Any]) -> Counter[BarPartition]:
    """How many of the given frame rows (positions) fall in each partition."""
    positions = np.fromiter((int(r) for r in rows), dtype=np.int64)
    if not len(positions):
        return Counter()
    sub = frame.iloc[positions]
    pairs = zip(sub["symbol"].astype(str), sub["session_date"], strict=True)
    return Counter(BarPartition(d, s) for s, d in pairs)


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
    instruments = universe.known(p.symbol for p in parts)
    keys: dict[BarPartition, str] = {}
    periods = False
    for p in parts:
        if p.symbol in instruments:
            inst = instruments[p.symbol]
            tf = str(inst.base_timeframe)
            keys[p] = object_key_for(inst.family, tf, p.session_date, p.symbol)
            periods = periods or inst.family.grain is not DateGrain.DAY
    present = existing_keys(s3, set(keys.values()))
    bars = from_arrow(s3.read_many(present)) if present else pd.DataFrame()
    if periods and not bars.empty:  # a period object holds other sessions than the batch's
        wanted = {(p.symbol, p.session_date) for p in keys}
        pairs = zip(bars["symbol"].astype(str), bars["session_date"], strict=True)
        bars = bars[[pair in wanted for pair in pairs]].reset_index(drop=True)
    missing = [p for p, k in keys.items() if k not in set(present)]
    return BatchData(parts, instruments, bars, missing)


def _by_partition(frame: pd.DataFrame) -> dict[tuple[str, dt.date], pd.DataFrame]:
    if frame.empty:
        return {}
    return {(str(s), d): g for (s, d), g in frame.groupby(["symbol", "session_date"], sort=True)}


# -- raw bars in S3 -------------------------------------------------------------------------
def check_contract(batch: BatchData) -> CheckOutcome:
    if batch.s3_bars.empty:
        return CheckOutcome(
            names.RAW_BARS, names.SCHEMA_CONTRACT, True, {"rows_checked": 0}, checked=batch.parts
        )
    bad, lines, rows = contract_failures(batch.s3_bars)
    by_part = _parts_of_rows(batch.s3_bars, rows)
    failing: dict[BarPartition, dict[str, Any]] = {p: {"failures": n} for p, n in by_part.items()}
    if bad and not failing:  # a frame-wide failure (a column missing or of the wrong type)
        failing = {p: {"failures": "frame"} for p in batch.parts}
    return CheckOutcome(
        names.RAW_BARS,
        names.SCHEMA_CONTRACT,
        bad == 0,
        {"rows_checked": len(batch.s3_bars), "failures": bad},
        lines,
        checked=batch.parts,
        failing=failing,
    )


def check_ohlc_sanity(batch: BatchData) -> CheckOutcome:
    f = batch.s3_bars
    if f.empty:
        return CheckOutcome(
            names.RAW_BARS, names.OHLC_SANITY, True, {"rows_checked": 0}, checked=batch.parts
        )
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
    by_part = _parts_of_rows(f, np.flatnonzero(bad))
    return CheckOutcome(
        names.RAW_BARS,
        names.OHLC_SANITY,
        not bad.any(),
        {"rows_checked": len(f), "failures": int(bad.sum())},
        lines,
        checked=batch.parts,
        failing={p: {"failures": n} for p, n in by_part.items()},
    )


def check_unique(batch: BatchData) -> CheckOutcome:
    f = batch.s3_bars
    dup = f.duplicated(["symbol", "timeframe", "ts"], keep=False) if not f.empty else pd.Series()
    lines = [
        f"{r.symbol} {r.timeframe} {r.ts}" for r in f.loc[dup].head(FAILURES_SHOWN).itertuples()
    ]
    by_part = _parts_of_rows(f, np.flatnonzero(dup.to_numpy())) if not f.empty else Counter()
    return CheckOutcome(
        names.RAW_BARS,
        names.UNIQUE_SYMBOL_TIMEFRAME_TS,
        not dup.any(),
        {"rows_checked": len(f), "duplicates": int(dup.sum())},
        lines,
        checked=batch.parts,
        failing={p: {"duplicates": n} for p, n in by_part.items()},
    )


def _source_of(got: pd.DataFrame | None, inst: Instrument) -> str:
    """The source that delivered a partition (its bars say), else the configured one."""
    if got is not None and len(got):
        return str(got["source"].iloc[0])
    return inst.source


def tolerated_share(inst: Instrument, source: str) -> float:
    """The share of a session's bars its source may miss (universe.yaml,
    quality.row_count_tolerance). It exists because vendors skip minutes without trades, so it
    applies to bases shorter than an hour (a thin stock's 5 minutes may hold no trade too); an
    hour or more without a bar is a gap, whatever the source."""
    minutes = inst.base_timeframe.minutes
    if minutes is None or minutes >= 60:
        return 0.0
    return default_universe().quality.tolerance(source)


def check_continuity(batch: BatchData) -> CheckOutcome:
    """Bars of each symbol's base against the calendar: none missing in a session, none
    outside it. The expected bars are the base's labels of the session (core/calendars.py:
    every minute for M1, the buckets of its minutes for M5..H4, one bar for D1, one for the
    first session of a week or month for W1/MN1), so hourly FX raises no alarm over a weekend
    and does for a missing mid-week hour; see `tolerated_share` for what a source may miss.
    """
    grouped = _by_partition(batch.s3_bars)
    missing_total = extra_total = expected_total = 0
    lines: list[str] = []
    failing: dict[BarPartition, dict[str, Any]] = {}
    for part in batch.parts:
        inst = batch.instruments.get(part.symbol)
        if inst is None:
            continue
        expected = expected_bar_labels(inst.calendar, inst.base_timeframe, part.session_date)
        got = grouped.get((part.symbol, part.session_date))
        have = pd.DatetimeIndex(got["ts"]) if got is not None else pd.DatetimeIndex([], tz="UTC")
        missing = len(expected.difference(have))
        extra = len(have.difference(expected))
        expected_total += len(expected)
        missing_total += missing
        extra_total += extra
        if extra or missing > tolerated_share(inst, _source_of(got, inst)) * len(expected):
            lines.append(f"{part.symbol} {part.session_date}: {missing} missing, {extra} outside")
            failing[part] = {"missing": missing, "outside": extra}
    passed = not lines
    return CheckOutcome(
        names.RAW_BARS,
        names.SESSION_CONTINUITY,
        passed,
        {
            "partitions_checked": len(batch.parts),
            "expected_bars": expected_total,
            "missing_bars": missing_total,
            "bars_outside_sessions": extra_total,
        },
        lines,
        checked=batch.parts,
        failing=failing,
    )


def expected_bar_count(inst: Instrument, session_date: dt.date) -> int:
    """Bars of the symbol's base the calendar expects in the session (see check_continuity)."""
    return len(expected_bar_labels(inst.calendar, inst.base_timeframe, session_date))


def check_row_counts(batch: BatchData) -> CheckOutcome:
    """Per partition: stored rows against the calendar's expected count, within the source's
    tolerance (fewer allowed by its share, more never). Reports expected vs actual for every
    partition, so a slow drift of a vendor shows in data_quality_metrics before it fails."""
    counts = (
        batch.s3_bars.groupby(["symbol", "session_date"], sort=False).size().to_dict()
        if not batch.s3_bars.empty
        else {}
    )
    sources = (
        batch.s3_bars.drop_duplicates(["symbol", "session_date"])
        .set_index(["symbol", "session_date"])["source"]
        .to_dict()
        if not batch.s3_bars.empty
        else {}
    )
    per_partition: dict[BarPartition, dict[str, Any]] = {}
    failing: dict[BarPartition, dict[str, Any]] = {}
    lines: list[str] = []
    for part in batch.parts:
        inst = batch.instruments.get(part.symbol)
        if inst is None:
            continue
        key = (part.symbol, part.session_date)
        source = str(sources.get(key, inst.source))
        tolerance = tolerated_share(inst, source)
        expected = expected_bar_count(inst, part.session_date)
        actual = int(counts.get(key, 0))
        minimum = expected - int(expected * tolerance)
        figures = {"expected": expected, "actual": actual, "source": source, "minimum": minimum}
        per_partition[part] = figures
        if not minimum <= actual <= expected:
            failing[part] = figures
            lines.append(
                f"{part.symbol} {part.session_date}: {actual} rows, expected {expected}"
                f" ({source} may miss {tolerance:.0%}: at least {minimum})"
            )
    return CheckOutcome(
        names.RAW_BARS,
        names.ROW_COUNT,
        not failing,
        {
            "partitions_checked": len(per_partition),
            "expected_rows": sum(f["expected"] for f in per_partition.values()),
            "actual_rows": sum(f["actual"] for f in per_partition.values()),
            "partitions_failed": len(failing),
        },
        lines,
        checked=sorted(per_partition),
        failing=failing,
        per_partition=per_partition,
    )


# -- database --------------------------------------------------------------------------------
def in_database_window(
    parts: Iterable[BarPartition],
    today: dt.date | None = None,
    also: Iterable[str] = (),
) -> tuple[list[BarPartition], list[BarPartition]]:
    """(partitions the database keeps the bars for, older ones) under the configured retention
    of each partition's base timeframe (`MARKET_ASSETS_RETENTION_<base>`), and of the `also`
    timeframes a check compares them with (a rollup level): the database only trims, so checks
    comparing it with S3 judge the window it keeps. A D1-base symbol's old sessions stay judged
    while minute bars age out."""
    parts = list(parts)
    policy = PolicySettings.from_env()
    today = today or dt.datetime.now(dt.UTC).date()
    extra = list(also)
    known = default_universe().known(p.symbol for p in parts)
    horizons: dict[str, dt.date | None] = {}
    kept, older = [], []
    for part in parts:
        entry = known.get(part.symbol)
        base = str(entry.base_timeframe) if entry is not None else "M1"
        if base not in horizons:
            horizons[base] = latest_horizon(policy, [base, *extra], today)
        horizon = horizons[base]
        (older if horizon is not None and part.session_date < horizon else kept).append(part)
    return kept, older


def _partition_params(parts: list[BarPartition]) -> dict[str, list[Any]]:
    return {
        "symbols": [p.symbol for p in parts],
        "dates": [p.session_date for p in parts],
        **window_arrays((p.symbol, p.session_date) for p in parts),
    }


def _db_bars(
    postgres: PostgresResource, parts: list[BarPartition]
) -> tuple[pd.DataFrame, dict[tuple[str, dt.date], str | None]]:
    """The partitions' rows and the checksum each was last loaded from, in one snapshot (a
    load commits its rows and its log entry together)."""
    params = _partition_params(parts)
    with postgres.connection() as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur = conn.execute(query("checks/partition_bars"), params)
        frame = pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description or []])
        by_key = {str(p.key): (p.symbol, p.session_date) for p in parts}
        loads = conn.execute(
            query("checks/last_loaded_checksums"), {"keys": list(by_key)}
        ).fetchall()
        conn.rollback()
    loaded = {by_key[key]: checksum for key, checksum in loads}
    return (normalize_bars(frame) if not frame.empty else frame), loaded


def _content(frame: pd.DataFrame | None) -> str:
    return "" if frame is None or frame.empty else frame_checksum(frame)


def check_s3_db_reconciliation(batch: BatchData, postgres: PostgresResource) -> CheckOutcome:
    """Per partition: the same rows in S3 and the database (count and value checksum), for
    the partitions inside the database's retention window.

    A partition whose database rows are exactly what its last load loaded, while S3 now holds
    another object, is *pending*: S3 is ahead of the database (another run wrote a newer object
    and has not loaded it yet, or the object was changed outside the pipeline). That fails
    with WARN severity, which does not block the run's rollups. Anything else that differs
    fails with ERROR: the database changed or lost rows since its load, or a load left other
    rows than it read.
    """
    kept, older = in_database_window(batch.parts)
    db_frame, loaded = _db_bars(postgres, kept)
    db = _by_partition(db_frame)
    s3 = _by_partition(batch.s3_bars)
    if older:
        skipped = {(p.symbol, p.session_date) for p in older}
        s3 = {k: v for k, v in s3.items() if k not in skipped}
    lines: list[str] = []
    pending: list[str] = []
    failing: dict[BarPartition, dict[str, Any]] = {}
    for key in sorted(set(db) | set(s3)):
        a, b = s3.get(key), db.get(key)
        db_sum = _content(b)
        if _content(a) == db_sum:  # the checksum covers the row count too
            continue
        if loaded.get(key) == db_sum:
            pending.append(f"{key[0]} {key[1]}: S3 object not loaded yet")
            failing[BarPartition(key[1], key[0])] = {"pending_load": True}
            continue
        failing[BarPartition(key[1], key[0])] = {
            "s3_rows": 0 if a is None else len(a),
            "db_rows": 0 if b is None else len(b),
        }
        lines.append(
            f"{key[0]} {key[1]}: s3 {0 if a is None else len(a)} rows,"
            f" db {0 if b is None else len(b)} rows"
            + ("" if a is None or b is None or len(a) != len(b) else ", values differ")
        )
    figures: dict[str, Any] = {
        "partitions_checked": len(set(db) | set(s3)),
        "mismatches": len(lines),
        "pending_load": len(pending),
        "outside_db_retention": len(older),
    }
    return CheckOutcome(
        names.DB_BARS,
        names.S3_DB_RECONCILIATION,
        not lines and not pending,
        figures,
        lines + pending,
        severity="WARN" if pending and not lines else "ERROR",
        checked=kept,
        failing=failing,
    )


def m1_base_parts(parts: Iterable[BarPartition]) -> list[BarPartition]:
    """The partitions of M1-base symbols: the rollup reconciliations compare rollups with M1
    bars, and other bases have none (their rollups start from their own bars)."""
    parts = list(parts)
    known = default_universe().known(p.symbol for p in parts)
    return [p for p in parts if p.symbol in known and known[p.symbol].base_timeframe == "M1"]


def check_d1_rollup(parts: list[BarPartition], postgres: PostgresResource) -> CheckOutcome:
    """Needs only the database: no S3 read. Sessions older than the M1 retention are not
    judged (their D1 bars stay, their M1 bars may be gone); nor are symbols of other bases."""
    parts, older = in_database_window(m1_base_parts(parts), also=["D1"])
    params = _partition_params(parts)
    with postgres.connection() as conn:
        rows = conn.execute(query("checks/d1_vs_m1"), params).fetchall()
        conn.rollback()
    lines = [
        f"{s} {d}: {'missing D1 bar' if missing else 'D1 differs from its M1 bars'}"
        for s, d, missing, _ in rows
    ]
    return CheckOutcome(
        names.BAR_ROLLUPS,
        names.D1_EQUALS_M1_AGGREGATE,
        not rows,
        {
            "partitions_checked": len(parts),
            "mismatches": len(rows),
            "outside_db_retention": len(older),
        },
        lines,
        checked=sorted(set(parts)),
        failing={
            BarPartition(d, s): {"d1": "missing" if missing else "differs"}
            for s, d, missing, _ in rows
        },
    )


def check_h1_rollup(parts: list[BarPartition], postgres: PostgresResource) -> CheckOutcome:
    """Each H1 bar of the partitions equals the flat aggregate of its M1 bars; an hour missing
    from H1, or an H1 bar without M1 bars, counts too. Both dialects: ohlcv_h1 is a continuous
    aggregate or a rollup table with the same columns. Sessions older than the M1 retention
    are not judged, nor symbols of other bases."""
    parts, older = in_database_window(m1_base_parts(parts), also=["H1"])
    params = _partition_params(parts)
    with postgres.connection() as conn:
        rows = conn.execute(query("checks/h1_vs_m1"), params).fetchall()
        conn.rollback()
    failing: dict[BarPartition, dict[str, Any]] = {}
    for symbol, day, _ts, kind in rows:
        figures = failing.setdefault(BarPartition(day, symbol), {})
        figures[kind] = figures.get(kind, 0) + 1
    lines = [
        f"{p.symbol} {p.session_date}: H1 hours "
        + ", ".join(f"{n} {kind}" for kind, n in sorted(f.items()))
        for p, f in sorted(failing.items())
    ]
    return CheckOutcome(
        names.BAR_ROLLUPS,
        names.H1_EQUALS_M1_AGGREGATE,
        not rows,
        {
            "partitions_checked": len(set(parts)),
            "hours_mismatched": len(rows),
            "outside_db_retention": len(older),
        },
        lines,
        checked=sorted(set(parts)),
        failing=failing,
    )


def check_snapshot_reconciliation(
    symbols: Iterable[str], postgres: PostgresResource, redis: RedisResource
) -> CheckOutcome:
    """The Redis snapshot of each symbol's base timeframe equals the database's latest
    window of the base's own bars."""
    from market_assets.ohlcv.bar_reads import base_of, read_bars

    lines: list[str] = []
    checked = 0
    for symbol in sorted(set(symbols)):
        base = base_of(symbol)
        payload = redis.get_snapshot(snapshot_key(symbol, str(base), redis.key_prefix))
        if payload is None:
            lines.append(f"{symbol}: no snapshot (stale or expired; rebuilt by bar_snapshots)")
            continue
        snap = decode(payload)
        with postgres.connection() as conn:
            db = read_bars(conn, symbol, base, last_n=len(snap), base=base)
            conn.rollback()
        checked += 1
        if not snap.equals(db):
            lines.append(f"{symbol}: snapshot ({len(snap)} bars) differs from the database")
    return CheckOutcome(
        names.BAR_SNAPSHOTS,
        names.SNAPSHOT_MATCHES_DATABASE,
        not lines,
        {"symbols_checked": checked, "mismatches": len(lines)},
        lines,
        severity="WARN",
    )


def metric_rows(
    outcomes: Iterable[CheckOutcome], run_id: str | None, parts: list[BarPartition]
) -> list[dict[str, Any]]:
    """One row per check and partition it resolved (passed or not, with that partition's
    figures); one batch row for checks that are not per partition or that ask for a summary."""
    scope = _scope(parts)
    rows: list[dict[str, Any]] = []
    for o in outcomes:
        base = {"run_id": run_id, "asset": o.asset, "check_name": o.name, "severity": o.severity}
        # Failing partitions outside the batch too (bars filed under another session).
        for part in sorted(set(o.checked) | set(o.failing)) if o.checked else []:
            figures = {**o.per_partition.get(part, {}), **o.failing.get(part, {})}
            rows.append(
                {
                    **base,
                    "partition_key": str(part.key),
                    "passed": part not in o.failing,
                    "figures": figures,
                }
            )
        if not o.checked or o.summary:
            figures = {**o.figures, "failures": o.failures[:FAILURES_SHOWN]}
            if o.failing:
                figures["failing_partitions"] = o.failing_keys()[:100]
            rows.append({**base, "partition_key": scope, "passed": o.passed, "figures": figures})
    return rows


def record_metrics(
    postgres: PostgresResource,
    outcomes: Iterable[CheckOutcome],
    run_id: str | None,
    parts: list[BarPartition],
) -> int:
    """Write the evaluations to data_quality_metrics in one statement; returns the row count."""
    rows = metric_rows(outcomes, run_id, parts)
    if not rows:
        return 0
    columns = ("run_id", "asset", "partition_key", "check_name", "passed", "severity")
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in columns}
    params["figures"] = [Jsonb(r["figures"]) for r in rows]
    with postgres.transaction() as conn:
        conn.execute(query("checks/insert_metrics"), params)
    return len(rows)


def _scope(parts: list[BarPartition]) -> str | None:
    """One partition key, a compact range description for a batch, or None (no partitions)."""
    if not parts:
        return None
    if len(parts) == 1:
        return str(parts[0].key)
    by_symbol = dates_by_symbol(parts)
    days = sorted({p.session_date for p in parts})
    return f"{days[0]}..{days[-1]}|{','.join(by_symbol)}"[:500]


# -- great-expectations suite ----------------------------------------------------------------
def check_expectation_suite(
    batch: BatchData, s3: S3Resource, run_id: str | None, now: dt.datetime | None = None
) -> CheckOutcome:
    """The GE suite over the whole batch in one validation; its result JSON goes to S3 and a
    summary row (with the object's key) to data_quality_metrics, beside per-partition rows."""
    from market_assets.quality.expectations import result_key, store_result, validate_bars

    parts = batch.parts
    if batch.s3_bars.empty:
        return CheckOutcome(
            names.RAW_BARS, names.EXPECTATION_SUITE, True, {"rows_checked": 0}, checked=parts
        )
    result = validate_bars(batch.s3_bars, parts)
    key = result_key(parts, run_id, now or dt.datetime.now(dt.UTC))
    size = store_result(s3, key, result.document)
    return CheckOutcome(
        names.RAW_BARS,
        names.EXPECTATION_SUITE,
        result.success,
        {
            "rows_checked": len(batch.s3_bars),
            "expectations": result.evaluated,
            "expectations_failed": len(result.failed_expectations),
            "partitions_failed": len(result.failing),
            "result_key": key,
            "result_bytes": size,
        },
        result.lines,
        checked=parts,
        failing={p: {"expectations": f} for p, f in result.failing.items()},
        summary=True,
    )
