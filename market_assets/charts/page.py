"""The chart page, served or written as one self-contained file.

The same template and the same drawing code (static/chart.js) serve both: the server's page
links plotly.js and the scripts from its own /static/ (no CDN: a chart must work offline and
leak nothing), the file of `bars --plot` inlines them with the payload, so it opens anywhere
without a server.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from market_assets.core.timeframes import ALL_TIMEFRAMES
from market_assets.core.universe import default_universe

STATIC = Path(__file__).resolve().parent / "static"
#: Files the server may send, by URL name: nothing else under /static/ exists.
STATIC_FILES = {"chart.js": "chart.js", "page.js": "page.js", "plotly.min.js": None}


@cache
def plotly_js_path() -> Path:
    """plotly.min.js as shipped in the `plotly` wheel (found without importing plotly)."""
    spec = find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the plotly package is not installed (pip install plotly)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise RuntimeError(f"plotly.min.js not found in the plotly package ({path})")
    return path


def static_path(name: str) -> Path | None:
    """The file behind /static/<name>, or None for any name not on the list."""
    if name not in STATIC_FILES:
        return None
    local = STATIC_FILES[name]
    return plotly_js_path() if local is None else STATIC / local


#: The bars are asked for while plotly.js (4.8 MB) loads and compiles, not after: the two
#: overlap instead of adding up. page.js takes the promise for the page's first chart.
EARLY_FETCH = (
    "<script>if (new URLSearchParams(location.search).get('symbol'))"
    " window.firstChart = fetch('api/bars' + location.search);</script>"
)


@cache
def static_version(name: str) -> str:
    """A short hash of a static file's content: its URLs change when it does, so the browser
    may keep each version for good (plotly.js, 4.8 MB, is then fetched and compiled once)."""
    path = static_path(name)
    if path is None:
        raise KeyError(name)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _template() -> str:
    return (STATIC / "page.html").read_text(encoding="utf-8")


def _options(selected: str = "H1") -> str:
    return "".join(
        f"<option{' selected' if str(tf) == selected else ''}>{tf}</option>"
        for tf in ALL_TIMEFRAMES
    )


def _symbols() -> str:
    return "".join(
        f'<option value="{html.escape(s)}"></option>'
        for s in default_universe().symbols(active_only=True)
    )


def served_page() -> str:
    """The page of `market-assets chart`: the form, the chart, scripts from /static/."""
    scripts = "".join(
        f'<script src="static/{name}"></script>'
        for name in ("plotly.min.js", "chart.js", "page.js")
    )
    return (
        _template()
        .replace("__HEAD__", EARLY_FETCH)
        .replace("__FORM_ATTRS__", "")
        .replace("__SYMBOLS__", _symbols())
        .replace("__TIMEFRAMES__", _options())
        .replace("__SCRIPTS__", scripts)
    )


def _inline_json(payload: Any) -> str:
    # Inside <script>, "</" would end the element: JSON allows "<\/" for the same text.
    return json.dumps(payload, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")


def standalone_page(payload: dict[str, Any]) -> str:
    """One HTML file holding plotly.js, the drawing code and the bars: opens offline."""
    plotly_js = plotly_js_path().read_text(encoding="utf-8")
    chart_js = (STATIC / "chart.js").read_text(encoding="utf-8")
    draw = "drawChart(" + _inline_json(payload) + ");"
    scripts = "".join(f"<script>{code}</script>" for code in (plotly_js, chart_js, draw))
    title = html.escape(f"{payload['request']['symbol']} {payload['request']['timeframe']}")
    return (
        _template()
        .replace("<title>market-assets chart</title>", f"<title>{title}</title>")
        .replace("__HEAD__", "")
        .replace("__FORM_ATTRS__", "hidden")
        .replace("__SYMBOLS__", "")
        .replace("__TIMEFRAMES__", _options(payload["request"]["timeframe"]))
        .replace("__SCRIPTS__", scripts)
    )


def write_standalone(path: Path, payload: dict[str, Any]) -> Path:
    path.write_text(standalone_page(payload), encoding="utf-8")
    return path
