"""Checks on the company master, run after each sync.

The table's constraints already refuse the worst (foreign keys, the code CHECK, UNIQUE);
these checks cover what they cannot see or what a manual fix may have bypassed: NULL market
or sector codes, codes not shaped as J-Quants gives them, two codes that are one symbol
('7203' beside '72030'), and a master nobody has synced for too long.
"""

from dagster import AssetCheckResult, AssetCheckSeverity, MetadataValue, asset_check

from market_assets.defs.masters.assets import companies
from resources.postgres import PostgresResource
from resources.queries import query

# The sync runs daily; a day and a half tolerates one late or retried run.
FRESHNESS_HOURS = 36.0


def _fetch(postgres: PostgresResource, name: str) -> list[tuple]:
    with postgres.connection() as conn:
        rows = conn.execute(query(name)).fetchall()
        conn.rollback()
    return rows


@asset_check(
    asset=companies,
    name="referential_integrity",
    blocking=True,
    description="Every company's market, sector17 and sector33 code exists in its table.",
)
def companies_referential_integrity(postgres: PostgresResource) -> AssetCheckResult:
    rows = _fetch(postgres, "masters/check_referential_integrity")
    problems = [
        {
            "code": code,
            "market_code": market if bad_m else None,
            "sector17_code": s17 if bad_17 else None,
            "sector33_code": s33 if bad_33 else None,
            "missing": [
                n
                for n, bad in (("market", bad_m), ("sector17", bad_17), ("sector33", bad_33))
                if bad
            ],
        }
        for code, market, s17, s33, bad_m, bad_17, bad_33 in rows
    ]
    return AssetCheckResult(
        passed=not problems,
        metadata={
            "violations": MetadataValue.int(len(problems)),
            "examples": MetadataValue.json(problems[:20]),
        },
    )


@asset_check(
    asset=companies,
    name="code_format",
    blocking=True,
    description="Codes are 4 or 5 characters as J-Quants gives them ('72030', '130A0').",
)
def companies_code_format(postgres: PostgresResource) -> AssetCheckResult:
    bad = [r[0] for r in _fetch(postgres, "masters/check_code_format")]
    return AssetCheckResult(
        passed=not bad,
        metadata={
            "violations": MetadataValue.int(len(bad)),
            "examples": MetadataValue.json(bad[:20]),
        },
    )


@asset_check(
    asset=companies,
    name="no_duplicate_codes",
    blocking=True,
    description="No two codes map to one symbol (e.g. '7203' and '72030').",
)
def companies_no_duplicate_codes(postgres: PostgresResource) -> AssetCheckResult:
    dups = {symbol: list(codes) for symbol, codes in _fetch(postgres, "masters/check_duplicates")}
    return AssetCheckResult(
        passed=not dups,
        metadata={
            "duplicated_symbols": MetadataValue.int(len(dups)),
            "examples": MetadataValue.json(dict(list(dups.items())[:20])),
        },
    )


@asset_check(
    asset=companies,
    name="sync_freshness",
    description=f"A sync succeeded within the last {FRESHNESS_HOURS:g} hours.",
)
def companies_sync_freshness(postgres: PostgresResource) -> AssetCheckResult:
    rows = _fetch(postgres, "masters/check_freshness")
    if not rows:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.WARN,
            metadata={"reason": MetadataValue.text("no successful company sync yet")},
        )
    sync_id, finished_at, age_hours = rows[0]
    age = float(age_hours)
    return AssetCheckResult(
        passed=age <= FRESHNESS_HOURS,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "last_sync_id": MetadataValue.int(int(sync_id)),
            "last_success": MetadataValue.text(finished_at.isoformat()),
            "age_hours": MetadataValue.float(round(age, 2)),
            "max_age_hours": MetadataValue.float(FRESHNESS_HOURS),
        },
    )


MASTER_CHECKS = [
    companies_referential_integrity,
    companies_code_format,
    companies_no_duplicate_codes,
    companies_sync_freshness,
]
