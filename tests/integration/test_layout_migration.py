"""`market-assets storage migrate-layout`'s service on the embedded stack: a D1-base symbol's
day objects, written and loaded as before families, move into its year objects bit for bit;
the old keys go, a second run moves nothing, the reconciliation passes without a reload, a
session the year object already held keeps the year object's rows, and a dry run changes
nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, instance_for_test
from typer.testing import CliRunner

from market_assets.cli.app import app
from market_assets.core import settings as s
from market_assets.core.bars import from_arrow, table_checksum, to_arrow
from market_assets.core.calendars import sessions_in_range
from market_assets.core.families import daily_family
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import period_object_key, raw_object_key
from market_assets.core.universe import DEFAULT_UNIVERSE_PATH, default_universe
from market_assets.ohlcv import load
from market_assets.ohlcv.collect import check_batch
from market_assets.ohlcv.load import load_partitions_from_s3
from market_assets.operations.layout_migration import LayoutMigrationError, migrate_layout
from market_assets.quality import evaluation as ev
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.generator import GeneratorSource
from tests.plugins.stores import DbTarget, store_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

YEAR_2004 = period_object_key("D1", daily_family().grain, "2004", "AAPL")
YEAR_2005 = period_object_key("D1", daily_family().grain, "2005", "AAPL")


@pytest.fixture(autouse=True)
def us_daily_stock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(DEFAULT_UNIVERSE_PATH.read_text(encoding="utf-8"))
    for entry in document["instruments"]:
        if entry["symbol"] == "AAPL":
            entry.update(base_timeframe="D1", source="generator")
    universe = tmp_path / "universe.yaml"
    universe.write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("MARKET_ASSETS_UNIVERSE", str(universe))


def _write_day_objects(s3: S3Resource, days: list[dt.date], bump: float = 0.0) -> dict:
    """As the code before families did: one object per session at `raw_object_key`, with the
    content checksum in its footer. `bump` shifts the prices (an older, different answer)."""
    inst = default_universe().resolve("AAPL")
    frame = GeneratorSource().fetch_many([inst], days)
    for col in ("open", "high", "low", "close"):
        frame[col] = frame[col] + bump
    batch = check_batch(frame, {"AAPL": inst})
    checksums = {}
    for day in days:
        good = batch.table.slice(*batch.slices[("AAPL", day)])
        checksums[day] = table_checksum(good)
        meta = {"checksum": checksums[day], "rows": str(good.num_rows)}
        s3.write_parquet(raw_object_key("D1", day, "AAPL"), good, meta)
    return checksums


def _session_checksums(s3: S3Resource, key: str) -> dict[dt.date, str]:
    frame = from_arrow(s3.read_parquet(key))
    return {
        d: table_checksum(to_arrow(rows.reset_index(drop=True), drop_extra=True))
        for d, rows in frame.groupby("session_date")
    }


def _keys(s3: S3Resource) -> list[str]:
    return sorted(o.key for o in s3.list_objects("ohlcv/timeframe=D1/"))


def test_day_objects_move_into_year_objects(
    s3_store: S3Resource, postgres: PostgresResource, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = sessions_in_range("XNYS", "2004-12-01", "2005-01-31")
    written = _write_day_objects(s3_store, days)
    parts = [BarPartition(d, "AAPL") for d in days]
    with monkeypatch.context() as old_layout:  # the load as it was: from the day objects
        old_layout.setattr(load, "object_key_for", lambda _f, tf, d, s: raw_object_key(tf, d, s))
        load_partitions_from_s3(s3_store, postgres, parts, "before-families")
    day_keys = _keys(s3_store)
    assert len(day_keys) == len(days) == 42  # 21 sessions in each month

    planned = migrate_layout(s3_store, dry_run=True)
    assert [m.object_key for m in planned.moves] == [YEAR_2004, YEAR_2005]
    assert planned.objects_read == 42 and planned.objects_removed == 0
    assert _keys(s3_store) == day_keys  # the dry run changed nothing

    with instance_for_test() as instance:
        steps: list = []
        summary = migrate_layout(
            s3_store, postgres=postgres, instance=instance, progress=steps.append
        )
        assert summary.figures() == {
            "objects_read": 42,
            "periods_written": 2,
            "objects_removed": 42,
            "sessions": 42,
            "sessions_kept": 0,
            "skipped": 0,
            "recorded": 4,  # daily_raw_bars and daily_db_bars of each year
        }
        assert [s.label for s in steps] == ["2004 AAPL", "2005 AAPL"]
        for asset in ("daily_raw_bars", "daily_db_bars"):
            assert instance.get_materialized_partitions(AssetKey(asset)) == {
                "2004|AAPL",
                "2005|AAPL",
            }
        assert instance.get_dynamic_partitions("daily_symbols") == ["AAPL"]

    assert _keys(s3_store) == [YEAR_2004, YEAR_2005]  # the day objects are gone
    stored = _session_checksums(s3_store, YEAR_2004) | _session_checksums(s3_store, YEAR_2005)
    assert stored == written  # every session, bit for bit
    assert s3_store.object_versions(day_keys[0])  # versioning keeps what was deleted

    again = migrate_layout(s3_store, postgres=postgres)
    assert again.figures()["objects_read"] == 0 and again.moves == []

    batch = ev.load_batch(s3_store, parts)  # the daily family's reads, no reload
    assert batch.missing_objects == [] and len(batch.s3_bars) == 42
    assert ev.check_s3_db_reconciliation(batch, postgres).passed


def test_the_year_object_keeps_its_sessions_and_symbols_filter(s3_store: S3Resource) -> None:
    """A session the year object already holds was written by the daily family after the day
    object: its rows stay; the day objects fill the rest. `symbols` leaves others alone."""
    days = sessions_in_range("XNYS", "2005-01-03", "2005-01-14")
    newer = _write_day_objects(s3_store, days[:5])
    s3_store.write_parquet(YEAR_2005, s3_store.read_many(_keys(s3_store)))
    s3_store.delete_keys(_keys(s3_store)[:-1])  # leaves only the year object
    older = _write_day_objects(s3_store, days, bump=1.0)  # the earlier answer, day layout

    assert migrate_layout(s3_store, symbols=["MSFT"]).moves == []
    summary = migrate_layout(s3_store, symbols=["AAPL"])
    assert (summary.sessions, summary.sessions_kept, summary.objects_removed) == (10, 5, 10)
    stored = _session_checksums(s3_store, YEAR_2005)
    assert {d: stored[d] for d in days[:5]} == newer
    assert {d: stored[d] for d in days[5:]} == {d: older[d] for d in days[5:]}
    assert _keys(s3_store) == [YEAR_2005]


def test_the_command_dry_run_then_migrate(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db: DbTarget,
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store,  # type: ignore[no-untyped-def]
) -> None:
    """`market-assets storage migrate-layout [--dry-run]`: the plan, then the summary line."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    env = {
        **store_environment(db.writer_url, db.schema, redis_store, s3_store),
        s.DAGSTER_HOME: home,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    _write_day_objects(s3_store, sessions_in_range("XNYS", "2004-12-29", "2005-01-04"))
    before = _keys(s3_store)
    runner = CliRunner()
    dry = runner.invoke(app, ["storage", "migrate-layout", "--dry-run", "--symbol", "AAPL"])
    assert dry.exit_code == 0, dry.output
    assert f"would move 3 day objects -> {YEAR_2004}" in dry.output
    assert "dry run: objects_read=5, periods_written=2, objects_removed=0" in dry.output
    assert _keys(s3_store) == before
    done = runner.invoke(app, ["storage", "migrate-layout"])
    assert done.exit_code == 0, done.output
    assert "objects_read=5, periods_written=2, objects_removed=5, sessions=5" in done.output
    assert _keys(s3_store) == [YEAR_2004, YEAR_2005]


def test_a_crash_before_the_delete_is_finished_by_the_next_run(
    s3_store: S3Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The year object was written, the process died before deleting the day objects: the next
    run finds them, sees their sessions in the year object (kept) and only deletes them."""
    days = sessions_in_range("XNYS", "2004-03-01", "2004-03-05")
    written = _write_day_objects(s3_store, days)

    def crash(self, keys):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed")

    with monkeypatch.context() as m:
        m.setattr(S3Resource, "delete_keys", crash)
        with pytest.raises(RuntimeError, match="killed"):
            migrate_layout(s3_store)
    assert len(_keys(s3_store)) == len(days) + 1  # the day objects and the year object
    resumed = migrate_layout(s3_store)
    assert (resumed.sessions, resumed.sessions_kept, resumed.objects_removed) == (5, 5, 5)
    assert _keys(s3_store) == [YEAR_2004]
    assert _session_checksums(s3_store, YEAR_2004) == written


def test_a_year_object_that_does_not_verify_keeps_the_day_objects(
    s3_store: S3Resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = sessions_in_range("XNYS", "2004-03-01", "2004-03-05")
    _write_day_objects(s3_store, days)
    read = S3Resource.read_parquet

    def lossy(self, key, *args, **kwargs):  # type: ignore[no-untyped-def]
        table = read(self, key, *args, **kwargs)
        return table.slice(1) if "/year=" in key else table  # a session lost on the way

    monkeypatch.setattr(S3Resource, "read_parquet", lossy)
    with pytest.raises(LayoutMigrationError, match="1 session"):
        migrate_layout(s3_store)
    assert len(_keys(s3_store)) == len(days) + 1  # nothing deleted
