"""The operator's progress bar for seeding, `backfill` and `rebuild` (rich.progress).

The services report `Step`s through a callback (market_assets/operations/progress.py); this
turns them into one bar: partitions done of total, rows so far, elapsed and remaining time.
Quiet when the console is not a terminal (a pipe, a log file, CI): the commands' own summary
lines are what a script reads, and a bar redrawn into a file is noise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from market_assets.operations.progress import Step


@dataclass
class PartitionProgress:
    """The callback the CLI passes to a service; it also keeps the totals it was told."""

    progress: Progress
    task: TaskID
    done: int = 0
    rows: int = 0
    failed: int = 0
    steps: list[Step] = field(default_factory=list)

    def __call__(self, step: Step) -> None:
        self.steps.append(step)
        self.done += step.partitions
        self.rows += step.rows or 0
        self.failed += 0 if step.ok else 1
        mark = "" if step.ok else " [red](failed)[/]"
        self.progress.update(
            self.task,
            total=step.total,
            completed=self.done,
            rows=f"{self.rows:,} rows",
            last=f"{step.label}{mark}",
        )


@contextlib.contextmanager
def partition_progress(console: Console, description: str) -> Iterator[PartitionProgress]:
    """A bar on `console` for the duration of the block, disabled when it is no terminal."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("partitions"),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("[dim]{task.fields[last]}"),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )
    with progress:
        task = progress.add_task(description, total=None, rows="0 rows", last="")
        yield PartitionProgress(progress, task)
