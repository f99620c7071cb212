"""Objects holding more than one session are rewritten without losing a concurrent writer's
rows: `S3Resource.update_parquet`, a read-modify-write with a conditional PUT, on SeaweedFS.

Two runs (a landing run and a scheduled run) each add their own sessions to one year object.
A barrier inside the merge makes both read the same version, so one PUT must be refused (412)
and that writer merges again on top of the other's rows: nothing is lost, in either order.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from resources.s3 import ConcurrentWriteError, S3Resource

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KEY = "ohlcv/timeframe=D1/year=2024/symbol=7203/bars.parquet"  # a multi-session object


def _rows(days: list[dt.date], close: float) -> pa.Table:
    return pa.table({"session_date": days, "close": [close] * len(days)})


def _merge(new: pa.Table) -> Callable[[pa.Table | None], pa.Table]:
    """The sessions of `new` replace the same sessions of the object; others are kept."""

    def apply(current: pa.Table | None) -> pa.Table:
        if current is None:
            return new
        kept = current.filter(pc.invert(pc.is_in(current["session_date"], new["session_date"])))
        merged = pa.concat_tables([kept, new])
        return merged.take(pc.sort_indices(merged, [("session_date", "ascending")]))

    return apply


def _racing(new: pa.Table, barrier: threading.Barrier) -> Callable[[pa.Table | None], pa.Table]:
    """`_merge`, waiting for the other writer on the first attempt so both read one version."""
    merge, first = _merge(new), [True]

    def apply(current: pa.Table | None) -> pa.Table:
        if first[0]:
            first[0] = False
            barrier.wait(timeout=30)
        return merge(current)

    return apply


def _writers(s3: S3Resource, tables: list[pa.Table]) -> list[S3Resource]:
    barrier = threading.Barrier(len(tables))
    stores = [s3.model_copy() for _ in tables]  # one resource each, as two runs have
    errors: list[BaseException] = []

    def run(store: S3Resource, table: pa.Table) -> None:
        try:
            store.update_parquet(KEY, _racing(table, barrier), {"writer": "x"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(st, t)) for st, t in zip(stores, tables, strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    return stores


JAN = [dt.date(2024, 1, d) for d in (4, 5, 9)]
FEB = [dt.date(2024, 2, d) for d in (1, 2)]


@pytest.mark.parametrize("existing", [False, True], ids=["new-object", "existing-object"])
def test_two_writers_at_once_lose_nothing(s3_store: S3Resource, existing: bool) -> None:
    base = [dt.date(2024, 1, 1 + 1)] if existing else []
    if existing:
        s3_store.write_parquet(KEY, _rows(base, 1.0))
    stores = _writers(s3_store, [_rows(JAN, 2.0), _rows(FEB, 3.0)])

    table = s3_store.read_parquet(KEY)
    assert table["session_date"].to_pylist() == sorted(base + JAN + FEB)
    by_day = dict(zip(table["session_date"].to_pylist(), table["close"].to_pylist(), strict=True))
    assert all(by_day[d] == 2.0 for d in JAN) and all(by_day[d] == 3.0 for d in FEB)
    assert sum(s.conflicts for s in stores) >= 1  # the race really happened
    assert table.schema.metadata[b"writer"] == b"x"


def test_many_writers_keep_every_session(s3_store: S3Resource) -> None:
    days = [dt.date(2024, 3, 1) + dt.timedelta(days=i) for i in range(8)]
    stores = _writers(s3_store, [_rows([d], float(i)) for i, d in enumerate(days)])
    assert s3_store.read_parquet(KEY)["session_date"].to_pylist() == days
    assert sum(s.conflicts for s in stores) >= 1


def test_a_writer_that_never_wins_fails_retryably(s3_store: S3Resource) -> None:
    """Another writer replaces the object during every attempt: after max_attempts, a
    ConcurrentWriteError, and the other writer's object is intact."""
    other = s3_store.model_copy()
    s3_store.write_parquet(KEY, _rows(JAN, 1.0))

    rounds = iter(range(100))

    def merge(current: pa.Table | None) -> pa.Table:
        other.write_parquet(KEY, _rows(FEB, float(next(rounds))))  # a run that keeps coming first
        return _rows(JAN, 2.0)

    with pytest.raises(ConcurrentWriteError, match="3 times") as info:
        s3_store.update_parquet(KEY, merge, max_attempts=3)
    assert info.value.retryable and s3_store.conflicts == 3
    assert s3_store.read_parquet(KEY)["close"].to_pylist() == [2.0, 2.0]  # its third write
