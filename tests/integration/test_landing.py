"""Landing zone on real servers: vendor files -> raw_bars (S3) -> db_bars, with a ledger.

Files are uploaded to S3 under `landing/<vendor>/`, discovered through the ledger, and run
through the same functions as the raw_bars/db_bars assets (collect_partitions,
record_outcomes, load_partitions_from_s3) with a tiny stand-in for BarSourcesResource.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from market_assets.core.bars import frame_checksum, from_arrow
from market_assets.core.partition_keys import BarPartition
from market_assets.core.storage_layout import raw_object_key
from market_assets.ohlcv.collect import PartitionOutcome, collect_partitions, record_outcomes
from market_assets.ohlcv.landing_ledger import (
    LocalFileStore,
    discover_new_files,
    partitions_of,
    record_files,
    record_rejected,
    scan_of,
)
from market_assets.ohlcv.load import load_partitions_from_s3
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from resources.sources.base import SourceError
from resources.sources.landing import LandingFile, LandingSource, S3FileStore
from tests.integration.convergence import stored_bars
from tests.integration.sources import OneSource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "landing"
D1, D2 = dt.date(2024, 3, 11), dt.date(2024, 3, 12)


def _upload(s3: S3Resource, key: str, fixture: str | bytes) -> None:
    body = fixture if isinstance(fixture, bytes) else (FIXTURES / fixture).read_bytes()
    s3.client().put_object(Bucket=s3.bucket, Key=s3.full_key(key), Body=body)


def _run(
    s3: S3Resource, postgres: PostgresResource, files: list[LandingFile] | None, parts: list
) -> list[PartitionOutcome]:
    """One raw_bars + db_bars batch over `parts`, reading only `files` (None: every file)."""
    keys = None if files is None else [f.key for f in files]
    source = LandingSource(S3FileStore(s3), keys=keys)
    outcomes = collect_partitions(parts, OneSource(source), s3, run_id="landing-test")  # type: ignore[arg-type]
    record_outcomes(postgres, outcomes, run_id="landing-test")
    record_rejected(postgres, [source], run_id="landing-test")
    load_partitions_from_s3(s3, postgres, [o.partition for o in outcomes], "landing-test")
    return outcomes


def _land(s3: S3Resource, postgres: PostgresResource, key: str, fixture: str | bytes):  # type: ignore[no-untyped-def]
    """What the sensor will do: upload, discover, claim, run the covered partitions, finish."""
    _upload(s3, key, fixture)
    new = [f for f in discover_new_files(s3, postgres) if f.key == key]
    assert len(new) == 1
    parts = [BarPartition(d, s) for d, s in partitions_of(new[0])]
    with postgres.transaction() as conn:
        record_files(conn, new, "discovered", run_id="landing-test")
    outcomes = _run(s3, postgres, new, parts)
    with postgres.transaction() as conn:
        record_files(conn, new, "processed", run_id="landing-test")
    return new[0], outcomes


def _db_rows(db: DbTarget, symbol: str, day: dt.date) -> pd.DataFrame:
    with db.connect() as conn:
        return stored_bars(conn, symbol, day)


def _stored(s3: S3Resource, db: DbTarget, symbol: str, day: dt.date) -> tuple[str, str]:
    """(S3 checksum, DB checksum) of one partition."""
    in_s3 = from_arrow(s3.read_parquet(raw_object_key("M1", day, symbol)))
    return frame_checksum(in_s3), frame_checksum(_db_rows(db, symbol, day))


def _expected(rows: list[tuple[str, str, float, float, float, float, float]], day: dt.date):  # type: ignore[no-untyped-def]
    frame = pd.DataFrame(rows, columns=["symbol", "ts", "open", "high", "low", "close", "volume"])
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    frame["timeframe"], frame["session_date"] = "M1", day
    frame["adj_factor"], frame["source"] = 1.0, "landing"
    return frame


CLEAN_PARTITIONS = [(D1, "7203"), (D1, "USDJPY"), (D2, "7203"), (D2, "USDJPY")]


def test_clean_generic_file_lands_in_s3_and_db_identically(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    file, outcomes = _land(
        s3_store, postgres, "landing/generic/clean_generic.csv", "clean_generic.csv"
    )
    assert partitions_of(file) == CLEAN_PARTITIONS
    assert [o.entry.status for o in outcomes] == ["success"] * 4
    assert sum(o.entry.rows_written for o in outcomes) == 8

    expected = _expected(
        [
            ("7203", "2024-03-11 00:00", 3500, 3510, 3495, 3505, 1000),
            ("7203", "2024-03-11 00:01", 3505, 3508, 3500, 3502, 800),
        ],
        D1,
    )
    assert _stored(s3_store, db, "7203", D1) == (frame_checksum(expected),) * 2
    for day, symbol in CLEAN_PARTITIONS:
        in_s3, in_db = _stored(s3_store, db, symbol, day)
        assert in_s3 == in_db
        assert len(_db_rows(db, symbol, day)) == 2

    with db.connect() as conn:
        ledger = conn.execute(
            "SELECT status, vendor, rows_total, rows_unassigned, partitions, processed_at"
            " FROM landing_files"
        ).fetchall()
    assert len(ledger) == 1
    status, vendor, rows_total, unassigned, parts, processed_at = ledger[0]
    assert (status, vendor, rows_total, unassigned) == ("processed", "generic", 8, 0)
    assert parts == [[d.isoformat(), s] for d, s in CLEAN_PARTITIONS]
    assert processed_at is not None


def test_every_kind_of_bad_row_is_quarantined_and_nothing_else_changes(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    _land(s3_store, postgres, "landing/generic/clean_generic.csv", "clean_generic.csv")
    others = [(D1, "USDJPY"), (D2, "7203"), (D2, "USDJPY")]
    before = {p: _stored(s3_store, db, p[1], p[0]) for p in others}

    file, outcomes = _land(
        s3_store, postgres, "landing/generic/bad_rows_generic.csv", "bad_rows_generic.csv"
    )
    # The file covers one partition; the unknown symbol has none and is quarantined at landing.
    assert partitions_of(file) == [(D1, "7203")]
    (outcome,) = outcomes
    assert outcome.entry.status == "partial"
    assert (outcome.entry.rows_in, outcome.entry.rows_written) == (9, 2)
    assert outcome.entry.rows_quarantined == 7

    with db.connect() as conn:
        quarantined = conn.execute(
            "SELECT asset, symbol, rule, row_data->>'ts', row_data->>'open', reason"
            " FROM quarantine ORDER BY asset, row_data->>'ts', rule"
        ).fetchall()
    rules = [(a, s, r, ts, o) for a, s, r, ts, o, _ in quarantined]
    assert rules == [
        ("landing", "ACME-X", "unknown_symbol", "2024-03-11 00:05:00+00:00", "10.0"),
        ("raw_bars", "7203", "outside_partition", "2024-03-10T23:00:00+00:00", "3500.0"),
        ("raw_bars", "7203", "non_finite", "2024-03-11T00:01:00+00:00", "NaN"),
        ("raw_bars", "7203", "non_positive_price", "2024-03-11T00:02:00+00:00", "-3500.0"),
        ("raw_bars", "7203", "high_below_low", "2024-03-11T00:03:00+00:00", "3505.0"),
        ("raw_bars", "7203", "duplicate_timestamp", "2024-03-11T00:04:00+00:00", "3505.0"),
        ("raw_bars", "7203", "duplicate_timestamp", "2024-03-11T00:04:00+00:00", "3506.0"),
        ("raw_bars", "7203", "non_finite", "2024-03-11T00:05:00+00:00", "NaN"),  # was 'abc'
    ]
    assert all(reason for *_, reason in quarantined)
    # The unparseable text is not lost: the ledger keeps it with its line.
    with db.connect() as conn:
        issues, unassigned = conn.execute(
            "SELECT issues, rows_unassigned FROM landing_files WHERE file_key = %s", (file.key,)
        ).fetchone()
    assert issues == [{"line": 9, "column": "open", "value": "abc"}]
    assert unassigned == 1

    # What proceeded: the two good rows; the file is authoritative for 7203 on D1.
    proceeded = _expected(
        [
            ("7203", "2024-03-11 00:00", 3500, 3510, 3495, 3505, 1000),
            ("7203", "2024-03-11 00:06", 3502, 3506, 3501, 3504, 600),
        ],
        D1,
    )
    assert _stored(s3_store, db, "7203", D1) == (frame_checksum(proceeded),) * 2
    # Every row of the file is accounted for: stored + quarantined by rules + at landing.
    assert 2 + 7 + 1 == scan_of(file).rows_total
    # Nothing stored for the other partitions changed.
    assert {p: _stored(s3_store, db, p[1], p[0]) for p in others} == before


@pytest.mark.parametrize(
    ("fixture", "problem"),
    [("garbage.csv", "not UTF-8"), ("missing_columns_generic.csv", "missing columns ['low'")],
)
def test_malformed_file_is_a_clear_error_and_changes_nothing(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget, fixture: str, problem: str
) -> None:
    _land(s3_store, postgres, "landing/generic/clean_generic.csv", "clean_generic.csv")
    before = {p: _stored(s3_store, db, p[1], p[0]) for p in CLEAN_PARTITIONS}

    key = f"landing/generic/{fixture}"
    _upload(s3_store, key, fixture)
    (bad,) = discover_new_files(s3_store, postgres)
    with pytest.raises(SourceError) as raised:
        partitions_of(bad)
    assert key in str(raised.value) and problem in str(raised.value)
    assert raised.value.retryable is False
    with postgres.transaction() as conn:
        record_files(conn, [bad], "discovered")
    with db.connect() as conn:
        status, error = conn.execute(
            "SELECT status, error FROM landing_files WHERE file_key = %s", (key,)
        ).fetchone()
    assert status == "rejected" and key in error
    assert discover_new_files(s3_store, postgres) == []  # accounted for: not offered again

    # A run reading the whole prefix skips the malformed file; the clean file's partitions
    # are rewritten from it, unchanged.
    outcomes = _run(s3_store, postgres, None, [BarPartition(d, s) for d, s in CLEAN_PARTITIONS])
    assert [o.entry.status for o in outcomes] == ["success"] * 4
    assert {p: _stored(s3_store, db, p[1], p[0]) for p in CLEAN_PARTITIONS} == before


def test_whole_prefix_read_rejects_a_malformed_file_in_the_ledger_and_lands_the_rest(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    """No sensor saw these files: the run itself accounts for the bad one (issue 4)."""
    _upload(s3_store, "landing/generic/clean_generic.csv", "clean_generic.csv")
    _upload(s3_store, "landing/generic/garbage.csv", "garbage.csv")
    _upload(s3_store, "landing/nosuchvendor/x.csv", "clean_generic.csv")
    outcomes = _run(s3_store, postgres, None, [BarPartition(d, s) for d, s in CLEAN_PARTITIONS])
    assert [o.entry.status for o in outcomes] == ["success"] * 4
    for day, symbol in CLEAN_PARTITIONS:
        in_s3, in_db = _stored(s3_store, db, symbol, day)
        assert in_s3 == in_db and len(_db_rows(db, symbol, day)) == 2
    with db.connect() as conn:
        ledger = dict(
            conn.execute(
                "SELECT file_key, status || ': ' || error FROM landing_files"
                " WHERE status = 'rejected'"
            ).fetchall()
        )
    assert set(ledger) == {"landing/generic/garbage.csv", "landing/nosuchvendor/x.csv"}
    assert "not UTF-8" in ledger["landing/generic/garbage.csv"]
    assert (
        "no column mapping for vendor folder 'nosuchvendor'" in ledger["landing/nosuchvendor/x.csv"]
    )
    # Running again records nothing twice and still lands the clean file.
    _run(s3_store, postgres, None, [BarPartition(d, s) for d, s in CLEAN_PARTITIONS])
    with db.connect() as conn:
        (n,) = conn.execute("SELECT count(*) FROM landing_files").fetchone()
    assert n == 2


def test_ledger_discovers_each_version_once(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget, tmp_path: Path
) -> None:
    key = "landing/generic/clean_generic.csv"
    _upload(s3_store, key, "clean_generic.csv")
    (first,) = discover_new_files(s3_store, postgres)
    with postgres.transaction() as conn:
        record_files(conn, [first], "discovered")
    assert discover_new_files(s3_store, postgres) == []
    with postgres.transaction() as conn:  # recording again updates the same row
        record_files(conn, [first], "processed")
    assert discover_new_files(s3_store, postgres) == []

    changed = (FIXTURES / "clean_generic.csv").read_bytes().replace(b"3505,1000", b"3505,1001")
    _upload(s3_store, key, changed)
    (second,) = discover_new_files(s3_store, postgres)
    assert second.key == first.key and second.etag != first.etag
    with postgres.transaction() as conn:
        record_files(conn, [second], "discovered")
    assert discover_new_files(s3_store, postgres) == []
    with db.connect() as conn:
        versions = conn.execute(
            "SELECT etag, status FROM landing_files WHERE file_key = %s ORDER BY id", (key,)
        ).fetchall()
    assert versions == [(first.etag, "processed"), (second.etag, "discovered")]

    # The local-folder store behaves the same (content hash as etag).
    local = tmp_path / "landing" / "generic"
    local.mkdir(parents=True)
    (local / "a.csv").write_bytes((FIXTURES / "clean_generic.csv").read_bytes())
    store = LocalFileStore(tmp_path)
    (found,) = discover_new_files(store, postgres)
    with postgres.transaction() as conn:
        record_files(conn, [found], "processed")
    assert discover_new_files(store, postgres) == []
    (local / "a.csv").write_bytes(changed)
    (again,) = discover_new_files(store, postgres)
    assert again.key == "landing/generic/a.csv" and again.etag != found.etag


def test_jst_vendor_file_lands_at_utc_times_and_session_dates(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    file, outcomes = _land(
        s3_store, postgres, "landing/jquants_csv/minutes.csv", "jst_minutes_jquants.csv"
    )
    assert partitions_of(file) == [(D1, "7203"), (D2, "7203")]
    assert [o.entry.status for o in outcomes] == ["success", "success"]
    d1 = _db_rows(db, "7203", D1)
    # 09:00 and 12:30 JST (after the lunch break) are 00:00 and 03:30 UTC.
    assert list(d1["ts"]) == [
        pd.Timestamp("2024-03-11 00:00", tz="UTC"),
        pd.Timestamp("2024-03-11 03:30", tz="UTC"),
    ]
    assert list(_db_rows(db, "7203", D2)["ts"]) == [pd.Timestamp("2024-03-12 00:00", tz="UTC")]
    assert _stored(s3_store, db, "7203", D1)[0] == _stored(s3_store, db, "7203", D1)[1]


def test_mt5_server_time_maps_to_fx_sessions(tmp_path: Path) -> None:
    """UTC+2 server times: 22:59 is 20:59 UTC (session of the 11th); 23:00 rolls to the 12th."""
    folder = tmp_path / "landing" / "mt5"
    folder.mkdir(parents=True)
    (folder / "USDJPY_M1_202403.csv").write_bytes((FIXTURES / "USDJPY_M1_202403.csv").read_bytes())
    (file,) = LocalFileStore(tmp_path).list("landing/")
    assert partitions_of(file) == [(D1, "USDJPY"), (D2, "USDJPY")]
    bars = scan_of(file).bars
    assert list(bars["ts"]) == [
        pd.Timestamp("2024-03-11 20:59", tz="UTC"),
        pd.Timestamp("2024-03-11 21:00", tz="UTC"),
    ]


def test_a_restated_file_keeps_the_previous_file_and_raw_object_versions(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    """The vendor re-sends the same key with one volume corrected: the new bytes land and
    become current everywhere, and both the old landing file and the old raw partition object
    stay readable by version id (the bucket is versioned)."""
    key = "landing/generic/clean_generic.csv"
    original = (FIXTURES / "clean_generic.csv").read_bytes()
    restated = original.replace(b"3505,1000", b"3505,1001")
    assert restated != original
    first, _ = _land(s3_store, postgres, key, original)
    second, outcomes = _land(s3_store, postgres, key, restated)
    assert second.etag != first.etag
    assert {o.entry.status for o in outcomes} == {"success"}

    latest_file, previous_file = s3_store.object_versions(key)
    assert s3_store.read_bytes(key) == restated
    assert s3_store.read_bytes(key, previous_file.version_id) == original
    assert latest_file.is_latest

    raw = raw_object_key("M1", D1, "7203")
    new, old = s3_store.object_versions(raw)
    assert (
        _first_volume(s3_store.read_parquet(raw))
        == 1001
        == _first_volume(s3_store.read_parquet(raw, version_id=new.version_id))
    )
    assert _first_volume(s3_store.read_parquet(raw, version_id=old.version_id)) == 1000
    assert _db_rows(db, "7203", D1)["volume"].iloc[0] == 1001
    in_s3, in_db = _stored(s3_store, db, "7203", D1)
    assert in_s3 == in_db


def _first_volume(table: pa.Table) -> float:
    return table.column("volume").to_pylist()[0]
