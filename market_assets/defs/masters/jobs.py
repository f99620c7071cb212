"""The company-master sync job."""

from dagster import AssetSelection, define_asset_job

from market_assets.defs.masters.assets import MASTER_ASSETS

master_sync_job = define_asset_job(
    "company_master_sync",
    selection=AssetSelection.assets(*MASTER_ASSETS),
    description="Markets, sectors and companies from the configured master source.",
)
