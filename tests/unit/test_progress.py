"""Progress of seeding, backfill and rebuild: the services report steps to a callback, the
CLI draws them with rich, and only on a terminal."""

import datetime as dt
import io

from dagster import (
    AssetExecutionContext,
    BackfillPolicy,
    DagsterInstance,
    MaterializeResult,
    MetadataValue,
    asset,
)
from rich.console import Console

from market_assets.cli.progress import partition_progress
from market_assets.core.run_plan import RunWindow
from market_assets.defs.ohlcv.partitions import bar_partitions
from market_assets.operations.backfill import run_backfill
from market_assets.operations.progress import (
    Step,
    metadata_rows,
    window_label,
    window_partitions,
)

REGISTERED = ["USDJPY", "EURUSD", "GBPUSD"]


def test_a_window_counts_its_days_times_its_symbols() -> None:
    window = RunWindow(dt.date(2024, 3, 11), dt.date(2024, 3, 13), "USDJPY", "EURUSD")
    assert window_partitions(window, REGISTERED) == 6
    assert window_label(window) == "2024-03-11..2024-03-13 x USDJPY..EURUSD"


def test_rows_come_from_materialisation_metadata_when_reported() -> None:
    assert metadata_rows({"raw_bars": {"rows": MetadataValue.int(1440)}}, "raw_bars") == 1440
    batch = {"raw_bars": {"batch_rows": MetadataValue.int(2880), "rows": MetadataValue.int(1)}}
    assert metadata_rows(batch, "raw_bars") == 2880  # the run's figure, not a partition's
    assert metadata_rows({"raw_bars": {"rows": "12"}}, "raw_bars") == 12
    assert metadata_rows({"raw_bars": {}}, "raw_bars") is None
    assert metadata_rows({}, "raw_bars") is None


def _steps() -> list[Step]:
    return [Step("a", 2, 6, 100), Step("b", 2, 6, None), Step("c", 2, 6, 50, ok=False)]


def test_without_a_terminal_the_bar_is_quiet_but_still_counts() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False)
    with partition_progress(console, "backfill") as bar:
        for step in _steps():
            bar(step)
    assert out.getvalue() == ""
    assert (bar.done, bar.rows, bar.failed, len(bar.steps)) == (6, 150, 1, 3)


def test_on_a_terminal_it_shows_partitions_rows_and_times() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200, color_system=None)
    with partition_progress(console, "rebuild") as bar:
        for step in _steps():
            bar(step)
    text = out.getvalue()
    assert "rebuild" in text and "6/6 partitions" in text and "150 rows" in text
    assert "0:00:0" in text  # elapsed (and remaining) times
    assert "(failed)" in text


@asset(
    name="raw_bars",
    partitions_def=bar_partitions,
    backfill_policy=BackfillPolicy.multi_run(1000),
)
def counting_raw_bars(context: AssetExecutionContext) -> MaterializeResult:
    """Stands in for raw_bars: reports one row per partition of its run, as metadata."""
    return MaterializeResult(metadata={"rows": MetadataValue.int(len(context.partition_keys))})


def test_the_backfill_reports_each_run_window_with_its_rows() -> None:
    steps: list[Step] = []
    with DagsterInstance.ephemeral() as instance:
        outcomes = run_backfill(
            instance,
            [counting_raw_bars],
            dt.date(2024, 3, 11),
            dt.date(2024, 3, 15),
            ["USDJPY", "EURUSD"],
            days_per_run=2,
            progress=steps.append,
        )
    assert [ok for _, ok in outcomes] == [True, True, True]
    # the total at once, then one step per run with its partitions and reported rows
    assert [(s.partitions, s.total, s.rows) for s in steps] == [
        (0, 10, 0),
        (4, 10, 4),
        (4, 10, 4),
        (2, 10, 2),
    ]
    assert steps[0].label == "3 runs planned"
    assert steps[1].label == "2024-03-11..2024-03-12 x USDJPY..EURUSD"
