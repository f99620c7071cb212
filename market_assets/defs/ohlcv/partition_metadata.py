"""Metadata of one partition, added to that partition's event only, within a bounded cost.

`context.add_asset_metadata(..., partition_key=...)` is the one public way to put an entry on a
single partition of a range run, but Dagster 1.13 re-lists the run's whole partition range on
every call to validate the key (and asks the instance for the registered symbols twice): about
9.4 ms per call at 1,000 partitions, so a step pays O(n^2), 9.4 s for a 1,000-partition batch,
which would double a backfill's asset steps. A run of up to `PER_PARTITION_LIMIT` partitions
(a daily run, a small backfill: at most about 0.1 s) gets each partition's own row count and
object; a larger batch gets its batch figures and an entry saying where the per-partition
figures are (`data_collection_log`, one row per partition and run, written in the same step).
"""

from __future__ import annotations

from collections.abc import Mapping

from dagster import AssetExecutionContext, AssetKey, MetadataValue

PER_PARTITION_LIMIT = 100


def add_per_partition(
    context: AssetExecutionContext,
    asset_key: AssetKey,
    per_partition: Mapping[str, Mapping[str, MetadataValue]],
) -> dict[str, MetadataValue]:
    """Add each partition's entries to its own event when the run is small enough; returns
    what the run's result should carry instead when it is not (nothing when it is)."""
    if len(per_partition) <= PER_PARTITION_LIMIT:
        for key, meta in per_partition.items():
            context.add_asset_metadata(dict(meta), asset_key, partition_key=key)
        return {}
    return {
        "per_partition_metadata": MetadataValue.text(
            f"not recorded on the events of this run: {len(per_partition)} partitions, above"
            f" {PER_PARTITION_LIMIT} (Dagster revalidates the run's range on every per-partition"
            " call); each partition's rows are in data_collection_log"
        )
    }
