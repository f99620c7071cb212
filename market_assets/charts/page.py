"""The chart page, served or written as one self-contained file.

The same template and the same drawing code (static/chart.js) serve both: the server's page
links the chart library and the scripts from its own /static/ (no CDN: a chart must work
offline and leak nothing), the file of `bars --plot` inlines them with the payload, so it
opens anywhere without a server.

The library is TradingView's lightweight-charts, its standalone build vendored in
static/vendor/ (see VENDOR.json and scripts/vendor_chart_lib.sh): about 0.2 MB, so a first
visit loads and compiles it well inside the 1 s a chart has (plotly.js, 4.8 MB, took 1.85 s
alone). It ships in the wheel: no node, no download at run time.
"""

from __future__ import annotations

import hashlib
import html
import json
from functools import cache
from pathlib import Path
from typing import Any

from market_assets.core.timeframes import ALL_TIMEFRAMES
from market_assets.core.universe import default_universe

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"
LIBRARY = "lightweight-charts.standalone.production.js"
#: Files the server may send, by URL name: nothing else under /static/ exists.
STATIC_FILES = {
    "chart.js": "chart.js",
    "page.js": "page.js",
    "lightweight-charts.js": f"vendor/{LIBRARY}",
}
#: The page's scripts, in order: the library first (chart.js draws with its global).
SCRIPTS = ("lightweight-charts.js", "chart.js", "page.js")


def vendored() -> dict[str, Any]:
    """What VENDOR.json records of the vendored library (package, version, sha256...)."""
    return json.loads((VENDOR / "VENDOR.json").read_text(encoding="utf-8"))


def library_path() -> Path:
    """The vendored lightweight-charts standalone build (a `LightweightCharts` global)."""
    path = VENDOR / LIBRARY
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: run scripts/vendor_chart_lib.sh")
    return path


def static_path(name: str) -> Path | None:
    """The file behind /static/<name>, or None for any name not on the list."""
    local = STATIC_FILES.get(name)
    return None if local is None else STATIC / local


#: The bars are asked for while the scripts load and compile, not after: the two overlap
#: instead of adding up. page.js takes the promise for the page's first chart.
EARLY_FETCH = (
    "<script>if (new URLSearchParams(location.search).get('symbol'))"
    " window.firstChart = fetch('api/bars' + location.search);</script>"
)


@cache
def static_version(name: str) -> str:
    """A short hash of a static file's content: its URL carries it (`?v=`) and the server
    sends it `immutable`, so the browser keeps each version for good and a new version (a
    library update, an edited chart.js) is a new URL, never a stale cached copy."""
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
        f'<script src="static/{name}?v={static_version(name)}"></script>' for name in SCRIPTS
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


def _inline_script(code: str) -> str:
    """Code to put inside <script>: refused if it holds "</script", which would end it."""
    if "</script" in code.lower():
        raise ValueError("a script to inline contains '</script'")
    return code


def standalone_page(payload: dict[str, Any]) -> str:
    """One HTML file holding the chart library, the drawing code and the bars: opens
    offline (about 0.2 MB of it is the library)."""
    library = _inline_script(library_path().read_text(encoding="utf-8"))
    chart_js = _inline_script((STATIC / "chart.js").read_text(encoding="utf-8"))
    draw = "drawChart(" + _inline_json(payload) + ").catch((e) => showError(String(e)));"
    scripts = "".join(f"<script>{code}</script>" for code in (library, chart_js, draw))
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
