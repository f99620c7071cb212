"""Test configuration: real servers are started once per session by the plugins below."""

pytest_plugins = [
    "tests.plugins.servers",
    "tests.plugins.timescale",
    "tests.plugins.stores",
]
