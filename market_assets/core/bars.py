"""The one bar schema shared by sources, Parquet, PostgreSQL and Redis.

Why float64 and not decimal for prices: vendors deliver prices as binary floats already (JSON
numbers and CSV text parsed by their own float code), so a decimal column would only preserve
the rounding of a value that was a double to begin with. Arrow, Parquet and PostgreSQL
`double precision` (float8) all store IEEE-754 doubles bit for bit, so a float64 survives every
hop of the pipeline unchanged, and vectorised numpy/Arrow/SQL arithmetic on doubles is one to
two orders of magnitude faster than on decimals. Sources round prices to the instrument's tick
(`k / 10**d`, the double nearest to the decimal price), so equality checks stay meaningful.

Volume is float64 too: it is exact for integers up to 2**53 (no real volume comes close) and it
admits fractional volume (FX, crypto, fractional shares) without a second schema.

`adj_factor` is the vendor's adjustment factor of a corporate action on its ex-date session
(1.0 on every other session; market_assets/core/adjustments.py); raw prices are kept as delivered
and adjusted prices are derived on read, so a later split or dividend never rewrites stored
history.

`ts` is the bar's opening time in UTC; `session_date` is the trading session (in the symbol's
exchange calendar) that the bar belongs to, which is what D1/W1/MN1 group by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

BAR_COLUMNS: tuple[str, ...] = (
    "symbol",
    "timeframe",
    "ts",
    "session_date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "adj_factor",
    "source",
)
KEY_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "ts")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
FLOAT_COLUMNS: tuple[str, ...] = (*PRICE_COLUMNS, "volume", "adj_factor")
STRING_COLUMNS: tuple[str, ...] = ("symbol", "timeframe", "source")

TS_TYPE = pa.timestamp("ns", tz="UTC")

BAR_ARROW_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("timeframe", pa.string(), nullable=False),
        pa.field("ts", TS_TYPE, nullable=False),
        pa.field("session_date", pa.date32(), nullable=False),
        pa.field("open", pa.float64(), nullable=False),
        pa.field("high", pa.float64(), nullable=False),
        pa.field("low", pa.float64(), nullable=False),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("adj_factor", pa.float64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

# The pandas dtypes a bar frame has in memory; they are what `pa.Table.to_pandas()` gives back
# for BAR_ARROW_SCHEMA under pandas 3 (session_date as datetime.date objects).
STRING_DTYPE = pd.StringDtype(na_value=np.nan)
BAR_PANDAS_DTYPES: dict[str, object] = {
    "symbol": STRING_DTYPE,
    "timeframe": STRING_DTYPE,
    "ts": pd.DatetimeTZDtype("ns", "UTC"),
    "session_date": np.dtype(object),
    **{c: np.dtype("float64") for c in FLOAT_COLUMNS},
    "source": STRING_DTYPE,
}


class BarSchemaError(TypeError):
    """A frame does not fit the bar schema; the message names the column and the problem."""


def empty_bars() -> pd.DataFrame:
    """A zero-row frame with the bar columns and dtypes (so concat keeps the dtypes)."""
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in BAR_PANDAS_DTYPES.items()})


def _column_to_arrow(name: str, series: pd.Series, target: pa.DataType) -> pa.Array:
    dtype = series.dtype
    if name == "ts":
        if not isinstance(dtype, pd.DatetimeTZDtype) and not (
            isinstance(dtype, pd.ArrowDtype)
            and pa.types.is_timestamp(dtype.pyarrow_dtype)
            and dtype.pyarrow_dtype.tz is not None
        ):
            raise BarSchemaError(
                f"column 'ts' must be timezone-aware timestamps (UTC bar opening time), got "
                f"{dtype}; localise naive times explicitly before building bars"
            )
        arr = pa.array(series, from_pandas=True)
        return arr.cast(TS_TYPE, safe=True)
    if name == "session_date":
        if pd.api.types.is_datetime64_any_dtype(dtype):
            if isinstance(dtype, pd.DatetimeTZDtype):
                raise BarSchemaError(
                    "column 'session_date' must be dates (or naive midnights), got "
                    f"timezone-aware {dtype}"
                )
            values = series.to_numpy(dtype="datetime64[ns]")
            days = values.astype("datetime64[D]")
            if (days != values).any():
                raise BarSchemaError("column 'session_date' has times that are not midnight")
            return pa.array(days, type=pa.date32(), from_pandas=True)
        arr = pa.array(series, from_pandas=True)
        if not (pa.types.is_date(arr.type) or pa.types.is_null(arr.type)):
            raise BarSchemaError(
                f"column 'session_date' must hold datetime.date values, got {arr.type}"
            )
        return arr.cast(pa.date32())
    if name in STRING_COLUMNS:
        arr = pa.array(series, from_pandas=True)
        if not (
            pa.types.is_string(arr.type)
            or pa.types.is_large_string(arr.type)
            or pa.types.is_null(arr.type)
        ):
            raise BarSchemaError(f"column {name!r} must be strings, got {dtype} ({arr.type})")
        return arr.cast(pa.string())
    # float columns: accept any real numeric dtype, refuse bools, strings and objects.
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise BarSchemaError(f"column {name!r} must be numeric (float64), got {dtype}")
    arr = pa.array(series, from_pandas=True)
    return arr.cast(target, safe=True)


def to_arrow(df: pd.DataFrame, *, drop_extra: bool = False) -> pa.Table:
    """Cast a bar frame to BAR_ARROW_SCHEMA (column order, types, no nulls).

    Raises BarSchemaError naming the offending column rather than letting a generic Arrow
    error (or a silent cast of e.g. naive timestamps) surface later at write time. Extra
    columns are an error unless `drop_extra` is set, so that a typo is not silently lost.
    """
    missing = [c for c in BAR_COLUMNS if c not in df.columns]
    if missing:
        raise BarSchemaError(f"bar frame is missing columns {missing}")
    extra = [c for c in df.columns if c not in BAR_COLUMNS]
    if extra and not drop_extra:
        raise BarSchemaError(f"bar frame has unexpected columns {extra[:10]}")
    arrays: list[pa.Array] = []
    for field in BAR_ARROW_SCHEMA:
        series = df[field.name]
        try:
            arr = _column_to_arrow(field.name, series, field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise BarSchemaError(
                f"column {field.name!r} ({series.dtype}) does not cast to {field.type}: {exc}"
            ) from exc
        if arr.null_count:
            raise BarSchemaError(f"column {field.name!r} has {arr.null_count} null/NaN values")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=BAR_ARROW_SCHEMA)


def from_arrow(table: pa.Table) -> pd.DataFrame:
    """Arrow (e.g. read from Parquet) to a bar frame with the canonical pandas dtypes."""
    table = table.select(list(BAR_COLUMNS)).cast(BAR_ARROW_SCHEMA)
    return table.to_pandas()


def normalize_bars(df: pd.DataFrame) -> pd.DataFrame:
    """Any bar-like frame (e.g. read back from PostgreSQL) with canonical dtypes, via Arrow."""
    return from_arrow(to_arrow(df, drop_extra=True))


def concat_bars(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate bar frames, keeping bar dtypes even when the list is empty."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_bars()
    return pd.concat(frames, ignore_index=True)[list(BAR_COLUMNS)]


# --- checksum -----------------------------------------------------------------------------------

_CANONICAL_NAN = np.array([np.nan], dtype=np.float64).view(np.int64)[0]


def _string_ranks(column: pa.ChunkedArray, name: str, h: Any) -> np.ndarray:
    """Hash the sorted distinct values; return each row's rank among them (order-free codes)."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    dictionary = encoded.dictionary
    order = pc.array_sort_indices(dictionary).to_numpy()
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[order] = np.arange(len(dictionary), dtype=np.int64)
    h.update(f"{name}:{len(dictionary)}".encode())
    for value in dictionary.take(order).to_pylist():
        b = value.encode("utf-8")
        h.update(len(b).to_bytes(4, "little"))
        h.update(b)
    return rank[encoded.indices.to_numpy(zero_copy_only=False)]


def _float_bits(column: pa.ChunkedArray) -> np.ndarray:
    arr = column.to_numpy()
    # +0.0 turns -0.0 into 0.0; all NaNs collapse to one payload.
    bits = (arr + 0.0).view(np.int64)
    bits[np.isnan(arr)] = _CANONICAL_NAN
    return bits


def _strictly_increasing(group: np.ndarray, ts: np.ndarray) -> bool:
    dg, dt_ = np.diff(group), np.diff(ts)
    return bool(np.all((dg > 0) | ((dg == 0) & (dt_ > 0))))


def frame_checksum(df: pd.DataFrame) -> str:
    """A stable sha256 of a bar frame's content, independent of row order and storage.

    Rows are ordered by (symbol, timeframe, ts) and, only when those keys repeat, by every
    other column, so two frames with the same rows hash the same. Timestamps hash as int64 ns
    UTC, session dates as int days, floats as their IEEE-754 bit patterns: exactly the values
    that Parquet and PostgreSQL float8/timestamptz preserve, so a round trip keeps the checksum.
    Strings hash by value (sorted distinct values, then per-row ranks). Extra columns are
    ignored.
    """
    return table_checksum(to_arrow(df, drop_extra=True))


def table_checksum(table: pa.Table) -> str:
    """`frame_checksum` of a table already in BAR_ARROW_SCHEMA (no second conversion)."""
    h = hashlib.sha256()
    h.update(("bars-v1|" + ",".join(BAR_COLUMNS) + f"|{table.num_rows}|").encode())
    cols: dict[str, np.ndarray] = {}
    for name in STRING_COLUMNS:
        cols[name] = _string_ranks(table.column(name), name, h)
    cols["ts"] = table.column("ts").to_numpy().view(np.int64)
    cols["session_date"] = table.column("session_date").cast(pa.int32()).to_numpy()
    cols["session_date"] = cols["session_date"].astype(np.int64)
    for name in FLOAT_COLUMNS:
        cols[name] = _float_bits(table.column(name))

    # One int64 per (symbol, timeframe) preserves their joint order.
    group = cols["symbol"] * (int(cols["timeframe"].max(initial=0)) + 1) + cols["timeframe"]
    order: np.ndarray | None = None
    if not _strictly_increasing(group, cols["ts"]):  # frames usually arrive sorted
        order = np.lexsort((cols["ts"], group))  # lexsort sorts by the last key first
        if not _strictly_increasing(group[order], cols["ts"][order]):  # repeated keys
            tie_breakers = [cols[c] for c in reversed(BAR_COLUMNS) if c not in KEY_COLUMNS]
            order = np.lexsort((*tie_breakers, cols["ts"], group))

    for name in BAR_COLUMNS:
        data = cols[name] if order is None else cols[name][order]
        h.update(name.encode())
        h.update(np.ascontiguousarray(data, dtype="<i8"))
    return h.hexdigest()


def session_date_column(days: np.ndarray) -> np.ndarray:
    """datetime64[D] values to the object array of datetime.date that the bar frame holds."""
    return np.asarray(days, dtype="datetime64[D]").astype(object)
