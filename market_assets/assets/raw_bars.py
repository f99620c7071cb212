"""raw_bars: each partition's bars from its source, checked row by row, as Parquet in S3.

S3 is the system of record: it keeps every session, and the database and Redis can be
rebuilt from it. A batched run fetches all its partitions in one vectorised call per source,
then writes one object per partition. Rows that break a rule go to quarantine with the rule's
name; a partition whose source failed, or that has no valid row on a session day, is held back
(its previous object, if any, stays) while the good partitions of the batch proceed.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from market_assets.assets.ohlcv_asset import ohlcv_asset
from market_assets.assets.selection import materializing, run_partitions, selected_checks
from market_assets.bars import table_checksum, to_arrow
from market_assets.calendars import is_session
from market_assets.checks.bars import RAW_BARS, RAW_SPECS, raw_bars_results
from market_assets.collection_log import CollectionEntry, write_collection_log, write_quarantine
from market_assets.landing import record_rejected
from market_assets.partitions import BarPartition
from market_assets.row_rules import apply_row_rules_batch
from market_assets.storage_layout import raw_object_key
from market_assets.universe import Instrument, UnknownSymbolError, default_universe
from resources.postgres import PostgresResource
from resources.s3 import ParquetObject, S3Resource
from resources.sources.base import SourceError
from resources.sources.resource import BarSourcesResource

ASSET = "raw_bars"


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


def collect_partitions(
    parts: list[BarPartition],
    sources: BarSourcesResource,
    s3: S3Resource,
    run_id: str | None,
) -> list[PartitionOutcome]:
    """Fetch, check and write every partition; never raises for one bad partition."""
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

    outcomes: list[PartitionOutcome] = []
    uploads: list[tuple[PartitionOutcome, ParquetObject]] = []
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
            if is_session(inst.calendar, part.session_date):
                entry.status, entry.error = "failed", "source returned no bars for a session"
            else:
                entry.status = "success"  # no session that day: nothing to store
            outcomes.append(PartitionOutcome(part, entry, empty))
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
        object_key = raw_object_key(str(inst.base_timeframe), part.session_date, part.symbol)
        checksum = table_checksum(good)
        meta = {"checksum": checksum, "rows": str(good.num_rows)}
        uploads.append((outcome, ParquetObject(object_key, good, meta)))
        entry.rows_written = good.num_rows
        entry.status = "partial" if len(rejected) else "success"
        outcome.object_key, outcome.checksum = object_key, checksum
        entry.object_checksum = checksum
        bounds = pc.min_max(good.column("ts"))
        outcome.first_bar = pd.Timestamp(bounds["min"].value, tz="UTC")
        outcome.last_bar = pd.Timestamp(bounds["max"].value, tz="UTC")
        outcomes.append(outcome)
    # One parallel upload for the batch (a failed PUT fails the run, as a sequential one did).
    infos = s3.write_parquet_many([obj for _, obj in uploads])
    for (outcome, _), info in zip(uploads, infos, strict=True):
        outcome.bytes = info.size
    return outcomes


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


def outcome_metadata(outcomes: list[PartitionOutcome]) -> dict[str, MetadataValue]:
    written = [o for o in outcomes if o.object_key]
    held = [o for o in outcomes if o.held_back]
    meta: dict[str, MetadataValue] = {
        "partitions": MetadataValue.int(len(outcomes)),
        "partitions_written": MetadataValue.int(len(written)),
        "partitions_held_back": MetadataValue.int(len(held)),
        "rows": MetadataValue.int(sum(o.entry.rows_written for o in outcomes)),
        "rows_quarantined": MetadataValue.int(sum(o.entry.rows_quarantined for o in outcomes)),
        "bytes": MetadataValue.int(sum(o.bytes for o in outcomes)),
    }
    if written:
        meta["first_bar"] = MetadataValue.text(str(min(o.first_bar for o in written)))
        meta["last_bar"] = MetadataValue.text(str(max(o.last_bar for o in written)))
    if len(outcomes) == 1 and written:
        meta["checksum"] = MetadataValue.text(written[0].checksum or "")
        meta["object"] = MetadataValue.text(written[0].object_key or "")
    if held:
        lines = [f"- `{o.entry.partition_key}`: {o.entry.error}" for o in held[:20]]
        meta["held_back"] = MetadataValue.md("\n".join(lines))
    return meta


@ohlcv_asset(
    RAW_BARS,
    description="Base-timeframe bars per session and symbol, as Parquet in S3 (system of record).",
    kinds={"s3", "parquet"},
    check_specs=RAW_SPECS,
)
def raw_bars(
    context: AssetExecutionContext,
    sources: BarSourcesResource,
    s3: S3Resource,
    postgres: PostgresResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    parts = run_partitions(context)
    if materializing(context, RAW_BARS):
        yield materialize_raw_bars(context, parts, sources, s3, postgres)
    yield from raw_bars_results(
        selected_checks(context, RAW_BARS),
        parts,
        s3,
        postgres,
        context.run_id,
        context.log.exception,
    )


def materialize_raw_bars(
    context: AssetExecutionContext,
    parts: list[BarPartition],
    sources: BarSourcesResource,
    s3: S3Resource,
    postgres: PostgresResource,
) -> MaterializeResult:
    outcomes = collect_partitions(parts, sources, s3, context.run_id)
    record_outcomes(postgres, outcomes, context.run_id)
    for key in record_rejected(postgres, sources.built(), context.run_id):
        context.log.warning(f"landing file {key} rejected (see landing_files); skipped")
    meta = outcome_metadata(outcomes)
    held = [o for o in outcomes if o.held_back]
    for o in held:
        context.log.warning(f"held back {o.entry.partition_key}: {o.entry.error}")
    if held and len(held) == len(outcomes):
        raise Failure(
            description=f"every partition of this run was held back ({len(held)})", metadata=meta
        )
    return MaterializeResult(asset_key=RAW_BARS, metadata=meta)
