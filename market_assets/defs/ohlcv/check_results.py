"""A CheckOutcome as Dagster's AssetCheckResult: figures, first failures, failing partitions.

Dagster records one result per check and run (see market_assets.defs.ohlcv.checks), so the failing
partitions of a batch travel in the metadata; the full per-partition record is in
data_quality_metrics. Figures keep their type (ints and floats as numbers, so the UI plots
them over the check's history; text stays text).
"""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue

from market_assets.defs.ohlcv.metadata import figure_value
from market_assets.quality.evaluation import CheckOutcome

FAILING_SHOWN = 50


def to_check_result(outcome: CheckOutcome) -> AssetCheckResult:
    metadata = {k: figure_value(v) for k, v in outcome.figures.items()}
    if outcome.failures:
        metadata["first_failures"] = MetadataValue.md(
            "\n".join(f"- {line}" for line in outcome.failures[:10])
        )
    if outcome.checked:
        metadata["partitions_checked"] = MetadataValue.int(len(outcome.checked))
        metadata["partitions_failed"] = MetadataValue.int(len(outcome.failing))
    if outcome.failing:
        metadata["failing_partitions"] = MetadataValue.json(outcome.failing_keys()[:FAILING_SHOWN])
    return AssetCheckResult(
        asset_key=outcome.asset,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=AssetCheckSeverity(outcome.severity),
        metadata=metadata,
    )
