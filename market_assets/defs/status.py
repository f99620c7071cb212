"""Default status of every schedule and sensor: on, unless MARKET_ASSETS_AUTOMATION=off.

Off keeps them stopped (browser tests, a second deployment reading the same stores); one
switch for all, so no domain can forget it.
"""

from dagster import DefaultScheduleStatus, DefaultSensorStatus

from market_assets.core.settings import automation_enabled


def schedule_status() -> DefaultScheduleStatus:
    return DefaultScheduleStatus.RUNNING if automation_enabled() else DefaultScheduleStatus.STOPPED


def sensor_status() -> DefaultSensorStatus:
    return DefaultSensorStatus.RUNNING if automation_enabled() else DefaultSensorStatus.STOPPED
