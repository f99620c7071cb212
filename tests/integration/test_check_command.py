"""`market-assets check` runs every check (new ones included) against the configured stores,
writes JUnit XML and exits 1 when one fails."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_assets.cli.app import app
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.test_bar_checks import PART, load_parts
from tests.integration.test_quality_checks import _drop_last_rows
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ARGS = ["check", "--start", str(PART.session_date), "--end", str(PART.session_date)]
ARGS += ["-s", "7203", "-s", "USDJPY"]


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
) -> S3Resource:
    load_parts(s3_store, postgres, redis_store)
    for name, value in store_environment(db.writer_url, db.schema, redis_store, s3_store).items():
        monkeypatch.setenv(name, str(value))
    return s3_store


def _cases(path: Path) -> dict[str, bool]:
    suite = ET.parse(path).getroot()
    return {c.get("name", ""): c.find("failure") is None for c in suite.iter("testcase")}


def test_check_command_passes_with_every_check(configured: S3Resource, tmp_path: Path) -> None:
    junit = tmp_path / "checks.xml"
    result = CliRunner().invoke(app, [*ARGS, "--junit", str(junit)])
    assert result.exit_code == 0, result.output
    cases = _cases(junit)
    for name in (
        "row_count",
        "expectation_suite",
        "h1_equals_m1_aggregate",
        "freshness_tokyo",
        "freshness_fx",
    ):
        assert cases[name] is True, name
    assert all(cases.values())


def test_check_command_fails_on_missing_rows_and_late_session(
    configured: S3Resource, tmp_path: Path
) -> None:
    _drop_last_rows(configured, 3)
    junit = tmp_path / "checks.xml"
    late = "2024-03-13T16:31+09:00"  # the next Tokyo session was due at 16:30
    result = CliRunner().invoke(app, [*ARGS, "--junit", str(junit), "--as-of", late])
    assert result.exit_code == 1
    cases = _cases(junit)
    assert cases["row_count"] is False and cases["freshness_tokyo"] is False
    assert cases["freshness_fx"] is True  # FX's 2024-03-13 deadline is 17:30 New York
    assert cases["ohlc_sanity"] is True
