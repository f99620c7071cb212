"""The daemon-path benchmark's arithmetic and request (the run itself: the smoke test).

Phases of a run come from its event log (benchmarks/run_timeline.py); the request must be the
one the UI's backfill dialog sends for a date range x symbol subset.
"""

from __future__ import annotations

import datetime as dt

import pytest

from benchmarks.daemon_backfill import ASSETS, SIZE_VARIABLE, SIZES, backfill_params, chosen_size
from benchmarks.run_timeline import Mark, RunTimeline, max_overlap
from market_assets.operations.daemon_backfill import partition_names


def _marks() -> list[Mark]:
    return [
        Mark("RUN_ENQUEUED", 100.0),
        Mark("RUN_STARTING", 104.0),
        Mark("RUN_START", 110.0),
        Mark("STEP_START", 111.0, "raw_bars"),
        Mark("STEP_SUCCESS", 120.0, "raw_bars"),
        Mark("STEP_START", 120.5, "db_bars"),
        Mark("STEP_SUCCESS", 126.5, "db_bars"),
        Mark("RUN_SUCCESS", 127.0),
    ]


def test_a_run_is_cut_into_queue_start_setup_steps_and_teardown() -> None:
    line = RunTimeline.from_marks("r1", 99.0, reversed(_marks()))  # order does not matter

    assert line.enqueue_s == pytest.approx(1.0)
    assert line.queued_s == pytest.approx(4.0)
    assert line.start_cost_s == pytest.approx(6.0)
    assert line.launch_to_start_s == pytest.approx(11.0)
    assert line.setup_s == pytest.approx(1.0)
    assert line.steps == pytest.approx({"raw_bars": 9.0, "db_bars": 6.0})
    assert line.teardown_s == pytest.approx(0.5)
    assert line.duration_s == pytest.approx(17.0)
    row = line.as_dict(origin=90.0)
    assert row["created_s"] == pytest.approx(9.0) and row["ended_s"] == pytest.approx(37.0)


def test_the_run_record_times_win_and_missing_phases_are_none() -> None:
    line = RunTimeline.from_marks(
        "r2", 99.0, [Mark("STEP_START", 111.0, "raw_bars")], start_time=109.0, end_time=130.0
    )

    assert line.launch_to_start_s == pytest.approx(10.0)
    assert line.duration_s == pytest.approx(21.0)
    assert line.queued_s is None and line.start_cost_s is None and line.teardown_s is None
    assert line.enqueue_s is None
    assert line.steps == {}  # a step that never finished has no duration


def test_max_overlap_counts_runs_at_once_and_touching_runs_do_not_overlap() -> None:
    assert max_overlap([]) == 0
    assert max_overlap([(0, 10), (5, 15), (6, 7)]) == 3
    assert max_overlap([(0, 10), (10, 20), (20, 30)]) == 1
    assert max_overlap(iter([(0, 2), (1, 3)])) == 2  # a one-pass iterable is enough


def test_the_request_is_the_dialogs_every_key_of_the_range_and_the_four_assets() -> None:
    names = partition_names(dt.date(2024, 12, 30), dt.date(2024, 12, 31), ["USDJPY", "7203"])

    assert names == ["2024-12-30|USDJPY", "2024-12-30|7203", "2024-12-31|USDJPY", "2024-12-31|7203"]
    params = backfill_params(names)
    assert params == {
        "tags": [],
        "assetSelection": [{"path": [asset]} for asset in ASSETS],
        "partitionNames": names,
        "fromFailure": False,
    }
    assert ASSETS == ("raw_bars", "db_bars", "bar_rollups", "bar_snapshots")


def test_a_size_between_smoke_and_full_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SIZE_VARIABLE, "10x91")
    size = chosen_size(smoke=False)
    assert (size.symbols, size.days) == (10, 91)
    assert chosen_size(smoke=True) == SIZES[True]  # CI's smoke run ignores it
    monkeypatch.setenv(SIZE_VARIABLE, "ten by 91")
    with pytest.raises(ValueError, match="10x91"):
        chosen_size(smoke=False)
    monkeypatch.setenv(SIZE_VARIABLE, "0x91")
    with pytest.raises(ValueError, match="1-100 symbols"):
        chosen_size(smoke=False)
