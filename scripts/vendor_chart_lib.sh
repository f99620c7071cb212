#!/usr/bin/env bash
# Vendor TradingView's lightweight-charts (Apache-2.0) into the package, once per version.
#
# The chart page and `bars --plot` draw with its standalone build (one file, a
# `LightweightCharts` global). It lives in market_assets/charts/static/vendor/ and ships in
# the wheel, so the project needs neither node nor the network at run time or install time:
# only this script, run by hand to change the version, talks to the npm registry.
#
#   scripts/vendor_chart_lib.sh [VERSION]      (default: the pinned version below)
#
# Writes the file, its LICENSE, the project's NOTICE (attribution; the npm tarball does not
# carry it) and VENDOR.json (version, sha256 of the file, the tarball's npm integrity), which
# tests/unit/test_chart_request.py checks against the file.
set -euo pipefail

VERSION="${1:-5.2.1}"
NAME=lightweight-charts
FILE=lightweight-charts.standalone.production.js
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/market_assets/charts/static/vendor"

command -v npm >/dev/null || { echo "npm is needed to vendor $NAME (apt-get install npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --json --silent "$NAME@$VERSION" >pack.json
tarball="$(node -e 'console.log(require("./pack.json")[0].filename)')"
integrity="$(node -e 'console.log(require("./pack.json")[0].integrity)')"
tar -xzf "$tarball"
got="$(node -e 'console.log(require("./package/package.json").version)')"
[ "$got" = "$VERSION" ] || { echo "asked for $VERSION, npm gave $got" >&2; exit 1; }

mkdir -p "$DEST"
install -m 0644 "package/dist/$FILE" "$DEST/$FILE"
install -m 0644 package/LICENSE "$DEST/LICENSE"
# The attribution notice of the project's NOTICE file (github.com/tradingview/lightweight-charts).
printf '%s\n' "TradingView Lightweight Charts" \
  "Copyright (c) 2023 TradingView, Inc. https://www.tradingview.com/" >"$DEST/NOTICE"
sha256="$(sha256sum "$DEST/$FILE" | cut -d' ' -f1)"
bytes="$(wc -c <"$DEST/$FILE" | tr -d ' ')"
cat >"$DEST/VENDOR.json" <<JSON
{
  "package": "$NAME",
  "version": "$VERSION",
  "license": "Apache-2.0",
  "source": "npm pack $NAME@$VERSION",
  "npm_integrity": "$integrity",
  "file": "$FILE",
  "bytes": $bytes,
  "sha256": "$sha256"
}
JSON
echo "vendored $NAME $VERSION: $DEST/$FILE ($bytes bytes, sha256 $sha256)"
