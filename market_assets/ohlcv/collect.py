"""Collecting raw bars: fetch each partition from its source, apply the row rules, write one
Parquet object per partition to S3, record outcomes and quarantine.

A batched run fetches all its partitions in one vectorised call per source, then writes one
object per partition. Rows that break a rule go to quarantine with the rule's name; a partition
whose source failed, or that has no valid row on a session day, is held back (its previous
object, if any, stays) while the good partitions of the batch proceed. Nothing here raises for
one bad partition; a retryable source error (an outage) does raise, so Dagster retries the step.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from market_assets.core.bars import table_checksum, to_arrow
from market_assets.core.calendars import is_session
from market_assets.core.families import DateGrain
from market_assets.core.names import RAW_BARS
from market_assets.core.partition_keys import BarPartition
from market_assets.core.row_rules import apply_row_rules_batch
from market_assets.core.storage_layout import object_key_for
from market_assets.core.universe import Instrument, UnknownSymbolError, default_universe
from market_assets.ohlcv.collection_log import (
    CollectionEntry,
    write_collection_log,
    write_quarantine,
)
from market_assets.ohlcv.landing_ledger import record_rejected
from resources.postgres import PostgresResource
from resources.queries import query
from resources.s3 import ObjectInfo, ParquetObject, S3Resource
from resources.sources.base import SourceError
from resources.sources.resource import BarSourcesResource

ASSET = RAW_BARS


#: Period objects rewritten at once (each a GET and a conditional PUT).
PERIOD_WRITERS = 8


@dataclass
class PartitionOutcome:
    partition: BarPartition
    entry: CollectionEntry
    rejected: pd.DataFrame
    object_key: str | None = None
    bytes: int = 0
    checksum: str | None = None
    first_bar: pd.Timestamp | None = None
    last_bar: pd.Timestamp | None = None
    # The rows written (a zero-copy slice of the batch), for the run's preview of its bars.
    table: pa.Table | None = None
    # Why an empty session is not a gap (before the symbol's first data), when it is not.
    skipped: str | None = None

    @property
    def held_back(self) -> bool:
        return self.entry.status == "failed"


def _instruments(parts: list[BarPartition]) -> tuple[dict[str, Instrument], dict[str, str]]:
    universe = default_universe()
    found: dict[str, Instrument] = {}
    unknown: dict[str, str] = {}
    for symbol in sorted({p.symbol for p in parts}):
        try:
            found[symbol] = universe.resolve(symbol)
        except UnknownSymbolError as exc:
            unknown[symbol] = str(exc)
    return found, unknown


@dataclass
class CheckedBatch:
    """A source's answer after the row rules, cut into partitions without copying rows.

    `table` holds the passing rows in BAR_ARROW_SCHEMA, sorted by (symbol, session_date) with
    the source's order kept inside each partition, so a partition is a zero-copy slice; the
    rules, the Arrow conversion and the checks of its schema run once for the whole batch.
    """

    table: pa.Table
    slices: dict[tuple[str, dt.date], tuple[int, int]]
    rows_in: Counter[tuple[str, dt.date]]
    rejected: dict[tuple[str, dt.date], pd.DataFrame]


def check_batch(frame: pd.DataFrame, instruments: dict[str, Instrument]) -> CheckedBatch:
    # Rows whose (symbol, session_date) is missing name no partition; a source never sends
    # them (its own labelling gives every row both), so they cannot be attributed here.
    checked = apply_row_rules_batch(frame, instruments)
    passed = checked.passed.sort_values(["symbol", "session_date"], kind="stable")
    table = to_arrow(passed.reset_index(drop=True))
    slices: dict[tuple[str, dt.date], tuple[int, int]] = {}
    rows_in: Counter[tuple[str, dt.date]] = Counter()
    for (symbol, day), positions in passed.groupby(
        ["symbol", "session_date"], sort=False
    ).indices.items():
        key = (str(symbol), day)
        slices[key] = (int(positions[0]), len(positions))
        rows_in[key] += len(positions)
    rejected: dict[tuple[str, dt.date], pd.DataFrame] = {}
    for (symbol, day), rows in checked.rejected.groupby(["symbol", "session_date"], sort=False):
        key = (str(symbol), day)
        rejected[key] = rows.reset_index(drop=True)
        rows_in[key] += len(rows)
    return CheckedBatch(table, slices, rows_in, rejected)


def first_sessions(
    batches: dict[str, CheckedBatch], stored: dict[str, dt.date]
) -> dict[str, dt.date]:
    """Each symbol's first data: its earliest session with bars in this run's answer or ever
    stored (`stored`, from data_collection_log)."""
    first = dict(stored)
    for batch in {id(b): b for b in batches.values()}.values():
        for symbol, day in batch.rows_in:
            if symbol in batches and (symbol not in first or day < first[symbol]):
                first[symbol] = day
    return first


def collect_partitions(
    parts: list[BarPartition],
    sources: BarSourcesResource,
    s3: S3Resource,
    run_id: str | None,
    stored_first: dict[str, dt.date] | None = None,
) -> list[PartitionOutcome]:
    """Fetch, check and write every partition; never raises for one bad partition.

    A session the source answers empty is a gap (held back) unless it lies before the
    symbol's first data (`first_sessions`): then it is skipped, with the reason, since a
    vendor's history starts somewhere (J-Quants daily quotes in 2008) and a backfill from
    2000 must not fail on the years before it. A symbol with no bars anywhere yet keeps the
    old rule, as nothing tells a late start from a wrong vendor spelling."""
    instruments, unknown = _instruments(parts)
    by_source: dict[str, list[BarPartition]] = defaultdict(list)
    for part in parts:
        if part.symbol in instruments:
            by_source[sources.source_name(instruments[part.symbol])].append(part)

    batches: dict[str, CheckedBatch] = {}
    source_errors: dict[str, str] = {}
    for group in by_source.values():
        source = sources.source_for(instruments[group[0].symbol])
        symbols = sorted({p.symbol for p in group})
        dates = sorted({p.session_date for p in group})
        try:
            frame = source.fetch_many([instruments[s] for s in symbols], dates)
        except SourceError as exc:
            if exc.retryable:
                raise
            for s in symbols:
                source_errors[s] = str(exc)
            continue
        batch = check_batch(frame, instruments)
        for s in symbols:
            batches[s] = batch

    first_data = first_sessions(batches, stored_first or {})
    outcomes: list[PartitionOutcome] = []
    uploads: list[tuple[PartitionOutcome, ParquetObject]] = []
    periods: dict[str, list[tuple[PartitionOutcome, pa.Table]]] = defaultdict(list)
    for part in parts:
        inst = instruments.get(part.symbol)
        entry = CollectionEntry(
            asset=ASSET,
            partition_key=str(part.key),
            symbol=part.symbol,
            session_date=part.session_date,
            source=sources.source_name(inst) if inst else "unknown",
            run_id=run_id,
        )
        empty = pd.DataFrame()
        if inst is None or part.symbol in source_errors:
            entry.status, entry.error = (
                "failed",
                unknown.get(part.symbol) or source_errors[part.symbol],
            )
            outcomes.append(PartitionOutcome(part, entry, empty))
            continue
        batch = batches[part.symbol]
        key = (part.symbol, part.session_date)
        if not batch.rows_in[key]:
            outcome = PartitionOutcome(part, entry, empty)
            first = first_data.get(part.symbol)
            if not is_session(inst.calendar, part.session_date):
                entry.status = "success"  # no session that day: nothing to store
            elif first is not None and part.session_date < first:
                entry.status = "success"
                outcome.skipped = f"before {part.symbol}'s first data on {first}"
            else:
                entry.status, entry.error = "failed", "source returned no bars for a session"
            outcomes.append(outcome)
            continue
        rejected = batch.rejected.get(key, empty)
        entry.rows_in = batch.rows_in[key]
        entry.rows_quarantined = len(rejected)
        outcome = PartitionOutcome(part, entry, rejected)
        if key not in batch.slices:
            entry.status, entry.error = "failed", "every row broke a rule (see quarantine)"
            outcomes.append(outcome)
            continue
        good = batch.table.slice(*batch.slices[key])
        tf = str(inst.base_timeframe)
        object_key = object_key_for(inst.family, tf, part.session_date, part.symbol)
        checksum = table_checksum(good)
        if inst.family.grain is DateGrain.DAY:
            meta = {"checksum": checksum, "rows": str(good.num_rows)}
            uploads.append((outcome, ParquetObject(object_key, good, meta)))
        else:  # one object per period: merged below with the period's other sessions
            periods[object_key].append((outcome, good))
        entry.rows_written = good.num_rows
        entry.status = "partial" if len(rejected) else "success"
        outcome.object_key, outcome.checksum, outcome.table = object_key, checksum, good
        entry.object_checksum = checksum
        bounds = pc.min_max(good.column("ts"))
        outcome.first_bar = pd.Timestamp(bounds["min"].value, tz="UTC")
        outcome.last_bar = pd.Timestamp(bounds["max"].value, tz="UTC")
        outcomes.append(outcome)
    # One parallel upload for the batch (a failed PUT fails the run, as a sequential one did).
    infos = s3.write_parquet_many([obj for _, obj in uploads])
    for (outcome, _), info in zip(uploads, infos, strict=True):
        outcome.bytes = info.size
    _write_periods(s3, periods)
    return outcomes


def _write_periods(
    s3: S3Resource, periods: dict[str, list[tuple[PartitionOutcome, pa.Table]]]
) -> None:
    """One object per period (a symbol's year of daily bars): the sessions of this run that
    passed, over the object's rows of every other session, which stay (a held-back session
    keeps its previous bars, as a held-back day partition keeps its object). Rewriting a
    period with the same source answer writes the same object: idempotent.

    Each object is a read-modify-write that another run may race (a landing run and the
    scheduled run of the same year), so it goes through `S3Resource.update_parquet`: a
    conditional PUT on the ETag read, merged again from the newer object when it lost."""
    if not periods:
        return
    with ThreadPoolExecutor(max_workers=min(PERIOD_WRITERS, len(periods))) as pool:
        futures = {
            pool.submit(_write_period, s3, object_key, group): group
            for object_key, group in periods.items()
        }
        for future, group in futures.items():
            size = future.result().size
            for outcome, _ in group:
                outcome.bytes = size


def _write_period(
    s3: S3Resource, object_key: str, group: list[tuple[PartitionOutcome, pa.Table]]
) -> ObjectInfo:
    tables = [good for _, good in group]
    written = pa.array([o.partition.session_date for o, _ in group], pa.date32())

    def merge(old: pa.Table | None) -> pa.Table:
        parts = list(tables)
        if old is not None and old.num_rows:
            keep = pc.invert(pc.is_in(old.column("session_date").cast(pa.date32()), written))
            parts.insert(0, old.filter(keep).select(tables[0].schema.names).cast(tables[0].schema))
        merged = pa.concat_tables(parts)
        return merged.take(pc.sort_indices(merged, [("ts", "ascending")]))

    def metadata(merged: pa.Table) -> dict[str, str]:
        return {"checksum": table_checksum(merged), "rows": str(merged.num_rows)}

    return s3.update_parquet(object_key, merge, metadata)


def record_outcomes(
    postgres: PostgresResource, outcomes: list[PartitionOutcome], run_id: str | None
) -> None:
    with postgres.transaction() as conn:
        for o in outcomes:
            write_quarantine(
                conn,
                o.rejected,
                asset=ASSET,
                partition_key=o.entry.partition_key,
                symbol=o.partition.symbol,
                session_date=o.partition.session_date,
                source_ref=o.entry.source,
                run_id=run_id,
            )
        write_collection_log(conn, [o.entry for o in outcomes])


def stored_first_data(postgres: PostgresResource, parts: list[BarPartition]) -> dict[str, dt.date]:
    """Each of the run's symbols' earliest session with stored bars (data_collection_log)."""
    symbols = sorted({p.symbol for p in parts})
    if not symbols:
        return {}
    with postgres.connection() as conn:
        rows = conn.execute(
            query("logs/first_data"), {"symbols": symbols, "asset": ASSET}
        ).fetchall()
        conn.rollback()
    return {str(symbol): day for symbol, day in rows}


@dataclass
class CollectResult:
    """One raw_bars step: each partition's outcome, and landing files found unreadable."""

    outcomes: list[PartitionOutcome]
    rejected_files: list[str]

    @property
    def held(self) -> list[PartitionOutcome]:
        return [o for o in self.outcomes if o.held_back]


def collect_raw_bars(
    parts: list[BarPartition],
    sources: BarSourcesResource,
    s3: S3Resource,
    postgres: PostgresResource,
    run_id: str | None,
) -> CollectResult:
    """Collect the partitions, then record outcomes, quarantine and rejected landing files."""
    outcomes = collect_partitions(parts, sources, s3, run_id, stored_first_data(postgres, parts))
    record_outcomes(postgres, outcomes, run_id)
    rejected = record_rejected(postgres, sources.built(), run_id)
    return CollectResult(outcomes, rejected)
