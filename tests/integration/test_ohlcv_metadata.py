"""What a batched run leaves in the Dagster instance: each partition's own row count and object,
batch figures under batch names, one preview, the schema on the definition, numeric checks."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    FloatMetadataValue,
    IntMetadataValue,
    TableMetadataValue,
)

from market_assets.core.partition_keys import partition_key
from market_assets.core.storage_layout import raw_object_key
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from resources.s3 import S3Resource
from tests.integration.runs import materialize_range
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DAYS = [dt.date(2024, 3, 11), dt.date(2024, 3, 12)]
SYMBOLS = ["USDJPY", "7203"]
KEYS = [partition_key(d, s) for d in DAYS for s in SYMBOLS]


def _latest_by_partition(instance: DagsterInstance, asset: str) -> dict[str, dict]:
    records = instance.fetch_materializations(AssetKey(asset), limit=100).records
    found: dict[str, dict] = {}
    for record in records:  # newest first
        event = record.asset_materialization
        assert event is not None and event.partition is not None
        found.setdefault(str(event.partition), dict(event.metadata))
    return found


def _s3_rows(s3: S3Resource, day: dt.date, symbol: str) -> int:
    key = s3.full_key(raw_object_key("M1", day, symbol))
    return pq.ParquetFile(s3.filesystem().open_input_file(f"{s3.bucket}/{key}")).metadata.num_rows


def test_a_range_run_records_each_partitions_own_metadata(
    s3_store: S3Resource, postgres: PostgresResource, redis_store: RedisResource, db: DbTarget
) -> None:
    instance = DagsterInstance.ephemeral()
    result = materialize_range(
        s3_store, postgres, redis_store, SYMBOLS, DAYS[0], DAYS[1], instance=instance
    )
    assert result.success

    raw = _latest_by_partition(instance, "raw_bars")
    loaded = _latest_by_partition(instance, "db_bars")
    assert set(raw) == set(loaded) == set(KEYS)
    with db.connect() as conn:
        db_rows = dict(
            ((s, d.isoformat()), n)
            for s, d, n in conn.execute(
                "SELECT symbol, session_date, count(*) FROM ohlcv_bars GROUP BY 1, 2"
            ).fetchall()
        )
    total = 0
    for day in DAYS:
        for symbol in SYMBOLS:
            key = partition_key(day, symbol)
            stored = _s3_rows(s3_store, day, symbol)
            assert raw[key][md.ROW_COUNT] == IntMetadataValue(stored)
            assert raw[key][md.PARTITION_ROW_COUNT].value == stored
            assert loaded[key][md.ROW_COUNT].value == db_rows[(symbol, day.isoformat())] == stored
            object_key = s3_store.full_key(raw_object_key("M1", day, symbol))
            assert raw[key][md.URI].value == f"s3://{s3_store.bucket}/{object_key}"
            total += stored
    # USDJPY and 7203 sessions differ in length: the counts really are per partition.
    assert len({raw[k][md.ROW_COUNT].value for k in KEYS}) > 1
    # Batch figures are copied onto every partition, under names that say so.
    for meta in (*raw.values(), *loaded.values()):
        assert meta["batch_rows"].value == total
    first_meta = raw[KEYS[0]]
    prefix = s3_store.full_key("ohlcv/timeframe=M1/")
    assert first_meta["batch_prefix"].value == f"s3://{s3_store.bucket}/{prefix}"
    assert loaded[KEYS[0]][md.TABLE_NAME].value == f"{postgres.schema_name}.ohlcv_bars"

    # One preview per run, on its last partition, with the batch's first and last bars.
    with_preview = [k for k, meta in raw.items() if "batch_preview" in meta]
    assert with_preview == [partition_key(DAYS[1], "USDJPY")]  # (date, symbol) order: last
    preview = raw[with_preview[0]]["batch_preview"]
    assert isinstance(preview, TableMetadataValue) and len(preview.records) == 10
    rows = [r.data for r in preview.records]
    assert rows[0]["row"] == 1 and rows[-1]["row"] == total
    assert rows[0]["session_date"] == DAYS[0].isoformat()
    assert rows[-1]["session_date"] == DAYS[1].isoformat()

    # The definition carries the bar contract's columns.
    specs = {a.key.path[-1]: next(iter(a.specs)) for a in OHLCV_ASSETS}
    schema = specs["raw_bars"].metadata[md.COLUMN_SCHEMA].schema
    assert schema == md.bar_column_schema()

    # Check results carry their figures as numbers.
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    figures = evaluations["row_count"].metadata
    numeric = [v for v in figures.values() if isinstance(v, IntMetadataValue | FloatMetadataValue)]
    assert numeric, figures
    assert isinstance(evaluations["s3_db_reconciliation"].metadata["partitions_checked"].value, int)


def test_a_batch_above_the_limit_says_where_its_partition_figures_are(
    s3_store: S3Resource,
    postgres: PostgresResource,
    redis_store: RedisResource,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the limit no per-partition call is made (Dagster's O(n^2) validation), and every
    partition's event says so instead of carrying a number that would be wrong."""
    from market_assets.defs.ohlcv import partition_metadata

    monkeypatch.setattr(partition_metadata, "PER_PARTITION_LIMIT", len(KEYS) - 1)
    instance = DagsterInstance.ephemeral()
    result = materialize_range(
        s3_store, postgres, redis_store, SYMBOLS, DAYS[0], DAYS[1], instance=instance
    )
    assert result.success
    for asset in ("raw_bars", "db_bars"):
        events = _latest_by_partition(instance, asset)
        assert set(events) == set(KEYS)
        for meta in events.values():
            assert md.ROW_COUNT not in meta
            assert "data_collection_log" in meta["per_partition_metadata"].value
            assert meta["batch_rows"].value > 0
