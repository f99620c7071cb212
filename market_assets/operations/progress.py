"""Progress of a long operation, as plain values handed to a callback.

Seeding, `backfill` and `rebuild` run for minutes; the operator wants partitions done of
total, rows and time left. The services report a `Step` after each unit of work (a planned
run window, a symbol's partitions loaded from S3) to whatever callback the caller passed, and
know nothing of terminals: the CLI turns steps into a rich progress bar
(market_assets/cli/progress.py), tests collect them in a list.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from market_assets.core.run_plan import RunWindow


@dataclass(frozen=True)
class Step:
    """One unit of an operation finished: `partitions` of `total`, with its rows (if known)."""

    label: str  # what finished, for a human: "2024-03-11..2024-03-13 x USDJPY..EURUSD"
    partitions: int  # partitions this step covered
    total: int  # partitions of the whole operation
    rows: int | None = None  # rows this step wrote (None: not reported)
    ok: bool = True


ProgressFn = Callable[[Step], None]


def report(progress: ProgressFn | None, step: Step) -> None:
    if progress is not None:
        progress(step)


def window_partitions(window: RunWindow, registered: list[str]) -> int:
    """date x symbol partitions of a run window: its days times its block of symbols."""
    days = (window.end - window.start).days + 1
    symbols = registered.index(window.last_symbol) - registered.index(window.first_symbol) + 1
    return days * symbols


def window_label(window: RunWindow) -> str:
    return f"{window.start}..{window.end} x {window.first_symbol}..{window.last_symbol}"


def metadata_rows(metadata_by_asset: Mapping[str, Mapping[str, Any]], asset: str) -> int | None:
    """The rows an asset's materialisation reported for its whole run (`batch_rows`, as the
    OHLCV assets name their batch figures; `rows` for others), or None when absent."""
    metadata = metadata_by_asset.get(asset, {})
    value = metadata.get("batch_rows", metadata.get("rows"))
    raw = getattr(value, "value", value)  # a Dagster MetadataValue, or a plain number
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None
