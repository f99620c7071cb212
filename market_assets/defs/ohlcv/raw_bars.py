"""raw_bars: each partition's bars from its source, checked row by row, as Parquet in S3.

S3 is the system of record: it keeps every session, and the database and Redis can be
rebuilt from it. A batched run fetches all its partitions in one vectorised call per source,
then writes one object per partition. Rows that break a rule go to quarantine with the rule's
name; a partition whose source failed, or that has no valid row on a session day, is held back
(its previous object, if any, stays) while the good partitions of the batch proceed.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from market_assets.core.partition_keys import BarPartition
from market_assets.defs.ohlcv.asset_factory import ohlcv_asset
from market_assets.defs.ohlcv.checks import RAW_BARS, RAW_SPECS, raw_bars_results
from market_assets.defs.ohlcv.selection import materializing, run_partitions, selected_checks
from market_assets.ohlcv.collect import PartitionOutcome, collect_raw_bars
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.resource import BarSourcesResource


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
    result = collect_raw_bars(parts, sources, s3, postgres, context.run_id)
    for key in result.rejected_files:
        context.log.warning(f"landing file {key} rejected (see landing_files); skipped")
    outcomes, held = result.outcomes, result.held
    meta = outcome_metadata(outcomes)
    for o in held:
        context.log.warning(f"held back {o.entry.partition_key}: {o.entry.error}")
    if held and len(held) == len(outcomes):
        raise Failure(
            description=f"every partition of this run was held back ({len(held)})", metadata=meta
        )
    return MaterializeResult(asset_key=RAW_BARS, metadata=meta)
