"""Loading raw-bar objects from S3 into the database, the step after raw_bars.

A partition is loaded only when its latest raw_bars outcome let it through; its rows are
replaced from the object in one transaction that also logs the checksum of the object loaded,
which the reconciliation check later judges the database against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import psycopg
import pyarrow as pa

from market_assets.core.bars import (
    concat_bars,
    empty_bars,
    frame_checksum,
    from_arrow,
    table_checksum,
    to_arrow,
)
from market_assets.core.families import DateGrain
from market_assets.core.names import DB_BARS
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import object_key_for
from market_assets.core.universe import default_universe
from market_assets.ohlcv.bar_store import ReplaceStats, replace_partitions
from market_assets.ohlcv.collection_log import CollectionEntry, write_collection_log
from market_assets.ohlcv.raw_objects import existing_keys
from resources.postgres import PostgresResource
from resources.queries import query
from resources.s3 import S3Resource

ASSET = DB_BARS


@dataclass
class LoadOutcome:
    """What one db_bars step did: partitions loaded, partitions held back, row figures of the
    batch, and each loaded partition's own figures (rows it now holds, inserted, revised,
    deleted), keyed by partition key."""

    loaded: list[BarPartition]
    held: list[BarPartition]
    figures: dict[str, int] = field(default_factory=dict)
    per_partition: dict[str, dict[str, int]] = field(default_factory=dict)


def load_db_bars(
    parts: list[BarPartition], s3: S3Resource, postgres: PostgresResource, run_id: str | None
) -> LoadOutcome:
    """Load the partitions raw_bars let through; hold back the others (their rows stay)."""
    ok, held = passed_partitions(postgres, parts)
    per_partition: dict[str, dict[str, int]] = {}
    figures = load_partitions_from_s3(s3, postgres, ok, run_id, per_partition) if ok else {}
    return LoadOutcome(ok, held, figures, per_partition)


def passed_partitions(
    postgres: PostgresResource, parts: list[BarPartition]
) -> tuple[list[BarPartition], list[BarPartition]]:
    """(partitions to load, partitions held back) by their latest raw_bars outcome."""
    keys = [str(p.key) for p in parts]
    with postgres.connection() as conn:
        rows = conn.execute(query("bars/latest_raw_status"), {"keys": keys}).fetchall()
        conn.rollback()
    status = dict(rows)
    ok = [p for p in parts if status.get(str(p.key)) in ("success", "partial")]
    held = [p for p in parts if status.get(str(p.key)) not in ("success", "partial")]
    return ok, held


def object_checksum(table: pa.Table) -> str:
    """The content checksum raw_bars stored with the object (computed if it is missing)."""
    stored = (table.schema.metadata or {}).get(b"checksum")
    return stored.decode() if stored else table_checksum(to_arrow(from_arrow(table)))


def load_partitions_from_s3(
    s3: S3Resource,
    postgres: PostgresResource,
    parts: list[BarPartition],
    run_id: str | None,
    per_partition: dict[str, dict[str, int]] | None = None,
) -> dict[str, int]:
    """Replace the partitions' rows with their S3 objects, and log in the same transaction the
    checksum of the object each partition was loaded from ("" for none): the reconciliation
    check judges the database against that, so a newer object another run wrote since is
    "not loaded yet", not drift. `per_partition`, when given, receives each partition's
    figures: `rows` is what the partition holds now (its object's rows, 0 without one)."""
    universe = default_universe()
    keyed: list[tuple[BarPartition, str, str]] = []
    period_keys: set[str] = set()
    instruments = universe.known(p.symbol for p in parts)
    for part in parts:
        if part.symbol not in instruments:
            continue
        inst = instruments[part.symbol]
        timeframe = str(inst.base_timeframe)
        key = object_key_for(inst.family, timeframe, part.session_date, part.symbol)
        keyed.append((part, timeframe, key))
        if inst.family.grain is not DateGrain.DAY:
            period_keys.add(key)
    loaded: dict[str, str] = {}
    object_rows: dict[str, int] = {}
    # A period object (a year of daily bars) holds other sessions than the run's: each
    # partition's checksum and rows are its own sessions', and only the run's sessions load.

    def read_objects() -> pd.DataFrame:  # under the partitions' locks: never a stale read
        present = existing_keys(s3, {k for _, _, k in keyed})
        tables = s3.read_each(present) if present else []
        loaded.update({k: object_checksum(t) for k, t in zip(present, tables, strict=True)})
        object_rows.update({k: t.num_rows for k, t in zip(present, tables, strict=True)})
        if not tables:
            return empty_bars()
        frame = concat_bars([from_arrow(pa.concat_tables(tables))])
        if not period_keys:
            return frame
        wanted = {(p.symbol, p.session_date) for p, _, _ in keyed}
        pairs = zip(frame["symbol"].astype(str), frame["session_date"], strict=True)
        frame = frame[[pair in wanted for pair in pairs]].reset_index(drop=True)
        for (symbol, day), rows in frame.groupby(["symbol", "session_date"], sort=False):
            part_key = str(BarPartition(day, str(symbol)).key)
            session_keys[part_key] = (frame_checksum(rows), len(rows))
        return frame

    session_keys: dict[str, tuple[str, int]] = {}

    def checksum_of(part: BarPartition, key: str) -> str:
        if key in period_keys:
            return session_keys.get(str(part.key), ("", 0))[0]
        return loaded.get(key, "")

    def rows_of(part: BarPartition, key: str) -> int:
        if key in period_keys:
            return session_keys.get(str(part.key), ("", 0))[1]
        return object_rows.get(key, 0)

    def log_load(conn: psycopg.Connection, stats: ReplaceStats) -> None:
        entries = [
            CollectionEntry(
                asset=ASSET,
                partition_key=str(p.key),
                symbol=p.symbol,
                session_date=p.session_date,
                source="s3",
                rows_written=stats.inserted[(p.symbol, p.session_date)],
                rows_revised=stats.revised[(p.symbol, p.session_date)],
                rows_deleted=stats.deleted[(p.symbol, p.session_date)],
                run_id=run_id,
                object_checksum=checksum_of(p, key),
            )
            for p, _, key in keyed
        ]
        write_collection_log(conn, entries)

    stats = replace_partitions(
        postgres,
        read_objects,
        [(p.symbol, tf, p.session_date) for p, tf, _ in keyed],
        before_commit=log_load,
    )
    if per_partition is not None:
        for p, _, key in keyed:
            day = (p.symbol, p.session_date)
            per_partition[str(p.key)] = {
                "rows": rows_of(p, key),
                "inserted": stats.inserted[day],
                "revised": stats.revised[day],
                "deleted": stats.deleted[day],
            }
    return {
        "rows": stats.rows,
        "inserted": sum(stats.inserted.values()),
        "revised": sum(stats.revised.values()),
        "deleted": sum(stats.deleted.values()),
        "adjustment_events": stats.adjustment_events,
    }
