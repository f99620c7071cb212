"""Dagster definitions by domain, each folder's assets, checks, jobs, schedules and sensors side
by side: `ohlcv/` (the bar family), `masters/` (company master), `ops/` (maintenance, alerts).
Each domain exports one `Definitions` in its `definitions.py`; market_assets/definitions.py
merges them. Nothing outside `market_assets.definitions` (and the tests) imports this package.
"""
