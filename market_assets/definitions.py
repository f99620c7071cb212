"""The one Definitions object of the code location.

Resources come from market_assets.store_resources (the single environment-to-resource
mapping); they read secrets through EnvVar at run time, so loading these definitions opens no
connection and needs no secret (`dg check defs` works on a clean checkout).

Runs use the in-process executor: a batched run carries hundreds of partitions through four
assets whose work is vectorised IO, so a subprocess per step would only add start-up time.
"""

from dagster import Definitions, in_process_executor

from market_assets.assets.masters import MASTER_ASSETS
from market_assets.assets.ohlcv import OHLCV_ASSETS
from market_assets.checks.masters import MASTER_CHECKS
from market_assets.jobs import database_maintenance, master_sync_job, ohlcv_job
from market_assets.schedules import SCHEDULES
from market_assets.sensors import SENSORS
from market_assets.store_resources import source_resource, store_resources
from resources.masters.resource import master_source_resource

defs = Definitions(
    assets=[*OHLCV_ASSETS, *MASTER_ASSETS],
    asset_checks=MASTER_CHECKS,  # the OHLCV checks are check_specs of their assets
    jobs=[ohlcv_job, master_sync_job, database_maintenance],
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources={
        **store_resources(),
        "sources": source_resource(),
        "master_source": master_source_resource(),
    },
    executor=in_process_executor,
)
