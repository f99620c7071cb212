"""Charts of the bars: candlesticks with volume and a data-quality strip, in a browser.

`request` validates what a chart asks for, `quality` reads the sessions with quarantined rows
or failed checks, `payload` reads the bars through the read path (market_assets/read) and
builds the JSON the page draws, `page` holds the page and the self-contained file, `server`
serves both on localhost. The drawing itself is TradingView's lightweight-charts (vendored in
static/vendor/ by scripts/vendor_chart_lib.sh, served locally: no CDN, no node), in
static/chart.js, shared by the page and `bars --plot`.
"""
