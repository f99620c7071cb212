"""db_bars: the partitions' bars from S3 into PostgreSQL/TimescaleDB.

Reads every object of the batch (one GET each, in parallel) and replaces the batch's partitions
in one transaction. The gate is per partition: only partitions whose latest raw_bars
collection succeeded (fully or with quarantined rows) flow in; held-back ones keep whatever the
database had.
"""

from collections.abc import Iterator

import pandas as pd
import psycopg
import pyarrow as pa
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
)

from market_assets.assets.automation import FOLLOW_PARENT
from market_assets.assets.ohlcv_asset import ohlcv_asset
from market_assets.assets.selection import materializing, run_partitions, selected_checks
from market_assets.bar_store import ReplaceStats, replace_partitions
from market_assets.bars import concat_bars, empty_bars, from_arrow, table_checksum, to_arrow
from market_assets.checks.bars import DB_BARS, RAW_BARS, RECONCILIATION_SPEC, reconciliation_results
from market_assets.checks.freshness import FRESHNESS_SPECS, freshness_results
from market_assets.collection_log import CollectionEntry, write_collection_log
from market_assets.partitions import BarPartition
from market_assets.storage_layout import existing_keys, raw_object_key
from market_assets.universe import UnknownSymbolError, default_universe
from resources.postgres import PostgresResource
from resources.queries import query
from resources.s3 import S3Resource

ASSET = "db_bars"


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
    s3: S3Resource, postgres: PostgresResource, parts: list[BarPartition], run_id: str | None
) -> dict[str, int]:
    """Replace the partitions' rows with their S3 objects, and log in the same transaction the
    checksum of the object each partition was loaded from ("" for none): the reconciliation
    check judges the database against that, so a newer object another run wrote since is
    "not loaded yet", not drift."""
    universe = default_universe()
    keyed: list[tuple[BarPartition, str, str]] = []
    for part in parts:
        try:
            timeframe = str(universe.resolve(part.symbol).base_timeframe)
        except UnknownSymbolError:
            continue
        keyed.append((part, timeframe, raw_object_key(timeframe, part.session_date, part.symbol)))
    loaded: dict[str, str] = {}

    def read_objects() -> pd.DataFrame:  # under the partitions' locks: never a stale read
        present = existing_keys(s3, {k for _, _, k in keyed})
        tables = s3.read_each(present) if present else []
        loaded.update({k: object_checksum(t) for k, t in zip(present, tables, strict=True)})
        if not tables:
            return empty_bars()
        return concat_bars([from_arrow(pa.concat_tables(tables))])

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
                object_checksum=loaded.get(key, ""),
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
    return {
        "rows": stats.rows,
        "inserted": sum(stats.inserted.values()),
        "revised": sum(stats.revised.values()),
        "deleted": sum(stats.deleted.values()),
        "adjustment_events": stats.adjustment_events,
    }


@ohlcv_asset(
    DB_BARS,
    description="Base-timeframe bars in the database, replaced per partition from S3.",
    kinds={"postgres", "timescale"},
    check_specs=[RECONCILIATION_SPEC, *FRESHNESS_SPECS],
    deps=[RAW_BARS],
    automation_condition=FOLLOW_PARENT,
)
def db_bars(
    context: AssetExecutionContext, s3: S3Resource, postgres: PostgresResource
) -> Iterator[MaterializeResult | AssetCheckResult]:
    checks = selected_checks(context, DB_BARS)
    # The freshness checks need no partitions: their cron runs carry none.
    if materializing(context, DB_BARS) or RECONCILIATION_SPEC.name in checks:
        parts = run_partitions(context)
        if materializing(context, DB_BARS):
            yield materialize_db_bars(context, parts, s3, postgres)
        yield from reconciliation_results(checks, parts, s3, postgres, context.run_id)
    yield from freshness_results(checks, context.instance, postgres, context.run_id)


def materialize_db_bars(
    context: AssetExecutionContext,
    parts: list[BarPartition],
    s3: S3Resource,
    postgres: PostgresResource,
) -> MaterializeResult:
    ok, held = passed_partitions(postgres, parts)
    for part in held:
        context.log.warning(f"not loading {part.key}: raw_bars held it back")
    figures = load_partitions_from_s3(s3, postgres, ok, context.run_id) if ok else {}
    meta = {name: MetadataValue.int(v) for name, v in figures.items()}
    meta["partitions_loaded"] = MetadataValue.int(len(ok))
    meta["partitions_held_back"] = MetadataValue.int(len(held))
    return MaterializeResult(asset_key=DB_BARS, metadata=meta)
