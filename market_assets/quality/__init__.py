"""Data-quality configuration and the checks that need more than one batch of bars:
tolerances and deadlines (config), the great-expectations suite (expectations), freshness."""
