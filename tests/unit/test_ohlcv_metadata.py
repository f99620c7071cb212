"""The OHLCV assets' Dagster metadata: the schema is the bar contract, figures stay numbers,
the preview shows a batch's first and last bars, and the keys are Dagster's own."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from dagster import (
    BoolMetadataValue,
    FloatMetadataValue,
    IntMetadataValue,
    JsonMetadataValue,
    TableMetadataValue,
    TableSchemaMetadataValue,
    TextMetadataValue,
    TimestampMetadataValue,
)
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet, UriMetadataSet

from market_assets.core.bars import BAR_ARROW_SCHEMA, BAR_COLUMNS, KEY_COLUMNS, to_arrow
from market_assets.core.contracts import BAR_CONTRACT
from market_assets.core.universe import default_universe
from market_assets.defs.ohlcv import metadata as md
from market_assets.defs.ohlcv.assets import OHLCV_ASSETS
from market_assets.defs.ohlcv.check_results import to_check_result
from market_assets.quality.evaluation import CheckOutcome
from resources.sources.generator import GeneratorSource


def _bars(symbol: str, day: dt.date) -> pa.Table:
    frame = GeneratorSource().fetch_many([default_universe().resolve(symbol)], [day])
    return to_arrow(frame.reset_index(drop=True))


def test_keys_are_dagsters_standard_keys() -> None:
    def key(name: str) -> str:
        return f"{TableMetadataSet.namespace()}/{name}"

    assert set(TableMetadataSet.model_fields) >= {
        "column_schema",
        "row_count",
        "partition_row_count",
        "table_name",
    }
    assert md.COLUMN_SCHEMA == key("column_schema")
    assert md.ROW_COUNT == key("row_count")
    assert md.PARTITION_ROW_COUNT == key("partition_row_count")
    assert md.TABLE_NAME == key("table_name")
    assert "uri" in UriMetadataSet.model_fields
    assert md.URI == f"{UriMetadataSet.namespace()}/uri"
    # Dagster reads our definition metadata back through its own helper.
    extracted = TableMetadataSet.extract(md.bar_table_definition("market.ohlcv_bars"))
    assert extracted.table_name == "market.ohlcv_bars"
    assert extracted.column_schema == md.bar_column_schema()


def test_column_schema_is_the_bar_contract() -> None:
    schema = md.bar_column_schema()
    assert tuple(c.name for c in schema.columns) == BAR_COLUMNS
    for column, field in zip(schema.columns, BAR_ARROW_SCHEMA, strict=True):
        rule = BAR_CONTRACT.columns[field.name]
        assert column.type == str(field.type)
        assert column.description == rule.description and column.description
        assert column.constraints.nullable is False  # the contract forbids nulls everywhere
        assert column.constraints.unique is False  # no column alone; the key is unique
        assert len(column.constraints.other) == len(rule.checks)
    prices = {c.name: c for c in schema.columns}
    assert "greater_than(0)" in prices["close"].constraints.other
    assert "greater_than_or_equal_to(0)" in prices["volume"].constraints.other
    rules = schema.constraints.other
    assert f"unique ({', '.join(KEY_COLUMNS)})" in rules
    assert "low <= min(open, close)" in rules and "high >= max(open, close)" in rules


def test_bar_assets_carry_the_schema_and_db_bars_its_table() -> None:
    specs = {a.key.path[-1]: next(iter(a.specs)) for a in OHLCV_ASSETS}
    for name in ("raw_bars", "db_bars"):
        value = specs[name].metadata[md.COLUMN_SCHEMA]
        assert isinstance(value, TableSchemaMetadataValue)
        assert value.schema == md.bar_column_schema()
    assert specs["db_bars"].metadata[md.TABLE_NAME].value.endswith(".ohlcv_bars")
    # The rollups and snapshots have other columns: no bar schema is claimed for them.
    assert md.COLUMN_SCHEMA not in specs["bar_rollups"].metadata
    relations = specs["bar_rollups"].metadata["relations"].value
    assert set(relations) == {"M5", "M15", "M30", "H1", "H4", "D1", "W1", "MN1"}
    for spec in specs.values():
        assert spec.description and "market_assets.read.get_ohlcv" in spec.description
    assert "ohlcv/timeframe=<TF>/date=<session>/symbol=<SYMBOL>/bars.parquet" in (
        specs["raw_bars"].description or ""
    )
    assert "ohlcv:SYMBOL:TF" in (specs["bar_snapshots"].description or "")


def test_figures_keep_their_type() -> None:
    when = dt.datetime(2024, 3, 12, 9, tzinfo=dt.UTC)
    values = {
        "n": md.figure_value(3),
        "np_n": md.figure_value(np.int64(4)),
        "x": md.figure_value(0.25),
        "np_x": md.figure_value(np.float64(0.5)),
        "ok": md.figure_value(True),
        "when": md.figure_value(when),
        "day": md.figure_value(dt.date(2024, 3, 12)),
        "keys": md.figure_value(["2024-03-12|USDJPY"]),
        "dialect": md.figure_value("postgres"),
    }
    assert isinstance(values["n"], IntMetadataValue) and values["n"].value == 3
    assert isinstance(values["np_n"], IntMetadataValue) and values["np_n"].value == 4
    assert isinstance(values["x"], FloatMetadataValue) and values["x"].value == 0.25
    assert isinstance(values["np_x"], FloatMetadataValue)
    assert isinstance(values["ok"], BoolMetadataValue) and values["ok"].value is True
    assert isinstance(values["when"], TimestampMetadataValue)
    assert values["when"].value == when.timestamp()
    assert values["day"] == TextMetadataValue("2024-03-12")
    assert isinstance(values["keys"], JsonMetadataValue)
    assert values["dialect"] == TextMetadataValue("postgres")


def test_check_results_carry_numbers_as_numbers() -> None:
    outcome = CheckOutcome(
        asset="raw_bars",
        name="row_count",
        passed=True,
        figures={"expected": 1440, "actual": np.int64(1440), "share": 1.0, "source": "generator"},
    )
    meta = to_check_result(outcome).metadata
    assert isinstance(meta["expected"], IntMetadataValue) and meta["expected"].value == 1440
    assert isinstance(meta["actual"], IntMetadataValue)
    assert isinstance(meta["share"], FloatMetadataValue)
    assert meta["source"] == TextMetadataValue("generator")


def test_batch_figures_are_named_as_batch_figures() -> None:
    meta = md.batch_figures({"rows": 2880, "partitions": 2})
    assert set(meta) == {"batch_rows", "batch_partitions"}
    assert md.ROW_COUNT not in meta
    assert isinstance(meta["batch_rows"], IntMetadataValue)


def test_partition_rows_and_object() -> None:
    meta = md.partition_rows(1440, rows_quarantined=0)
    assert meta[md.ROW_COUNT].value == meta[md.PARTITION_ROW_COUNT].value == 1440
    assert isinstance(meta["rows_quarantined"], IntMetadataValue)
    key = "ohlcv/timeframe=M1/date=2024-03-12/symbol=USDJPY/bars.parquet"
    assert md.partition_object(md.s3_uri("market-data", key))[md.URI].value == (
        f"s3://market-data/{key}"
    )


def test_common_prefix_is_the_hive_folder() -> None:
    one = "t/ohlcv/timeframe=M1/date=2024-03-12/symbol=USDJPY/bars.parquet"
    other = "t/ohlcv/timeframe=M1/date=2024-03-13/symbol=7203/bars.parquet"
    assert md.common_prefix([one]) == "t/ohlcv/timeframe=M1/date=2024-03-12/symbol=USDJPY/"
    assert md.common_prefix([one, other]) == "t/ohlcv/timeframe=M1/"
    assert md.common_prefix([]) == ""


def test_preview_has_the_first_and_last_bars_of_the_batch() -> None:
    first, last = _bars("USDJPY", dt.date(2024, 3, 11)), _bars("USDJPY", dt.date(2024, 3, 12))
    preview = md.bars_preview([first, last])
    assert isinstance(preview, TableMetadataValue)
    records = [r.data for r in preview.records]
    assert len(records) == 2 * md.PREVIEW_BARS
    total = first.num_rows + last.num_rows
    assert [r["row"] for r in records] == [1, 2, 3, 4, 5, *range(total - 4, total + 1)]
    head, tail = first.slice(0, 5).to_pylist(), last.slice(last.num_rows - 5).to_pylist()
    for record, bar in zip(records, head + tail, strict=True):
        assert record["ts"] == bar["ts"].isoformat()
        assert record["close"] == bar["close"] and record["symbol"] == bar["symbol"]
    assert [c.name for c in preview.schema.columns] == ["row", *BAR_COLUMNS]


def test_preview_of_a_small_batch_shows_every_bar_once() -> None:
    bars = _bars("USDJPY", dt.date(2024, 3, 12)).slice(0, 7)
    records = md.bars_preview([bars]).records
    assert [r.data["row"] for r in records] == list(range(1, 8))
    assert md.bars_preview([]).records == []
