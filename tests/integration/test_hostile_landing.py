"""Hostile file names and symbols through S3, the landing ledger and quarantine (real servers).

Keys and symbols travel as bind parameters only: a key full of quotes, semicolons and unicode
is stored and reported exactly as it was dropped, and a hostile symbol lands in quarantine
with its spelling intact, while the clean rows of the same drop proceed.
"""

from __future__ import annotations

import pytest

from market_assets.core.partition_keys import BarPartition
from market_assets.ohlcv.landing_ledger import discover_new_files, record_files
from resources.postgres import PostgresResource
from resources.s3 import S3Resource
from tests.integration.test_landing import CLEAN_PARTITIONS, _run, _stored, _upload
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

HOSTILE_KEYS = [
    "landing/generic/it's; DROP TABLE ohlcv_bars; --.csv",
    'landing/generic/"quoted" name.csv',
    "landing/generic/日本語 ファイル.csv",
    "landing/generic/a%s{0}&x=1 +.csv",  # (SeaweedFS turns a backslash into /)
]
HOSTILE_SYMBOL = "X'); DELETE FROM quarantine; --"


def test_hostile_keys_and_symbols_are_stored_verbatim_and_refused_or_quarantined(
    s3_store: S3Resource, postgres: PostgresResource, db: DbTarget
) -> None:
    for key in HOSTILE_KEYS[:-1]:
        _upload(s3_store, key, "clean_generic.csv")
    bad_rows = (
        "symbol,timestamp,open,high,low,close,volume\n"
        f'"{HOSTILE_SYMBOL}",2024-03-11 00:00,1,2,0.5,1.5,10\n'
    ).encode()
    _upload(s3_store, HOSTILE_KEYS[-1], bad_rows)
    _upload(s3_store, "landing/'; --/x.csv", "clean_generic.csv")  # an unknown vendor folder

    found = discover_new_files(s3_store, postgres)
    assert sorted(f.key for f in found) == sorted([*HOSTILE_KEYS, "landing/'; --/x.csv"])
    with postgres.transaction() as conn:
        record_files(conn, found, "processed", run_id="hostile")

    outcomes = _run(s3_store, postgres, None, [BarPartition(d, s) for d, s in CLEAN_PARTITIONS])
    assert [o.entry.status for o in outcomes] == ["success"] * 4
    for day, symbol in CLEAN_PARTITIONS:
        in_s3, in_db = _stored(s3_store, db, symbol, day)
        assert in_s3 == in_db

    with db.connect() as conn:
        ledger = dict(conn.execute("SELECT file_key, status FROM landing_files").fetchall())
        quarantined = conn.execute(
            "SELECT symbol, rule, reason, source_ref FROM quarantine WHERE asset = 'landing'"
        ).fetchall()
        (tables,) = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'ohlcv_bars'"
        ).fetchone()
    assert ledger == {**dict.fromkeys(HOSTILE_KEYS, "processed"), "landing/'; --/x.csv": "rejected"}
    assert quarantined == [
        (
            HOSTILE_SYMBOL,
            "unknown_symbol",
            f"landing symbol {HOSTILE_SYMBOL!r} is not in the universe",
            HOSTILE_KEYS[-1],
        )
    ]
    assert tables >= 1
