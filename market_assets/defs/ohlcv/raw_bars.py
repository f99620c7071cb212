"""raw_bars: each partition's bars from its source, checked row by row, as Parquet in S3.

S3 is the system of record: it keeps every session, and the database and Redis can be
rebuilt from it. A batched run fetches all its partitions in one vectorised call per source,
then writes one object per partition. Rows that break a rule go to quarantine with the rule's
name; a partition whose source failed, or that has no valid row on a session day, is held back
(its previous object, if any, stays) while the good partitions of the batch proceed.
"""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import FILE_NAME, RAW_PREFIX
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.checks import RAW_BARS, RAW_SPECS, raw_bars_results
from market_assets.defs.ohlcv.partition_metadata import add_per_partition
from market_assets.defs.ohlcv.selection import materializing, run_listed, selected_checks
from market_assets.ohlcv.collect import PartitionOutcome, collect_raw_bars
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource

DESCRIPTION = f"""Base-timeframe bars per session and symbol, as Parquet (zstd) in S3: the system
of record, from which the database and Redis can be rebuilt.

One object per partition at
`<bucket>/<prefix>{RAW_PREFIX}/timeframe=<TF>/date=<session>/symbol=<SYMBOL>/{FILE_NAME}`
(hive keys, so `pyarrow.dataset` prunes by timeframe, date and symbol); each materialization
names its object under `dagster/uri` and its rows under `dagster/row_count`. Read it with
`market-assets bars SYMBOL M1 --start T --end T` or `market_assets.read.get_ohlcv(symbol, "M1",
start, end)`, which fall back to these objects when the database cannot answer."""


def batch_metadata(
    outcomes: list[PartitionOutcome], bucket: str, full_keys: list[str]
) -> dict[str, MetadataValue]:
    """What is true of the whole run; Dagster copies it onto every partition's event."""
    written = [o for o in outcomes if o.object_key]
    held = [o for o in outcomes if o.held_back]
    figures: dict[str, Any] = {
        "partitions": len(outcomes),
        "partitions_written": len(written),
        "partitions_held_back": len(held),
        "rows": sum(o.entry.rows_written for o in outcomes),
        "rows_quarantined": sum(o.entry.rows_quarantined for o in outcomes),
        "bytes": sum(o.bytes for o in outcomes),
    }
    if written:
        figures["first_bar"] = min(o.first_bar for o in written if o.first_bar is not None)
        figures["last_bar"] = max(o.last_bar for o in written if o.last_bar is not None)
    meta = md.batch_figures(figures)
    if full_keys:
        meta["batch_prefix"] = MetadataValue.path(md.s3_uri(bucket, md.common_prefix(full_keys)))
    return meta


def partition_metadata(outcome: PartitionOutcome, uri: str | None) -> dict[str, MetadataValue]:
    """What is true of one partition: its rows and object, or why it was held back or
    skipped."""
    if outcome.held_back:
        return md.held_back(outcome.entry.error or "held back")
    if outcome.skipped:
        return {**md.partition_rows(0), **md.skipped(outcome.skipped)}
    meta = md.partition_rows(
        outcome.entry.rows_written,
        rows_quarantined=outcome.entry.rows_quarantined,
        bytes=outcome.bytes,
    )
    if uri is not None:
        meta.update(md.partition_object(uri))
        meta["checksum"] = MetadataValue.text(outcome.checksum or "")
    if outcome.first_bar is not None and outcome.last_bar is not None:
        meta["first_bar"] = MetadataValue.timestamp(outcome.first_bar)
        meta["last_bar"] = MetadataValue.timestamp(outcome.last_bar)
    return meta


def skipped_figures(
    skipped: dict[str, str], outcomes: list[PartitionOutcome]
) -> dict[str, MetadataValue]:
    """The batch's count of partitions skipped (outside the listing or before the first
    data); nothing when none was, so ordinary runs' metadata stays as it was."""
    count = len(skipped) + sum(1 for o in outcomes if o.skipped)
    return md.batch_figures({"partitions_skipped": count}) if count else {}


def skipped_result(
    context: AssetExecutionContext, key: AssetKey, skipped: dict[str, str]
) -> MaterializeResult:
    """A run whose every partition lies outside its symbol's listing: a materialization that
    says so on each partition (not a failure, and no call to the source)."""
    meta = md.batch_figures({"partitions": 0, "partitions_skipped": len(skipped)})
    if len(set(skipped.values())) == 1:
        meta["skipped"] = MetadataValue.text(next(iter(skipped.values())))
    per_partition = {k: {**md.partition_rows(0), **md.skipped(r)} for k, r in skipped.items()}
    meta.update(add_per_partition(context, key, per_partition))
    return MaterializeResult(asset_key=key, metadata=meta)


@ohlcv_asset(
    RAW_BARS,
    description=DESCRIPTION,
    kinds={"s3", "parquet"},
    check_specs=RAW_SPECS,
    metadata=md.bar_table_definition(),
)
def raw_bars(
    context: AssetExecutionContext,
    sources: BarSourcesResource,
    s3: S3Resource,
    postgres: PostgresResource,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    listed = run_listed(context)
    parts = listed.parts
    if materializing(context, RAW_BARS):
        result, before_first = materialize_raw_bars(
            context, parts, sources, s3, postgres, listed.skipped
        )
        yield result
        parts = [p for p in parts if p not in before_first]  # nothing to check there
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
    skipped: dict[str, str] | None = None,
) -> tuple[MaterializeResult, set[BarPartition]]:
    """Collect the partitions; `skipped` (partition key -> why) are outside their symbol's
    listing: not fetched, each materialised with its reason, never failed. Also returns the
    sessions skipped as before their symbol's first data (the checks leave them out)."""
    skipped = skipped or {}
    if skipped and not parts:
        return skipped_result(context, RAW_BARS, skipped), set()
    result = collect_raw_bars(parts, sources, s3, postgres, context.run_id)
    for key in result.rejected_files:
        context.log.warning(f"landing file {key} rejected (see landing_files); skipped")
    outcomes, held = result.outcomes, result.held
    full_keys = {o.entry.partition_key: s3.full_key(o.object_key) for o in outcomes if o.object_key}
    meta = batch_metadata(outcomes, s3.bucket, list(full_keys.values()))
    for o in held:
        context.log.warning(f"held back {o.entry.partition_key}: {o.entry.error}")
    if held and len(held) == len(outcomes):
        raise Failure(
            description=f"every partition of this run was held back ({len(held)})", metadata=meta
        )
    per_partition = {
        o.entry.partition_key: partition_metadata(
            o,
            md.s3_uri(s3.bucket, full_keys[o.entry.partition_key])
            if o.entry.partition_key in full_keys
            else None,
        )
        for o in outcomes
    }
    per_partition.update({key: md.skipped(reason) for key, reason in skipped.items()})
    meta.update(skipped_figures(skipped, outcomes))
    meta.update(add_per_partition(context, RAW_BARS, per_partition))
    tables = [o.table for o in outcomes if o.table is not None]
    if tables:  # once per run, on its last partition: a copy on every event would bloat them
        preview = {"batch_preview": md.bars_preview(tables)}
        last = outcomes[-1].entry.partition_key
        context.add_asset_metadata(preview, RAW_BARS, partition_key=last)
    before_first = {o.partition for o in outcomes if o.skipped}
    return MaterializeResult(asset_key=RAW_BARS, metadata=meta), before_first
