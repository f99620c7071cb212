"""A stand-in for BarSourcesResource in tests that call the collect service directly."""

from __future__ import annotations

from market_assets.core.universe import Instrument
from resources.sources.base import BarSource


class OneSource:
    """Every symbol comes from one source (a LandingSource, the generator...), recorded under
    that source's own name, as the resource would record it."""

    def __init__(self, source: BarSource) -> None:
        self.source = source

    def source_name(self, instrument: Instrument) -> str:
        return self.source.name

    def source_for(self, instrument: Instrument) -> BarSource:
        return self.source

    def built(self) -> list[BarSource]:
        return [self.source]
