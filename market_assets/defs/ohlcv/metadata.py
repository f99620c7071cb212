"""The OHLCV assets' metadata in Dagster's own terms: standard keys, typed values, one place.

Dagster's UI understands a few keys (`dagster/column_schema`, `dagster/row_count`,
`dagster/uri`, `dagster/table_name`) and charts every numeric entry over time in the Plots tab,
so figures are ints, floats and timestamps, never numbers as text. Dagster 1.13 spells the keys
in `TableMetadataSet` and `UriMetadataSet`, but does not export those from `dagster` (they live
in `dagster._core`), so the keys are named once below and tests/unit/test_ohlcv_metadata.py
checks them against Dagster's classes.

Where an entry goes follows from how Dagster records a range run: each partition gets its own
materialization event, and the run's `MaterializeResult` metadata is copied onto every one of
them. So what is true of one partition (its rows, its object) is added to that partition alone
(`context.add_asset_metadata(..., partition_key=...)`); figures of the whole batch carry a
`batch_` name, because on a partition's event a bare `rows` would read as that partition's; and
the preview of the batch's first and last bars goes to one partition (the run's last), not to a
thousand copies (ten rows on every event made each event ten times larger).

Everything here is pure: values in, Dagster metadata out.
"""

from __future__ import annotations

import datetime as dt
import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from dagster import (
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableRecord,
    TableSchema,
)

from market_assets.core.bars import BAR_ARROW_SCHEMA, BAR_COLUMNS
from market_assets.core.contracts import BAR_CONTRACT

PREVIEW_BARS = 5  # first and last bars of a batch in its preview

# Dagster's standard keys (TableMetadataSet / UriMetadataSet fields in the "dagster" namespace).
COLUMN_SCHEMA = "dagster/column_schema"
ROW_COUNT = "dagster/row_count"
PARTITION_ROW_COUNT = "dagster/partition_row_count"
TABLE_NAME = "dagster/table_name"
URI = "dagster/uri"


def _check_text(check: Any) -> str:
    return str(check.description or check.error or check.name)


def bar_column_schema() -> TableSchema:
    """The bar contract as a Dagster table schema: every column of BAR_ARROW_SCHEMA in order,
    its Arrow type, the contract's description and per-column checks, nullability from both
    (a column is nullable only if neither forbids nulls), and the contract's row-level checks
    as table constraints. No single column is unique; the key (symbol, timeframe, ts) is."""
    columns = []
    for field in BAR_ARROW_SCHEMA:
        rule = BAR_CONTRACT.columns[field.name]
        columns.append(
            TableColumn(
                name=field.name,
                type=str(field.type),
                description=rule.description,
                constraints=TableColumnConstraints(
                    nullable=bool(field.nullable and rule.nullable),
                    unique=bool(rule.unique),
                    other=[_check_text(c) for c in rule.checks],
                ),
            )
        )
    table_rules = [_check_text(c) for c in BAR_CONTRACT.checks]
    if BAR_CONTRACT.strict:
        table_rules.append("no columns besides these")
    return TableSchema(columns=columns, constraints=TableConstraints(other=table_rules))


def bar_table_definition(table_name: str | None = None) -> dict[str, MetadataValue]:
    """Definition metadata of an asset that stores bars of the contract (and its table)."""
    meta = {COLUMN_SCHEMA: MetadataValue.table_schema(bar_column_schema())}
    if table_name is not None:
        meta.update(table(table_name))
    return meta


def table(name: str) -> dict[str, MetadataValue]:
    return {TABLE_NAME: MetadataValue.text(name)}


def qualified(schema: str, relation: str) -> str:
    return f"{schema}.{relation}"


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key.lstrip('/')}"


def common_prefix(keys: Iterable[str]) -> str:
    """The deepest folder holding every key (`ohlcv/timeframe=M1/` for a batch of dates and
    symbols, the partition's folder for one object); empty for no keys."""
    keys = list(keys)
    if not keys:
        return ""
    prefix = posixpath.commonprefix([posixpath.dirname(k) + "/" for k in keys])
    return prefix[: prefix.rfind("/") + 1]


def partition_rows(rows: int, **figures: int) -> dict[str, MetadataValue]:
    """A partition's own row count under Dagster's keys (`row_count`, which the UI shows and
    charts, and `partition_row_count`, the key Dagster defines for a partition's rows), and
    its other figures as ints."""
    meta = {ROW_COUNT: MetadataValue.int(rows), PARTITION_ROW_COUNT: MetadataValue.int(rows)}
    meta.update({name: MetadataValue.int(int(v)) for name, v in figures.items()})
    return meta


def partition_object(uri: str) -> dict[str, MetadataValue]:
    return {URI: MetadataValue.text(uri)}


def held_back(reason: str) -> dict[str, MetadataValue]:
    """A partition the step held back: nothing new was stored, the previous data stays."""
    return {"held_back": MetadataValue.text(reason)}


def skipped(reason: str) -> dict[str, MetadataValue]:
    """A partition the step skipped on purpose (outside the symbol's listing, before its first
    data): nothing was asked of the source or stored, and nothing is missing."""
    return {"skipped": MetadataValue.text(reason)}


def batch_figures(figures: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Figures of the whole run, named `batch_<name>`: Dagster copies them onto the event of
    every partition of the run, where only a batch name tells them from the partition's."""
    return {f"batch_{name}": figure_value(v) for name, v in figures.items()}


def figure_value(value: Any) -> MetadataValue:
    """A figure as typed metadata: bool, int, float, timestamp, JSON for lists and maps, text
    for the rest (numbers as numbers, so the UI plots them)."""
    if value is None:
        return MetadataValue.null()
    if isinstance(value, bool | np.bool_):
        return MetadataValue.bool(bool(value))
    if isinstance(value, int | np.integer):
        return MetadataValue.int(int(value))
    if isinstance(value, float | np.floating):
        return MetadataValue.float(float(value))
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return MetadataValue.timestamp(value)
    if isinstance(value, dt.date):
        return MetadataValue.text(value.isoformat())
    if isinstance(value, list | tuple | dict):
        return MetadataValue.json(_jsonable(value))
    return MetadataValue.text(str(value))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    return str(value)


def _cell(value: Any) -> str | int | float | bool | None:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)


def _preview_schema() -> TableSchema:
    base = bar_column_schema().columns
    return TableSchema(
        columns=[TableColumn("row", "int", "Position of the bar in the run's batch (1-based)")]
        + [TableColumn(c.name, c.type) for c in base]
    )


def bars_preview(tables: Sequence[pa.Table], n: int = PREVIEW_BARS) -> MetadataValue:
    """The first `n` and last `n` bars of a batch given as its partitions' tables in order
    (every bar once when the batch has no more than 2n), with their position in the batch."""
    batch = pa.concat_tables(list(tables)) if tables else BAR_ARROW_SCHEMA.empty_table()
    total = batch.num_rows
    if total <= 2 * n:
        spans = [(0, total)]
    else:
        spans = [(0, n), (total - n, n)]
    records = []
    for start, length in spans:
        rows = batch.slice(start, length).select(list(BAR_COLUMNS)).to_pylist()
        for i, row in enumerate(rows):
            cells = {"row": start + i + 1, **{k: _cell(v) for k, v in row.items()}}
            records.append(TableRecord(cells))
    return MetadataValue.table(records, schema=_preview_schema())
