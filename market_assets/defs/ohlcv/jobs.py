"""The job that schedules and sensors target for OHLCV partitions."""

from dagster import AssetSelection, define_asset_job

from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from market_assets.defs.ohlcv.partitions import bar_partitions

ohlcv_job = define_asset_job(
    "ohlcv_daily",
    selection=AssetSelection.assets(*OHLCV_ASSETS),
    partitions_def=bar_partitions,
    description="Every OHLCV asset (and its checks) for a batch of date x symbol partitions.",
)
