"""The instance files validate against Dagster's schema, including each class's own config."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from dagster._config import validate_config
from dagster._core.instance.config import dagster_instance_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("source", ["dagster.yaml", "deploy/dagster.ecs.yaml"])
def test_instance_config_validates(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_PG_URL", "postgresql+psycopg2://u:p@127.0.0.1:5432/dagster")
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", "logs")
    shutil.copyfile(ROOT / source, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["telemetry"]["enabled"] is False
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    limits = config["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert {"key": "dagster/backfill", "limit": limits[0]["limit"]} in limits
    for key in (
        "run_launcher",
        "compute_logs",
        "run_storage",
        "event_log_storage",
        "schedule_storage",
    ):
        if key in config:
            # Import the configured class and validate its block against the class's schema.
            klass = getattr(importlib.import_module(config[key]["module"]), config[key]["class"])
            result = validate_config(klass.config_type(), config[key].get("config", {}))
            assert result.success, result.errors
