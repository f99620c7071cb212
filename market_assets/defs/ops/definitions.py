"""Operations' definitions: database maintenance and run retention (jobs and weekly schedules)
and the alert sensors for failed runs and failed freshness checks."""

from dagster import Definitions

from market_assets.defs.ops.alerts import freshness_alert, run_failure_alert
from market_assets.defs.ops.maintenance import database_maintenance, maintenance_schedule
from market_assets.defs.ops.run_retention import run_retention, run_retention_schedule

defs = Definitions(
    jobs=[database_maintenance, run_retention],
    schedules=[maintenance_schedule, run_retention_schedule],
    sensors=[run_failure_alert, freshness_alert],
)
