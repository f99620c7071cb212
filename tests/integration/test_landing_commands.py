"""`market-assets landing list | retry | process` against the test servers (CliRunner, the stores'
URLs in the environment, a Dagster instance in a temporary DAGSTER_HOME).

A vendor's file is rejected while no mapping exists; a mapping file of the user's own
(MARKET_ASSETS_LANDING_VENDORS) then fixes it without touching the package, and `landing
retry` processes the same bytes: the ledger says `processed`, its partitions hold exactly the
file's rows in S3 and in the database, the runs are in the instance, and the rows no partition
can take are quarantined once, however often the file is retried.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from typer.testing import CliRunner, Result

from market_assets.cli.app import app
from market_assets.core import settings as s
from market_assets.core.bars import frame_checksum
from market_assets.core.universe import default_universe
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from tests.integration.test_landing import _stored, _upload
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

D1, D2, D3 = dt.date(2024, 3, 11), dt.date(2024, 3, 12), dt.date(2024, 3, 13)
KEY = "landing/acme/7203_week.csv"
ACME = {
    "timezone": "Asia/Tokyo",
    "timeframe": "M1",
    "canonical_symbols": True,
    "columns": {
        "symbol": "Ticker",
        "timestamp": "Time",
        "open": "O",
        "high": "H",
        "low": "L",
        "close": "C",
        "volume": "V",
    },
}


@pytest.fixture
def configured(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db: DbTarget,
    s3_store: S3Resource,
    redis_store: RedisResource,
) -> Iterator[Path]:
    """The stores of this test in the environment, every symbol's bars from the landing zone,
    and an instance folder; yields the path the user's vendor file will have."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    for name, value in {
        **store_environment(db.writer_url, db.schema, redis_store, s3_store),
        s.SOURCE_OVERRIDE: "landing",
        s.DAGSTER_HOME: home,
    }.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv(s.LANDING_DIR, raising=False)
    monkeypatch.delenv(s.LANDING_VENDORS, raising=False)
    yield tmp_path / "my_vendors.yaml"


def _session_bars(symbol: str, day: dt.date) -> pd.DataFrame:
    """A whole session of bars (the checks want every bar the calendar expects), as landed."""
    bars = GeneratorSource(seed=7).fetch_many([default_universe().resolve(symbol)], [day])
    bars["source"], bars["adj_factor"] = "landing", 1.0
    return bars


def _acme_csv(frames: list[pd.DataFrame], extra_lines: list[str]) -> bytes:
    """The vendor's format: Tokyo wall-clock times, its own column names, exact floats."""
    lines = ["Ticker,Time,O,H,L,C,V"]
    for frame in frames:
        local = pd.DatetimeIndex(frame["ts"]).tz_convert("Asia/Tokyo")
        for sym, ts, *values in zip(
            frame["symbol"],
            local.strftime("%Y-%m-%d %H:%M"),
            frame["open"],
            frame["high"],
            frame["low"],
            frame["close"],
            frame["volume"],
            strict=True,
        ):
            lines.append(",".join([str(sym), ts, *(repr(float(v)) for v in values)]))
    return ("\n".join([*lines, *extra_lines]) + "\n").encode()


def _generic_csv(frame: pd.DataFrame) -> bytes:
    lines = ["symbol,timestamp,open,high,low,close,volume"]
    for row in frame.itertuples():
        ts = pd.Timestamp(row.ts).strftime("%Y-%m-%dT%H:%M:%SZ")
        values = (row.open, row.high, row.low, row.close, row.volume)
        lines.append(",".join([str(row.symbol), ts, *(repr(float(v)) for v in values)]))
    return ("\n".join(lines) + "\n").encode()


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _ledger(db: DbTarget) -> dict[str, tuple[Any, ...]]:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT file_key, status, error, rows_total, rows_unassigned FROM landing_files"
        ).fetchall()
    return {r[0]: tuple(r[1:]) for r in rows}


def _landing_quarantine(db: DbTarget) -> list[tuple[str, str]]:
    with db.connect() as conn:
        return conn.execute(
            "SELECT symbol, rule FROM quarantine WHERE asset = 'landing' AND source_ref = %s",
            (KEY,),
        ).fetchall()


def _landing_runs(home: str) -> list[Any]:
    with DagsterInstance.from_config(home) as instance:
        return list(instance.get_runs(RunsFilter(tags={"market-assets/trigger": "landing"})))


def _listed(*args: str) -> list[dict[str, Any]]:
    result = _cli("landing", "list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_rejected_file_is_processed_by_retry_after_its_mapping_is_fixed(
    configured: Path, s3_store: S3Resource, db: DbTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = {day: _session_bars("7203", day) for day in (D1, D2)}
    unknown = "ACME-X,2024-03-11 09:00,1.0,2.0,0.5,1.5,10.0"  # no partition can take it
    _upload(s3_store, KEY, _acme_csv(list(sessions.values()), [unknown]))
    rows_in_file = sum(len(f) for f in sessions.values()) + 1

    # Without a mapping for `acme`, processing rejects the file and names the missing mapping.
    assert [r["status"] for r in _listed("--status", "pending")] == ["pending"]
    result = _cli("landing", "process")
    assert result.exit_code == 1
    assert "no column mapping for vendor folder 'acme'" in result.stdout
    status, error, rows_total, unassigned = _ledger(db)[KEY]
    assert (status, rows_total, unassigned) == ("rejected", None, None)
    assert s.LANDING_VENDORS in error
    # The same bytes are never new again: processing once more leaves the file alone.
    assert "no pending landing files" in _cli("landing", "process").stdout
    (listed,) = _listed()
    assert (listed["file"], listed["vendor"], listed["status"]) == (KEY, "acme", "rejected")
    assert listed["error"] == error and listed["first_seen"].endswith("Z")

    # A mapping of the user's own, still wrong (the vendor's volume column is `V`): one line,
    # the new reason in the ledger, nothing run.
    wrong = {**ACME, "columns": {**ACME["columns"], "volume": "Volume"}}
    configured.write_text(yaml.safe_dump({"version": 1, "vendors": {"acme": wrong}}), "utf-8")
    monkeypatch.setenv(s.LANDING_VENDORS, str(configured))
    result = _cli("landing", "retry", KEY)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(f"market-assets: still rejected: landing: malformed landing file {KEY}:")
    assert "missing columns ['Volume'] for vendor acme" in line
    assert result.stderr.count("\n") == 2  # the old reason (dim), then the new one
    status, new_error, *_ = _ledger(db)[KEY]
    assert status == "rejected" and "missing columns ['Volume']" in new_error
    assert _landing_runs(str(configured.parent / "dagster_home")) == []

    # Fixed: the same bytes are processed now, exactly its partitions materialised.
    configured.write_text(yaml.safe_dump({"version": 1, "vendors": {"acme": ACME}}), "utf-8")
    result = _cli("landing", "retry", KEY)
    assert result.exit_code == 0, result.output
    assert "rejected -> processed, 2 partitions, 1 rows quarantined" in result.stdout
    assert "missing columns ['Volume']" in result.stderr  # what it was, still visible
    assert _ledger(db)[KEY] == ("processed", None, rows_in_file, 1)
    for day, frame in sessions.items():
        in_s3, in_db = _stored(s3_store, db, "7203", day)
        assert in_s3 == in_db == frame_checksum(frame), day
    runs = _landing_runs(str(configured.parent / "dagster_home"))
    assert len(runs) == 2  # one per session date
    assert {r.status for r in runs} == {DagsterRunStatus.SUCCESS}
    assert {r.tags["dagster/asset_partition_range_start"] for r in runs} == {
        f"{D1}|7203",
        f"{D2}|7203",
    }
    assert _landing_quarantine(db) == [("ACME-X", "unknown_symbol")]

    # Retried again: materialised again, the unassignable row still quarantined once.
    result = _cli("landing", "retry", KEY)
    assert result.exit_code == 0, result.output
    assert "processed -> processed, 2 partitions, 0 rows quarantined" in result.stdout
    assert _landing_quarantine(db) == [("ACME-X", "unknown_symbol")]
    assert len(_landing_runs(str(configured.parent / "dagster_home"))) == 4

    csv_out = _cli("landing", "list", "--status", "processed", "--format", "csv")
    assert csv_out.exit_code == 0
    header, row = csv_out.stdout.strip().splitlines()
    assert header == "file,etag,vendor,status,rows,unassigned,error,first_seen"
    assert row.startswith(f"{KEY},") and f",acme,processed,{rows_in_file},1,," in row
    assert _listed("--status", "rejected") == []


def test_process_runs_every_pending_file(
    configured: Path, s3_store: S3Resource, db: DbTarget, postgres: PostgresResource
) -> None:
    frame = _session_bars("7203", D3)
    _upload(s3_store, "landing/generic/7203_d3.csv", _generic_csv(frame))
    assert [(r["file"], r["status"]) for r in _listed()] == [
        ("landing/generic/7203_d3.csv", "pending")
    ]
    result = _cli("landing", "process")
    assert result.exit_code == 0, result.output
    assert "processed landing/generic/7203_d3.csv: 1 partitions" in result.stdout
    assert _ledger(db)["landing/generic/7203_d3.csv"][0] == "processed"
    in_s3, in_db = _stored(s3_store, db, "7203", D3)
    assert in_s3 == in_db == frame_checksum(frame)
    (run,) = _landing_runs(str(configured.parent / "dagster_home"))
    assert run.status == DagsterRunStatus.SUCCESS
    assert "no pending landing files" in _cli("landing", "process").stdout


def test_retry_of_a_key_that_is_not_in_the_landing_zone_is_one_line(configured: Path) -> None:
    result = _cli("landing", "retry", "landing/acme/absent.csv")
    assert result.exit_code == 1
    assert "no landing file 'landing/acme/absent.csv'" in str(result.exception)


def test_a_broken_mapping_file_is_one_line_naming_file_vendor_and_field(
    configured: Path, s3_store: S3Resource, db: DbTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market_assets.cli.app import error_line

    _upload(s3_store, KEY, b"Ticker,Time,O,H,L,C,V\n")
    bad = {**ACME, "timezone": "Asia/Tokio"}
    configured.write_text(yaml.safe_dump({"version": 1, "vendors": {"acme": bad}}), "utf-8")
    monkeypatch.setenv(s.LANDING_VENDORS, str(configured))
    result = _cli("landing", "process")
    assert result.exit_code == 1 and result.exception is not None
    line = error_line(result.exception)
    assert line.startswith(f"{configured}: vendor 'acme': timezone: unknown zone 'Asia/Tokio'")
    assert _ledger(db) == {}  # nothing recorded on a mapping that does not load
