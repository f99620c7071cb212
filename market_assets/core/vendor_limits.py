"""Vendor rate limits: which vendor and plan allows how many requests a minute.

A vendor meters the account, not the process: every run worker of every concurrent backfill
spends the same allowance. So the limit is configured once per vendor and plan
(`MARKET_ASSETS_VENDOR_RATE_LIMITS`, e.g. ``jquants=light,yfinance=120``) and enforced by one
shared bucket per (vendor, plan) (resources.sources.rate_limit). A value is a plan name the
vendor publishes (J-Quants: Free 5, Light 60, Standard 120, Premium 500 requests a minute,
https://jpx-jquants.com/en/spec/rate-limits) or a whole number of requests a minute for a plan
not listed here. Parsing is pure and strict: an unknown vendor, an unknown plan or a number
below 1 fails naming the entry, so a typo never silently leaves a vendor unpaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Requests a minute of each published plan. J-Quants' minute-bar add-on has its own 60/min
# allowance for its endpoints; it is not a base plan, so it is not listed here.
PLANS: dict[str, dict[str, int]] = {
    "jquants": {"free": 5, "light": 60, "standard": 120, "premium": 500},
    "yfinance": {},  # Yahoo publishes no limit: configure a number
}
VENDORS = tuple(PLANS)
MAX_REQUESTS_PER_MINUTE = 60_000  # 1,000 a second: above that a value is a typo, not a plan
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class VendorLimit:
    """One vendor plan's allowance; `plan` names the shared bucket (a custom number: `NNNrpm`)."""

    vendor: str
    plan: str
    requests_per_minute: int

    def __post_init__(self) -> None:
        if self.vendor not in PLANS:
            raise ValueError(f"unknown vendor {self.vendor!r} (known: {', '.join(VENDORS)})")
        if not _NAME.match(self.plan):
            raise ValueError(f"invalid plan name {self.plan!r} for {self.vendor}")
        if not 1 <= self.requests_per_minute <= MAX_REQUESTS_PER_MINUTE:
            raise ValueError(
                f"{self.vendor} requests per minute must be 1..{MAX_REQUESTS_PER_MINUTE}, "
                f"got {self.requests_per_minute}"
            )

    @property
    def bucket(self) -> str:
        """The shared bucket's name: every process with this vendor and plan spends it."""
        return f"{self.vendor}:{self.plan}"


def vendor_limit(vendor: str, value: str | int) -> VendorLimit:
    """A plan name (``light``) or a whole number of requests a minute (``90``) for `vendor`."""
    vendor = vendor.strip().lower()
    if vendor not in PLANS:
        raise ValueError(f"unknown vendor {vendor!r} (known: {', '.join(VENDORS)})")
    text = str(value).strip().lower()
    if text.isdigit():
        rpm = int(text)
        return VendorLimit(vendor, f"{rpm}rpm", rpm)
    plans = PLANS[vendor]
    if text not in plans:
        known = ", ".join(f"{p} ({n}/min)" for p, n in plans.items()) or "none published"
        raise ValueError(
            f"unknown {vendor} plan {text!r}: give a plan ({known}) or requests per minute"
        )
    return VendorLimit(vendor, text, plans[text])


def parse_vendor_limits(
    text: str | None, *, setting: str = "rate limits"
) -> dict[str, VendorLimit]:
    """``vendor=plan-or-number`` entries separated by commas; blank: none.

    Every entry is checked; a malformed one, an unknown vendor or plan, or a vendor given
    twice fails with `setting` and the entry in the message.
    """
    limits: dict[str, VendorLimit] = {}
    for raw in (text or "").split(","):
        entry = raw.strip()
        if not entry:
            continue
        vendor, sep, value = entry.partition("=")
        if not sep or not vendor.strip() or not value.strip():
            raise ValueError(f"{setting}: {entry!r} is not vendor=plan or vendor=requests/min")
        try:
            limit = vendor_limit(vendor, value)
        except ValueError as exc:
            raise ValueError(f"{setting}: {entry!r}: {exc}") from None
        if limit.vendor in limits:
            raise ValueError(f"{setting}: {limit.vendor} is given twice")
        limits[limit.vendor] = limit
    return limits
