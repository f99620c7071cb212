"""The company-master domain's definitions: markets, sectors and companies with their checks,
the sync job and its morning schedule."""

from dagster import Definitions

from market_assets.defs.masters.assets import MASTER_ASSETS
from market_assets.defs.masters.checks import MASTER_CHECKS
from market_assets.defs.masters.jobs import master_sync_job
from market_assets.defs.masters.schedules import master_sync_schedule

defs = Definitions(
    assets=MASTER_ASSETS,
    asset_checks=MASTER_CHECKS,
    jobs=[master_sync_job],
    schedules=[master_sync_schedule],
)
