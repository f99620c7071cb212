"""The company master's morning sync, before the Tokyo open."""

from dagster import ScheduleDefinition

from market_assets.defs.masters.jobs import master_sync_job
from market_assets.defs.status import schedule_status

master_sync_schedule = ScheduleDefinition(
    name="company_master_morning",
    cron_schedule="0 7 * * 1-5",
    execution_timezone="Asia/Tokyo",
    job=master_sync_job,
    default_status=schedule_status(),
    description="Company master before the Tokyo open (07:00 Asia/Tokyo).",
)
