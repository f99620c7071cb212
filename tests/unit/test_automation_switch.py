"""MARKET_ASSETS_AUTOMATION=off stops every schedule and sensor, the automation sensor included
(the browser test relies on it: nothing may run but the backfill it launches)."""

import json
import os
import subprocess
import sys

import pytest

PRINT_STATUSES = """
import json
from market_assets.definitions import defs
statuses = {s.name: s.default_status.value for s in [*defs.schedules, *defs.sensors]}
print(json.dumps(statuses))
"""


def _statuses(automation: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MARKET_ASSETS_AUTOMATION"}
    if automation is not None:
        env["MARKET_ASSETS_AUTOMATION"] = automation
    out = subprocess.run(
        [sys.executable, "-c", PRINT_STATUSES], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("automation", "expected"), [(None, "RUNNING"), ("off", "STOPPED")])
def test_every_schedule_and_sensor_follows_the_switch(
    automation: str | None, expected: str
) -> None:
    statuses = _statuses(automation)
    assert {"ohlcv_automation", "new_symbols_sensor", "freshness_alert"} <= statuses.keys()
    assert set(statuses.values()) == {expected}, statuses
