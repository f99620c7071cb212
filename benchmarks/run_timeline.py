"""Where a launched run's time goes, from its record and its event log.

A run launched by the daemon passes through the run queue (RUN_ENQUEUED -> RUN_STARTING: the
QueuedRunCoordinator waits for a free slot under `max_concurrent_runs` and the
`dagster/backfill` tag limit, then hands the run to the launcher, which logs RUN_STARTING;
Dagster 1.13 logs no RUN_DEQUEUED for it), the run worker's start (RUN_STARTING -> RUN_START:
a subprocess starts, imports the code location and builds the plan), its setup (resources),
its steps (STEP_START -> STEP_SUCCESS per step key) and its teardown. `RunTimeline` cuts one
run into those phases; `max_overlap` says how many runs really executed at once.

Plain values in, plain values out, so the arithmetic is tested without a Dagster instance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Mark:
    """One event of a run: its DagsterEventType value, epoch seconds, and step key if any."""

    kind: str
    timestamp: float
    step_key: str | None = None


def _first(marks: Sequence[Mark], *kinds: str) -> float | None:
    times = [m.timestamp for m in marks if m.kind in kinds]
    return min(times) if times else None


def _last(marks: Sequence[Mark], *kinds: str) -> float | None:
    times = [m.timestamp for m in marks if m.kind in kinds]
    return max(times) if times else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


@dataclass
class RunTimeline:
    """The phases of one run, in epoch seconds (None where the run never got there)."""

    run_id: str
    created: float
    enqueued: float | None = None
    dequeued: float | None = None  # RUN_STARTING: the coordinator handed it to the launcher
    started: float | None = None
    ended: float | None = None
    first_step_start: float | None = None
    last_step_end: float | None = None
    steps: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_marks(
        cls,
        run_id: str,
        created: float,
        marks: Iterable[Mark],
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> RunTimeline:
        """`start_time`/`end_time` of the run record win over the RUN_START/RUN_SUCCESS
        events (they are the same instants, recorded by the run storage)."""
        ordered = sorted(marks, key=lambda m: m.timestamp)
        steps: dict[str, float] = {}
        opened: dict[str, float] = {}
        for mark in ordered:
            if mark.step_key is None:
                continue
            if mark.kind == "STEP_START":
                opened[mark.step_key] = mark.timestamp
            elif mark.kind in ("STEP_SUCCESS", "STEP_FAILURE") and mark.step_key in opened:
                began = opened.pop(mark.step_key)
                steps[mark.step_key] = steps.get(mark.step_key, 0.0) + mark.timestamp - began
        return cls(
            run_id=run_id,
            created=created,
            enqueued=_first(ordered, "RUN_ENQUEUED"),
            dequeued=_first(ordered, "RUN_STARTING", "RUN_DEQUEUED"),
            started=start_time if start_time is not None else _first(ordered, "RUN_START"),
            ended=end_time
            if end_time is not None
            else _last(ordered, "RUN_SUCCESS", "RUN_FAILURE", "RUN_CANCELED"),
            first_step_start=_first(ordered, "STEP_START"),
            last_step_end=_last(ordered, "STEP_SUCCESS", "STEP_FAILURE"),
            steps=steps,
        )

    @property
    def enqueue_s(self) -> float | None:
        """Run created to enqueued: the daemon writing the run's planned events (one per
        partition and asset) before it submits the run."""
        return _minus(self.enqueued, self.created)

    @property
    def queued_s(self) -> float | None:
        """Waiting in the run queue (for a slot, and for the coordinator's next tick)."""
        return _minus(self.dequeued, self.enqueued)

    @property
    def start_cost_s(self) -> float | None:
        """Handed to the launcher to started: the run worker's process start and code load."""
        return _minus(self.started, self.dequeued)

    @property
    def launch_to_start_s(self) -> float | None:
        """Run created to run started: everything before the first line of the run."""
        return _minus(self.started, self.created)

    @property
    def setup_s(self) -> float | None:
        """Run started to its first step: resources, plan, planned-event bookkeeping."""
        return _minus(self.first_step_start, self.started)

    @property
    def teardown_s(self) -> float | None:
        return _minus(self.ended, self.last_step_end)

    @property
    def duration_s(self) -> float | None:
        return _minus(self.ended, self.started)

    def as_dict(self, origin: float) -> dict[str, Any]:
        """The phases in seconds; `created_s` and `ended_s` relative to `origin` (the launch)."""
        return {
            "run_id": self.run_id,
            "created_s": self.created - origin,
            "ended_s": _minus(self.ended, origin),
            "launch_to_start_s": self.launch_to_start_s,
            "enqueue_s": self.enqueue_s,
            "queued_s": self.queued_s,
            "start_cost_s": self.start_cost_s,
            "setup_s": self.setup_s,
            "step_seconds": dict(self.steps),
            "teardown_s": self.teardown_s,
            "duration_s": self.duration_s,
        }


def max_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals that hold at one instant."""
    spans = list(intervals)
    edges = sorted(
        [(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans],
        key=lambda edge: (edge[0], edge[1]),  # an end before a start at the same instant
    )
    current = best = 0
    for _, delta in edges:
        current += delta
        best = max(best, current)
    return best
