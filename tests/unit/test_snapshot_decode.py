"""`snapshots.decode` builds bar frames from Arrow buffers directly; whatever path it takes,
the frame must equal what `Table.to_pandas()` gives for the same payload."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from market_assets.ohlcv.snapshots import decode, encode


def _bars(n: int, unit: str = "ns") -> pd.DataFrame:
    rng = np.random.default_rng(7)
    index = pd.DatetimeIndex(
        pd.date_range("2024-03-11", periods=n, freq="min", tz="UTC").as_unit(unit),
        freq=None,
        name="ts",
    )
    return pd.DataFrame(
        {c: rng.random(n) * 150 for c in ["open", "high", "low", "close", "volume"]}, index=index
    )


def _reference(payload: bytes) -> pd.DataFrame:
    return pa.ipc.open_stream(payload).read_all().to_pandas()


@pytest.mark.parametrize("unit", ["ns", "us"])
def test_bar_snapshot_decodes_like_to_pandas(unit: str) -> None:
    payload = encode(_bars(2000, unit))
    pd.testing.assert_frame_equal(decode(payload), _reference(payload))


@pytest.mark.parametrize("last_n", [1, 1000, 2000, 5000, 0])
def test_last_n_is_the_tail(last_n: int) -> None:
    payload = encode(_bars(2000))
    want = _reference(payload)
    want = want.iloc[-last_n:] if last_n else want.iloc[:0]
    got = decode(payload, last_n)
    pd.testing.assert_frame_equal(got, want)
    assert str(got.index.dtype) == "datetime64[ns, UTC]" and got.index.name == "ts"


def test_other_shapes_take_the_generic_path_unchanged() -> None:
    frame = _bars(10)
    frame["count"] = np.arange(10)  # an int column is not a bar snapshot layout
    frame.loc[frame.index[3], "close"] = np.nan
    payload = encode(frame)
    pd.testing.assert_frame_equal(decode(payload), _reference(payload))
    tokyo = _bars(10).tz_convert("Asia/Tokyo")
    payload = encode(tokyo)
    pd.testing.assert_frame_equal(decode(payload, 4), _reference(payload).iloc[-4:])
