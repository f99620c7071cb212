"""Bar sources: everything that can deliver bars in the bar schema (see base.BarSource)."""

from resources.sources.base import BarSource, SourceError, sort_bars
from resources.sources.generator import GeneratorSource

__all__ = ["BarSource", "GeneratorSource", "SourceError", "sort_bars"]
