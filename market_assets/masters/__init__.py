"""The company master: listed companies, markets and sectors, kept in sync with a source.

One job per module: `records` judges source records, `code_tables` and `sync` write the
database, `cache` reads through Redis, `search` answers name searches, `registration` turns
active companies into `symbols` partitions of the OHLCV assets.
"""
