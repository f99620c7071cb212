"""The OHLCV domain's definitions: the intraday family's four bar assets and the daily family's
three, with their checks, a job and the markets' schedules of each, the families declared in
the universe file likewise (none in the shipped one), the landing, new-symbol and automation
sensors."""

from dagster import Definitions

from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from market_assets.defs.ohlcv.daily_family import DAILY_ASSETS, daily_job
from market_assets.defs.ohlcv.daily_schedules import DAILY_SCHEDULES
from market_assets.defs.ohlcv.declared_families import (
    DECLARED_ASSETS,
    DECLARED_JOBS,
    DECLARED_SCHEDULES,
)
from market_assets.defs.ohlcv.jobs import ohlcv_job
from market_assets.defs.ohlcv.new_symbols import new_symbols_sensor
from market_assets.defs.ohlcv.schedules import OHLCV_SCHEDULES
from market_assets.defs.ohlcv.sensors import landing_files_sensor, ohlcv_automation

defs = Definitions(
    assets=[*OHLCV_ASSETS, *DAILY_ASSETS, *DECLARED_ASSETS],  # with their checks
    jobs=[ohlcv_job, daily_job, *DECLARED_JOBS],
    schedules=[*OHLCV_SCHEDULES, *DAILY_SCHEDULES, *DECLARED_SCHEDULES],
    sensors=[landing_files_sensor, new_symbols_sensor, ohlcv_automation],
)
