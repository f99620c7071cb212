"""What an operator runs or receives outside the daemon: terminal backfills, rebuilds from S3,
first-start seeding, and failure alerts. Dagster definitions are passed in, never imported.
"""
