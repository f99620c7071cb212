"""See market_assets/defs/__init__.py."""
