"""Vendor rate-limit settings: plan names and numbers, every bad entry named."""

from __future__ import annotations

import pytest

from market_assets.core import settings as s
from market_assets.core.vendor_limits import VendorLimit, parse_vendor_limits, vendor_limit


def test_plans_and_numbers_give_a_bucket_per_vendor_and_plan() -> None:
    limits = parse_vendor_limits(" jquants=Light , yfinance=120 ")
    assert limits["jquants"] == VendorLimit("jquants", "light", 60)
    assert limits["jquants"].bucket == "jquants:light"
    assert limits["yfinance"] == VendorLimit("yfinance", "120rpm", 120)
    assert vendor_limit("jquants", "premium").requests_per_minute == 500
    assert vendor_limit("jquants", 5).bucket == "jquants:5rpm"
    assert parse_vendor_limits(None) == {} == parse_vendor_limits(" , ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("jquants=gold", "unknown jquants plan 'gold'"),
        ("bloomberg=10", "unknown vendor 'bloomberg'"),
        ("jquants=0", "must be 1..60000"),
        ("jquants=light,jquants=free", "given twice"),
        ("jquants", "is not vendor=plan"),
        ("yfinance=fast", "none published"),
        ("jquants=-3", "unknown jquants plan"),
    ],
)
def test_a_bad_entry_fails_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_vendor_limits(text, setting="X")


def test_settings_read_the_variable_and_the_jquants_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(s.VENDOR_RATE_LIMITS, "yfinance=30")
    monkeypatch.setenv(s.JQUANTS_REQUESTS_PER_MINUTE, "90")
    limits = s.vendor_limits()
    assert limits["jquants"].bucket == "jquants:90rpm" and limits["yfinance"].plan == "30rpm"
    monkeypatch.setenv(s.VENDOR_RATE_LIMITS, "jquants=light")
    with pytest.raises(ValueError, match="set twice"):
        s.vendor_limits()
