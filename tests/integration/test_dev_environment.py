"""`market-assets dev` minus the UI: embedded servers, bootstrap, migrations, Dagster instance
in PostgreSQL, and the first-start seeding run, in a fresh state folder."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from market_assets.cli.app import app
from market_assets.core import settings as s

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

STORE_VARS = [
    s.PG_URL,
    s.PG_READER_URL,
    s.PG_OWNER_URL,
    s.PG_ADMIN_URL,
    s.REDIS_URL,
    s.S3_ENDPOINT,
    s.S3_ACCESS_KEY,
    s.S3_SECRET_KEY,
    s.DAGSTER_PG_URL,
    "DAGSTER_HOME",
    s.SOURCE_OVERRIDE,
]


def test_stack_environment_bootstraps_and_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance

    from market_assets.cli.dev import prepare_dagster_home
    from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
    from market_assets.devstack.environment import stack_environment
    from market_assets.operations.seed import seed_recent_sessions

    for name in STORE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(s.HOME, str(tmp_path))
    monkeypatch.setenv(s.RETENTION_M1, "off")
    saved = dict(os.environ)
    try:
        with stack_environment(tmp_path, durable=False) as env:
            env.apply()
            assert sorted(env.started) == ["postgres", "seaweed", "valkey"]
            assert env.dialect == "postgres"
            assert env.variables[s.DAGSTER_PG_URL].startswith("postgresql+psycopg2://ma_dagster:")

            doctor = CliRunner().invoke(app, ["doctor"])
            assert doctor.exit_code == 0, doctor.output

            prepare_dagster_home(tmp_path)
            with DagsterInstance.get() as instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                today = dt.date(2024, 3, 14)
                assert seed_recent_sessions(instance, OHLCV_ASSETS, days=2, today=today)
                runs = instance.get_runs()
                assert len(runs) == 1 and runs[0].is_success

            with psycopg.connect(env.variables[s.PG_READER_URL]) as conn:
                conn.execute("SET search_path = market")
                symbols = conn.execute("SELECT count(DISTINCT symbol) FROM ohlcv_bars").fetchone()
            assert symbols is not None and symbols[0] >= 10
            # the writer cannot alter the schema, the dagster role cannot read market data
            with psycopg.connect(env.variables[s.PG_URL]) as conn, pytest.raises(psycopg.Error):
                conn.execute("DROP TABLE market.ohlcv_bars")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert (tmp_path / "roles.json").stat().st_mode & 0o077 == 0
