"""The decorator every OHLCV asset shares: one date x symbol partitioned asset, with its checks.

Each OHLCV asset is a one-asset subsettable `@multi_asset` whose checks are `check_specs`
evaluated in its own step (market_assets/defs/ohlcv/checks.py says why), so a run may select the
asset, its checks, or both (market_assets/defs/ohlcv/selection.py). What differs between the four
is named here (with its definition metadata: the column schema of the bar contract, the table
it fills; market_assets/defs/ohlcv/metadata.py); partitions, batching, retries, code version and
group are the family's (the intraday family's by default).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    AutomationCondition,
    MultiPartitionsDefinition,
    multi_asset,
)

from market_assets.defs.ohlcv.partitions import bar_partitions
from market_assets.defs.ohlcv.policies import BATCHED_BACKFILL, STORE_RETRY


def ohlcv_asset(
    key: AssetKey,
    *,
    description: str,
    kinds: set[str],
    check_specs: Sequence[AssetCheckSpec],
    deps: Sequence[AssetKey] = (),
    automation_condition: AutomationCondition | None = None,
    metadata: Mapping[str, Any] | None = None,
    partitions_def: MultiPartitionsDefinition = bar_partitions,
    group_name: str = "ohlcv",
) -> Callable[[Callable[..., Any]], AssetsDefinition]:
    return multi_asset(
        specs=[
            AssetSpec(
                key,
                deps=list(deps),
                partitions_def=partitions_def,
                automation_condition=automation_condition,
                code_version="1",
                group_name=group_name,
                kinds=kinds,
                description=description,
                metadata=metadata,
                skippable=True,
            )
        ],
        check_specs=check_specs,
        can_subset=True,
        partitions_def=partitions_def,
        backfill_policy=BATCHED_BACKFILL,
        retry_policy=STORE_RETRY,
        name=key.to_python_identifier(),
    )
