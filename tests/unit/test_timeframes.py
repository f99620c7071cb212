from __future__ import annotations

import pytest

from market_assets.core.timeframes import ALL_TIMEFRAMES, Timeframe


def test_nine_timeframes_in_order() -> None:
    assert [t.value for t in ALL_TIMEFRAMES] == [
        "M1",
        "M5",
        "M15",
        "M30",
        "H1",
        "H4",
        "D1",
        "W1",
        "MN1",
    ]


@pytest.mark.parametrize(
    ("tf", "minutes"),
    [
        (Timeframe.M1, 1),
        (Timeframe.M5, 5),
        (Timeframe.M15, 15),
        (Timeframe.M30, 30),
        (Timeframe.H1, 60),
        (Timeframe.H4, 240),
        (Timeframe.D1, None),
        (Timeframe.W1, None),
        (Timeframe.MN1, None),
    ],
)
def test_minutes(tf: Timeframe, minutes: int | None) -> None:
    assert tf.minutes == minutes
    assert tf.is_intraday is (minutes is not None)
    assert tf.is_session_based is (minutes is None)


def test_is_a_str() -> None:
    assert Timeframe.M5 == "M5"
    assert f"{Timeframe.H4}" == "H4"
    assert Timeframe("D1") is Timeframe.D1


@pytest.mark.parametrize("text", ["m1", "M1", " h4 ", "mn1", "D1"])
def test_parse_accepts_any_case(text: str) -> None:
    assert Timeframe.parse(text).value == text.strip().upper()


def test_parse_passes_members_through() -> None:
    assert Timeframe.parse(Timeframe.W1) is Timeframe.W1


@pytest.mark.parametrize("bad", ["", "M2", "1m", "daily", "M1; DROP TABLE x", None, 5])
def test_parse_rejects_with_valid_list(bad: object) -> None:
    with pytest.raises(ValueError, match=r"valid timeframes are: M1, M5, .*MN1"):
        Timeframe.parse(bad)  # type: ignore[arg-type]


def test_parse_error_truncates_input() -> None:
    with pytest.raises(ValueError) as info:
        Timeframe.parse("X" * 10_000)
    assert len(str(info.value)) < 200


def test_intraday_list() -> None:
    assert Timeframe.intraday() == (
        Timeframe.M1,
        Timeframe.M5,
        Timeframe.M15,
        Timeframe.M30,
        Timeframe.H1,
        Timeframe.H4,
    )
