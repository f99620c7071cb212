"""OHLCV services, no Dagster definitions: collect (sources -> S3), load (S3 -> database), the
bar store, database reads of bars, rollups, snapshots and their publishing, the landing
ledger, the collection log and the adjustment store. The thin assets in
market_assets/defs/ohlcv/ call one function here each.
"""
