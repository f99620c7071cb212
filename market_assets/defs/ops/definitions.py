"""Operations' definitions: database maintenance (job and weekly schedule) and the alert
sensors for failed runs and failed freshness checks."""

from dagster import Definitions

from market_assets.defs.ops.alerts import freshness_alert, run_failure_alert
from market_assets.defs.ops.maintenance import database_maintenance, maintenance_schedule

defs = Definitions(
    jobs=[database_maintenance],
    schedules=[maintenance_schedule],
    sensors=[run_failure_alert, freshness_alert],
)
