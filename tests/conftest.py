"""Test configuration: real servers are started once per session by the plugins below."""

import os

# The tests' bars are from 2024; under the default 6-month M1 retention the checks comparing
# the database with S3 would (rightly) not judge them. Tests that need retention set it.
os.environ.setdefault("MARKET_ASSETS_RETENTION_M1", "off")

pytest_plugins = [
    "tests.plugins.servers",
    "tests.plugins.timescale",
    "tests.plugins.stores",
]
