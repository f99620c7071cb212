"""Schedule and new-symbol runs stay within the partitions-per-run cap, covering every symbol."""

import datetime as dt

import pytest

from market_assets.core.run_plan import capped_windows

REGISTERED = [f"{1000 + i}" for i in range(2500)]


def _covered(windows, registered: list[str]) -> list[str]:  # type: ignore[no-untyped-def]
    out: list[str] = []
    for w in windows:
        out.extend(
            registered[registered.index(w.first_symbol) : registered.index(w.last_symbol) + 1]
        )
    return out


def test_a_day_of_a_large_market_is_a_few_capped_runs() -> None:
    day = dt.date(2024, 3, 12)
    windows = capped_windows(day, day, REGISTERED, REGISTERED, max_partitions=1000)
    assert len(windows) == 3
    assert _covered(windows, REGISTERED) == REGISTERED
    assert all(
        REGISTERED.index(w.last_symbol) - REGISTERED.index(w.first_symbol) < 1000 for w in windows
    )


def test_a_date_range_shrinks_the_symbol_blocks_and_gaps_still_split() -> None:
    start, end = dt.date(2024, 3, 1), dt.date(2024, 3, 28)  # 28 days: 35 symbols a run
    chosen = REGISTERED[:100] + REGISTERED[200:210]
    windows = capped_windows(start, end, chosen, REGISTERED, max_partitions=1000)
    assert sorted(_covered(windows, REGISTERED)) == sorted(chosen)
    sizes = [
        REGISTERED.index(w.last_symbol) - REGISTERED.index(w.first_symbol) + 1 for w in windows
    ]
    assert max(sizes) * 28 <= 1000 and len(windows) == 4  # 35 + 35 + 30, then the gap's 10
    assert all((w.start, w.end) == (start, end) for w in windows)


def test_a_range_longer_than_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="exceed"):
        capped_windows(dt.date(2020, 1, 1), dt.date(2024, 1, 1), ["1000"], REGISTERED, 1000)
