"""The company master on real servers: sync, quarantine, J-Quants client, cache, search,
symbol registration and checks."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, materialize
from pytest_httpserver import HTTPServer

from market_assets.defs.masters.assets import MASTER_ASSETS
from market_assets.defs.masters.checks import (
    MASTER_CHECKS,
    companies_code_format,
    companies_no_duplicate_codes,
    companies_referential_integrity,
    companies_sync_freshness,
)
from market_assets.masters.cache import (
    CODE_TABLE_TTL_S,
    COMPANY_LIST_TTL_S,
    COMPANY_TTL_S,
    get_code_table,
    get_company,
    get_company_list,
    invalidate,
)
from market_assets.masters.code_tables import CODE_TABLES, upsert_code_table
from market_assets.masters.search import search_companies, show_company
from market_assets.masters.sync import SyncAbortedError, SyncResult, sync_companies
from resources.cache_keys import company_key, company_list_key, master_table_key
from resources.masters.jquants_master import JQuantsAuthError, JQuantsError, JQuantsMasterClient
from resources.masters.resource import MasterSourceResource
from resources.masters.sample_file import read_code_tables, read_listed_info
from resources.postgres import PostgresResource
from resources.redis import RedisResource
from tests.plugins.stores import DbTarget

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "jquants_master"
SAMPLE_SIZE = len(read_listed_info())


# -- helpers -------------------------------------------------------------------------------
def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _sample() -> list[dict[str, Any]]:
    return copy.deepcopy(read_listed_info())


def _load_code_tables(postgres: PostgresResource) -> None:
    tables = read_code_tables()
    with postgres.transaction() as conn:
        for table in CODE_TABLES:
            upsert_code_table(conn, table, tables[table])


def _sync(postgres: PostgresResource, records: list[Any], **kwargs: Any) -> SyncResult:
    return sync_companies(postgres, lambda: records, source="test", **kwargs)


def _master(db: DbTarget) -> list[tuple[Any, ...]]:
    """The whole companies table, timestamps included: 'intact' means byte for byte."""
    with db.connect() as conn:
        return conn.execute("SELECT * FROM companies ORDER BY code").fetchall()


def _company(db: DbTarget, code: str) -> dict[str, Any]:
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM companies WHERE code = %s", (code,))
        row = cur.fetchone()
        assert row is not None, code
        return dict(zip([d.name for d in cur.description], row, strict=True))


def _last_log(db: DbTarget) -> dict[str, Any]:
    with db.connect() as conn:
        cur = conn.execute("SELECT * FROM company_sync_log ORDER BY id DESC LIMIT 1")
        row = cur.fetchone()
        assert row is not None
        return dict(zip([d.name for d in cur.description], row, strict=True))


def _with(records: list[dict[str, Any]], code: str, **changes: Any) -> list[dict[str, Any]]:
    out = copy.deepcopy(records)
    for r in out:
        if r["Code"] == code:
            r.update(changes)
    return out


def _without(records: list[dict[str, Any]], *codes: str) -> list[dict[str, Any]]:
    return [r for r in records if r["Code"] not in codes]


@pytest.fixture
def master(postgres: PostgresResource) -> SyncResult:
    """Code tables loaded and the sample synced once."""
    _load_code_tables(postgres)
    return _sync(postgres, _sample())


# -- the sync ------------------------------------------------------------------------------
def test_first_sync_from_sample_counts_every_company_new(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    assert master.counts() == {
        "new": SAMPLE_SIZE,
        "updated": 0,
        "reactivated": 0,
        "deactivated": 0,
        "unchanged": 0,
        "quarantined": 0,
    }
    rows = _master(db)
    assert len(rows) == SAMPLE_SIZE
    toyota = _company(db, "72030")
    assert toyota["company_name"] == "トヨタ自動車" and toyota["is_active"]
    assert (toyota["market_code"], toyota["sector33_code"]) == ("0111", "3700")
    log = _last_log(db)
    assert log["status"] == "success" and log["finished_at"] is not None
    assert (log["new_count"], log["source_rows"], log["error"]) == (SAMPLE_SIZE, SAMPLE_SIZE, None)
    with db.connect() as conn:
        changes = conn.execute(
            "SELECT change, count(*) FROM company_changes WHERE sync_id = %s GROUP BY 1",
            (master.sync_id,),
        ).fetchall()
    assert changes == [("new", SAMPLE_SIZE)]


def test_resync_of_the_same_source_changes_nothing(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    before = _master(db)
    again = _sync(postgres, _sample())
    assert again.counts()["unchanged"] == SAMPLE_SIZE
    assert again.new == again.updated == again.deactivated == 0 and not again.changes
    assert _master(db) == before  # not even updated_at moved
    assert _last_log(db)["unchanged_count"] == SAMPLE_SIZE


def test_changed_company_is_updated_and_missing_one_deactivated_never_deleted(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    source = _without(_with(_sample(), "72030", MarketCode="0112"), "86970")
    result = _sync(postgres, source)
    assert (result.new, result.updated, result.deactivated) == (0, 1, 1)
    assert result.unchanged == SAMPLE_SIZE - 2
    assert _company(db, "72030")["market_code"] == "0112"
    jpx = _company(db, "86970")  # still there, inactive, its data untouched
    assert jpx["is_active"] is False and jpx["company_name"] == "日本取引所グループ"
    assert len(_master(db)) == SAMPLE_SIZE
    log = _last_log(db)
    assert (log["updated_count"], log["deactivated_count"], log["unchanged_count"]) == (
        1,
        1,
        SAMPLE_SIZE - 2,
    )
    with db.connect() as conn:
        history = conn.execute(
            "SELECT code, change, before->>'market_code', after->>'market_code',"
            " (after->>'is_active')::boolean FROM company_changes WHERE sync_id = %s ORDER BY code",
            (result.sync_id,),
        ).fetchall()
    assert history == [
        ("72030", "updated", "0111", "0112", True),
        ("86970", "deactivated", "0111", "0111", False),
    ]
    # Listed again: reactivated, which counts as an update.
    back = _sync(postgres, _sample())
    assert (back.updated, back.reactivated, back.deactivated) == (2, 1, 0)
    assert _company(db, "86970")["is_active"] is True


def test_bad_records_are_quarantined_while_the_rest_proceed(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    before_toyota = _company(db, "72030")
    source = _sample()
    missing = {k: v for k, v in source[0].items() if k != "CompanyName"} | {"Code": "99990"}
    unknown_sector = {**source[1], "Code": "99980", "Sector33Code": "9998"}
    changed_copy = {**next(r for r in source if r["Code"] == "72030"), "MarketCode": "0113"}
    source = [*source, missing, unknown_sector, changed_copy]
    source = _with(source, "67580", CompanyNameEnglish="Sony Group Corp.")  # a real update

    result = _sync(postgres, source)

    assert result.quarantined == 4  # missing field, unknown code, both copies of 72030
    assert (result.new, result.updated, result.deactivated) == (0, 1, 0)
    assert result.unchanged == SAMPLE_SIZE - 2  # all but Sony (updated) and Toyota (held)
    assert _company(db, "67580")["company_name_english"] == "Sony Group Corp."
    # The duplicated company is left exactly as it was: neither changed nor deactivated.
    assert _company(db, "72030") == before_toyota
    with db.connect() as conn:
        held = conn.execute(
            "SELECT rule, symbol, row_data->>'Code' FROM quarantine WHERE asset = 'companies'"
            " ORDER BY rule, row_data->>'MarketCode'"
        ).fetchall()
        absent = conn.execute(
            "SELECT count(*) FROM companies WHERE code IN ('99990', '99980')"
        ).fetchone()
    assert held == [
        ("duplicate_code", "7203", "72030"),
        ("duplicate_code", "7203", "72030"),
        ("missing_field", "9999", "99990"),
        ("unknown_sector33_code", "9998", "99980"),
    ]
    assert absent == (0,)
    assert _last_log(db)["quarantined_count"] == 4


def test_a_refused_sync_leaves_the_previous_master_intact(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    before = _master(db)
    # A truncated source (5 of 45 companies) would deactivate most of the master.
    with pytest.raises(SyncAbortedError, match="looks truncated"):
        _sync(postgres, _sample()[:5])
    # Every record bad: nothing usable.
    with pytest.raises(SyncAbortedError, match="none of the"):
        _sync(postgres, [{"Code": "72030"}, "not a record"])
    # An empty list.
    with pytest.raises(SyncAbortedError, match="no companies"):
        _sync(postgres, [])
    assert _master(db) == before
    log = _last_log(db)
    assert log["status"] == "failed" and "SyncAbortedError" in log["error"]
    assert log["new_count"] == log["deactivated_count"] == 0
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_a_database_error_mid_sync_rolls_everything_back(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    before = _master(db)
    source = _without(_with(_sample(), "67580", CompanyName="ソニー"), "86970")
    source.append({**source[0], "Code": "99970", "CompanyName": "新会社"})
    source.append({**source[0], "Code": "1234a"})  # bad code: quarantined, the last write
    # Make that last write fail in the database, after the upsert, the deactivation and the
    # change history of the same transaction have run.
    with db.connect() as conn:
        conn.execute(
            "ALTER TABLE quarantine ADD CONSTRAINT refuse_code_format"
            " CHECK (rule <> 'code_format') NOT VALID"
        )
    with pytest.raises(Exception, match="refuse_code_format"):
        _sync(postgres, source)
    assert _master(db) == before  # Sony not renamed, JPX still active, no new company
    with db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
        changes = conn.execute(
            "SELECT count(*) FROM company_changes WHERE sync_id <> %s", (master.sync_id,)
        ).fetchone()
    assert changes == (0,)
    log = _last_log(db)
    assert log["status"] == "failed" and "CheckViolation" in log["error"]


# -- J-Quants client -----------------------------------------------------------------------
class FakeTime:
    """A clock that moves only when the client sleeps (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


def _client(
    httpserver: HTTPServer, fake: FakeTime | None = None, **kwargs: Any
) -> JQuantsMasterClient:
    fake = fake or FakeTime()
    kwargs.setdefault("requests_per_minute", 60)
    return JQuantsMasterClient(
        httpserver.url_for("/"), sleep=fake.sleep, clock=fake.clock, **kwargs
    )


def test_v2_pages_through_pagination_key_with_the_api_key(httpserver: HTTPServer) -> None:
    key = "v2-key-" + uuid.uuid4().hex
    for page, qs in ((1, ""), (2, "pagination_key=v2-page-2"), (3, "pagination_key=v2-page-3")):
        httpserver.expect_ordered_request(
            "/v2/equities/master", method="GET", query_string=qs, headers={"x-api-key": key}
        ).respond_with_json(_fixture(f"v2_master_page{page}.json"))
    fake = FakeTime()
    records = _client(httpserver, fake, api_key=key).listed_info()
    httpserver.check_assertions()
    assert [r["Code"] for r in records] == ["72030", "67580", "99840", "86970", "130A0", "27020"]
    assert records[0]["CompanyName"] == "トヨタ自動車"  # v2 abbreviations expanded
    assert records[0]["Sector33Code"] == "3700" and records[0]["MarketCode"] == "0111"
    assert "CoName" not in records[0]
    assert fake.sleeps == [1.0, 1.0]  # 60 requests a minute: one a second


def test_v1_refreshes_the_id_token_once_on_401(httpserver: HTTPServer) -> None:
    refresh = "refresh-" + uuid.uuid4().hex
    auth = "/v1/token/auth_refresh"
    httpserver.expect_ordered_request(
        auth, method="POST", query_string={"refreshtoken": refresh}
    ).respond_with_json(_fixture("v1_auth_refresh.json"))
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": "Bearer fixture-id-token-1"}
    ).respond_with_json(_fixture("v1_info_page1.json"))
    httpserver.expect_ordered_request(
        "/v1/listed/info", query_string="pagination_key=v1-page-2"
    ).respond_with_json(_fixture("error_401_token_expired.json"), status=401)
    httpserver.expect_ordered_request(
        auth, method="POST", query_string={"refreshtoken": refresh}
    ).respond_with_json(_fixture("v1_auth_refresh_second.json"))
    httpserver.expect_ordered_request(
        "/v1/listed/info",
        query_string="pagination_key=v1-page-2",
        headers={"Authorization": "Bearer fixture-id-token-2"},
    ).respond_with_json(_fixture("v1_info_page2.json"))
    records = _client(httpserver, refresh_token=refresh, requests_per_minute=6000).listed_info()
    httpserver.check_assertions()
    assert len(records) == 6 and records[-1]["Code"] == "27020"


def test_v1_renews_the_id_token_before_24h_and_logs_in_when_the_refresh_token_expired(
    httpserver: HTTPServer,
) -> None:
    auth = "/v1/token/auth_refresh"
    fake = FakeTime()
    client = _client(
        httpserver, fake, refresh_token="week-old", mail="me@example.com", password="pw-secret"
    )
    # The configured refresh token has expired (a week): log in, then refresh.
    httpserver.expect_ordered_request(
        auth, method="POST", query_string={"refreshtoken": "week-old"}
    ).respond_with_json(_fixture("error_400_refresh_token_invalid.json"), status=400)
    httpserver.expect_ordered_request(
        "/v1/token/auth_user",
        method="POST",
        json={"mailaddress": "me@example.com", "password": "pw-secret"},
    ).respond_with_json(_fixture("v1_auth_user.json"))
    httpserver.expect_ordered_request(
        auth, method="POST", query_string={"refreshtoken": "fixture-refresh-token-from-login"}
    ).respond_with_json(_fixture("v1_auth_refresh.json"))
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": "Bearer fixture-id-token-1"}
    ).respond_with_json(_fixture("v1_info_page2.json"))
    assert len(client.listed_info()) == 3
    # 23.5 hours later the ID token (valid 24 h) is renewed before the data request.
    fake.now += 23.5 * 3600
    httpserver.expect_ordered_request(
        auth, method="POST", query_string={"refreshtoken": "fixture-refresh-token-from-login"}
    ).respond_with_json(_fixture("v1_auth_refresh_second.json"))
    httpserver.expect_ordered_request(
        "/v1/listed/info", headers={"Authorization": "Bearer fixture-id-token-2"}
    ).respond_with_json(_fixture("v1_info_page2.json"))
    assert len(client.listed_info()) == 3
    httpserver.check_assertions()


def test_429_backs_off_and_gives_up_after_max_retries(httpserver: HTTPServer) -> None:
    page2 = _fixture("v2_master_page3.json")
    qs2 = "pagination_key=v2-page-2"
    httpserver.expect_ordered_request("/v2/equities/master", query_string="").respond_with_json(
        _fixture("error_429.json"), status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/v2/equities/master", query_string="").respond_with_json(
        _fixture("v2_master_page1.json")
    )
    httpserver.expect_ordered_request("/v2/equities/master", query_string=qs2).respond_with_json(
        _fixture("error_429.json"), status=429
    )
    httpserver.expect_ordered_request("/v2/equities/master", query_string=qs2).respond_with_json(
        page2
    )
    fake = FakeTime()
    records = _client(httpserver, fake, api_key="k").listed_info()
    httpserver.check_assertions()
    assert len(records) == 4
    # Retry-After honoured (7 s); the pacing (1 s) and the back-off (1 s) for the second 429.
    assert fake.sleeps == [7.0, 1.0, 1.0]

    httpserver.clear()
    httpserver.expect_request("/v2/equities/master").respond_with_json(
        _fixture("error_429.json"), status=429
    )
    fake = FakeTime()
    with pytest.raises(JQuantsError, match=r"HTTP 429 \(rate limited\) after 4 attempts") as err:
        _client(httpserver, fake, api_key="k", max_retries=3).listed_info()
    assert err.value.status == 429 and err.value.retryable
    assert fake.sleeps == [1.0, 2.0, 4.0]  # exponential


def test_http_500_mid_pagination_fails_the_sync_and_keeps_the_master(
    httpserver: HTTPServer, postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    secret = "api-key-" + uuid.uuid4().hex
    httpserver.expect_ordered_request("/v2/equities/master", query_string="").respond_with_json(
        _fixture("v2_master_page1.json")
    )
    httpserver.expect_ordered_request(
        "/v2/equities/master", query_string="pagination_key=v2-page-2"
    ).respond_with_json(_fixture("error_500.json"), status=500)
    source = MasterSourceResource(  # no retries: the retry of 5xx is tested at the HTTP layer
        kind="jquants",
        base_url=httpserver.url_for("/"),
        api_key=secret,
        requests_per_minute=6000,
        max_retries=0,
    )
    before = _master(db)
    with pytest.raises(JQuantsError, match="HTTP 500 after 1 attempts") as err:
        sync_companies(postgres, source.fetch_companies, source=source.source_name)
    assert err.value.retryable and err.value.status == 500
    assert _master(db) == before
    log = _last_log(db)
    assert (log["status"], log["source"]) == ("failed", "jquants-v2")
    assert "HTTP 500" in log["error"] and "Unexpected error" in log["error"]
    assert secret not in str(err.value) and secret not in log["error"]
    assert secret not in repr(source)


def test_a_malformed_page_fails_the_whole_fetch(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/equities/master", query_string="").respond_with_json(
        _fixture("v2_master_page1.json")
    )
    httpserver.expect_ordered_request(
        "/v2/equities/master", query_string="pagination_key=v2-page-2"
    ).respond_with_json({"message": "ok", "rows": []})
    with pytest.raises(JQuantsError, match="page 2: the response has no 'data' list"):
        _client(httpserver, api_key="k", requests_per_minute=6000).listed_info()


def test_errors_never_carry_credentials(httpserver: HTTPServer) -> None:
    key = "echoed-key-" + uuid.uuid4().hex
    httpserver.expect_request("/v2/equities/master").respond_with_json(
        {"message": f"Missing or invalid API key: {key}"}, status=403
    )
    with pytest.raises(JQuantsAuthError) as err:
        _client(httpserver, api_key=key).listed_info()
    assert key not in str(err.value) and "***" in str(err.value)

    refresh = "refresh-" + uuid.uuid4().hex
    httpserver.expect_request("/v1/token/auth_refresh").respond_with_json(
        {"message": f"token {refresh} expired"}, status=400
    )
    with pytest.raises(JQuantsAuthError, match="valid a week") as err:
        _client(httpserver, refresh_token=refresh).listed_info()
    assert refresh not in str(err.value)

    # Nothing listens on port 9: requests' own message would contain the URL with the
    # refresh token; ours names the failure only and chains nothing.
    unreachable = JQuantsMasterClient(
        "http://127.0.0.1:9", refresh_token=refresh, timeout_s=2, max_retries=0
    )
    with pytest.raises(JQuantsError) as err:
        unreachable.listed_info()
    assert refresh not in str(err.value) and "ConnectionError" in str(err.value)
    assert err.value.__cause__ is None and err.value.__context__ is None

    with pytest.raises(JQuantsAuthError, match="no J-Quants credentials"):
        JQuantsMasterClient(httpserver.url_for("/")).listed_info()


# -- cache ---------------------------------------------------------------------------------
def test_cache_ttls_and_exact_invalidation(
    postgres: PostgresResource, db: DbTarget, redis_store: RedisResource, master: SyncResult
) -> None:
    p = redis_store.key_prefix
    assert get_company(postgres, redis_store, "72030")["company_name"] == "トヨタ自動車"
    get_company(postgres, redis_store, "67580")
    active = get_company_list(postgres, redis_store)
    assert len(active) == SAMPLE_SIZE
    for market in ("0111", "0112", "0113"):
        get_company_list(postgres, redis_store, market_code=market)
    get_company_list(postgres, redis_store, sector33_code="3700")
    for table in CODE_TABLES:
        get_code_table(postgres, redis_store, table)

    assert COMPANY_TTL_S - 5 <= redis_store.ttl(company_key("72030", p)) <= COMPANY_TTL_S
    assert COMPANY_LIST_TTL_S - 5 <= redis_store.ttl(company_list_key("ACTIVE", p)) <= 1800
    assert CODE_TABLE_TTL_S - 5 <= redis_store.ttl(master_table_key("markets", p)) <= 86400

    # Read-through: a hit is served from Redis even when the database moved under it.
    with db.connect() as conn:
        conn.execute("UPDATE companies SET company_name = 'x' WHERE code = '67580'")
    assert get_company(postgres, redis_store, "67580")["company_name"] == "ソニーグループ"

    result = _sync(postgres, _with(_sample(), "72030", MarketCode="0112"))
    deleted = invalidate(redis_store, result.changes)
    assert set(deleted) == {
        company_key("72030", p),
        company_key("67580", p),  # the sync restored its name: a change too
        *(company_list_key(n, p) for n in ("ALL", "ACTIVE", "MARKET_0111", "MARKET_0112")),
        *(company_list_key(n, p) for n in ("SECTOR17_6", "SECTOR17_9")),
        *(company_list_key(n, p) for n in ("SECTOR33_3700", "SECTOR33_3650")),
    }
    # Keys the changes do not touch survive.
    for key in (
        company_list_key("MARKET_0113", p),
        master_table_key("markets", p),
        master_table_key("sector33", p),
    ):
        assert redis_store.get_json(key) is not None, key
    assert redis_store.get_json(company_key("72030", p)) is None
    assert get_company(postgres, redis_store, "72030")["market_code"] == "0112"
    in_0112 = {c["code"] for c in get_company_list(postgres, redis_store, market_code="0112")}
    assert "72030" in in_0112

    # A renamed sector invalidates that table's key only.
    tables = read_code_tables()
    tables["sector33"][0]["name_en"] = "Fishery, Agriculture and Forestry"
    with postgres.transaction() as conn:
        changed = upsert_code_table(conn, "sector33", tables["sector33"])
    assert changed.updated == ["0050"] and not changed.inserted
    assert invalidate(redis_store, tables=["sector33"]) == [master_table_key("sector33", p)]
    assert redis_store.get_json(master_table_key("markets", p)) is not None


# -- search --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["auto", "plain"])
def test_search_in_japanese_and_english_ranked(
    postgres: PostgresResource, master: SyncResult, method: str
) -> None:
    def codes(text: str, limit: int = 20) -> list[str]:
        return [r["code"] for r in search_companies(text, limit, postgres=postgres, method=method)]

    assert codes("トヨタ")[0] == "72030"
    assert codes("toyota")[0] == "72030"
    assert codes("7203")[0] == "72030"
    assert codes("ソニー") == ["67580"]
    # Every Mitsubishi, Japanese or English; the closest names first.
    assert set(codes("三菱")) == {"83060", "80580", "88020", "93010"}
    mitsubishi = codes("Mitsubishi")
    assert set(mitsubishi) == {"83060", "80580", "88020", "93010"}
    assert mitsubishi[0] == "80580"  # "Mitsubishi Corporation": the name most covered
    assert codes("ＡＮＡ")[0] == "92020"  # full width, as J-Quants spells Japanese names
    assert codes("holdings", 3) and len(codes("holdings", 3)) == 3
    assert codes("%") == [] and codes("_") == []  # LIKE wildcards are literal
    hit = search_companies("130A", postgres=postgres, method=method)[0]
    assert (hit["code"], hit["symbol"]) == ("130A0", "130A")
    if method == "auto":
        assert codes("Toyta")[0] == "72030"  # trigram word similarity forgives the typo


def test_show_company_with_names_through_the_cache(
    postgres: PostgresResource, redis_store: RedisResource, master: SyncResult
) -> None:
    shown = show_company("7203", postgres=postgres, redis=redis_store)
    assert shown is not None
    assert (shown["code"], shown["symbol"]) == ("72030", "7203")
    assert (shown["market_name_ja"], shown["market_name_en"]) == ("プライム", "Prime")
    assert shown["sector33_name_en"] == "Transportation Equipment"
    assert shown["sector17_name_ja"] == "自動車・輸送機"
    assert redis_store.get_json(company_key("72030", redis_store.key_prefix)) is not None
    assert show_company("72030", postgres=postgres)["company_name"] == "トヨタ自動車"
    assert show_company("1111", postgres=postgres) is None


# -- Dagster: assets, partitions, checks ---------------------------------------------------
def _resources(
    postgres: PostgresResource, redis: RedisResource, source: MasterSourceResource
) -> dict[str, Any]:
    return {"postgres": postgres, "redis": redis, "master_source": source}


def _write_listed(path: Path, records: list[dict[str, Any]]) -> str:
    path.write_text(json.dumps({"info": records}, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_materialize_registers_active_companies_only(
    postgres: PostgresResource, redis_store: RedisResource, db: DbTarget, tmp_path: Path
) -> None:
    # The master already knows JPX (86970) as inactive: it must not become a partition.
    _load_code_tables(postgres)
    _sync(postgres, _sample())
    _sync(postgres, _without(_sample(), "86970"))
    instance = DagsterInstance.ephemeral()
    without_jpx = _write_listed(tmp_path / "without_jpx.json", _without(_sample(), "86970"))

    result = materialize(
        [*MASTER_ASSETS, *MASTER_CHECKS],
        instance=instance,
        resources=_resources(postgres, redis_store, MasterSourceResource(sample_path=without_jpx)),
    )

    assert result.success
    keys = set(instance.get_dynamic_partitions("symbols"))
    assert {"7203", "6758", "25935", "130A", "USDJPY", "EURUSD", "N225", "SPX", "AAPL"} <= keys
    assert "8697" not in keys and "72030" not in keys
    assert len(keys) == (SAMPLE_SIZE - 1) + 9  # 44 companies, 5 FX, 2 indices, 2 US equities
    meta = result.asset_materializations_for_node("companies")[0].metadata
    assert (meta["new"].value, meta["unchanged"].value, meta["deactivated"].value) == (
        0,
        SAMPLE_SIZE - 1,
        0,
    )
    assert meta["source"].value == "file" and meta["active_companies"].value == SAMPLE_SIZE - 1
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 4 and all(e.passed for e in evaluations)

    # JPX listed again: registered. Delisted once more: it keeps its partition (backfillable).
    again = materialize(
        MASTER_ASSETS,
        instance=instance,
        resources=_resources(postgres, redis_store, MasterSourceResource()),
    )
    meta = again.asset_materializations_for_node("companies")[0].metadata
    assert meta["updated"].value == 1 and meta["symbols_added"].value == ["8697"]
    materialize(
        MASTER_ASSETS,
        instance=instance,
        resources=_resources(postgres, redis_store, MasterSourceResource(sample_path=without_jpx)),
    )
    assert "8697" in instance.get_dynamic_partitions("symbols")
    assert _company(db, "86970")["is_active"] is False


def test_a_failing_source_fails_the_asset_and_keeps_the_master(
    postgres: PostgresResource, redis_store: RedisResource, db: DbTarget, tmp_path: Path
) -> None:
    _load_code_tables(postgres)
    _sync(postgres, _sample())
    before = _master(db)
    broken = tmp_path / "broken.json"
    broken.write_text('{"info": [', encoding="utf-8")
    instance = DagsterInstance.ephemeral()
    result = materialize(
        MASTER_ASSETS,
        instance=instance,
        resources=_resources(postgres, redis_store, MasterSourceResource(sample_path=str(broken))),
        raise_on_error=False,
    )
    assert not result.success
    assert _master(db) == before
    assert _last_log(db)["status"] == "failed" and "not valid JSON" in _last_log(db)["error"]
    assert instance.get_dynamic_partitions("symbols") == []


def test_checks_pass_on_good_data_and_fail_for_the_right_reason(
    postgres: PostgresResource, db: DbTarget, master: SyncResult
) -> None:
    checks = [
        companies_referential_integrity,
        companies_code_format,
        companies_no_duplicate_codes,
        companies_sync_freshness,
    ]
    assert all(check(postgres=postgres).passed for check in checks)

    with db.connect() as conn:  # as the superuser: what a manual fix could do
        conn.execute("UPDATE companies SET market_code = NULL WHERE code = '72030'")
        conn.execute("SET session_replication_role = replica")  # foreign keys off
        conn.execute("UPDATE companies SET sector33_code = '9998' WHERE code = '67580'")
        conn.execute("SET session_replication_role = DEFAULT")
    ri = companies_referential_integrity(postgres=postgres)
    assert not ri.passed and ri.metadata["violations"].value == 2
    examples = {e["code"]: e["missing"] for e in ri.metadata["examples"].value}
    assert examples == {"67580": ["sector33"], "72030": ["market"]}
    assert companies_code_format(postgres=postgres).passed  # other checks unaffected

    with db.connect() as conn:
        conn.execute(
            "INSERT INTO companies (code, company_name, sector17_code, sector33_code,"
            " market_code) VALUES ('ABCDE', 'bad', '6', '3700', '0111'),"
            " ('7203', 'Toyota again', '6', '3700', '0111')"
        )
    fmt = companies_code_format(postgres=postgres)
    assert not fmt.passed and fmt.metadata["examples"].value == ["ABCDE"]
    dup = companies_no_duplicate_codes(postgres=postgres)
    assert not dup.passed and dup.metadata["examples"].value == {"7203": ["7203", "72030"]}

    assert companies_sync_freshness(postgres=postgres).passed
    with db.connect() as conn:
        conn.execute("UPDATE company_sync_log SET finished_at = now() - interval '3 days'")
    stale = companies_sync_freshness(postgres=postgres)
    assert not stale.passed and stale.metadata["age_hours"].value > 70
    with db.connect() as conn:
        conn.execute("DELETE FROM company_changes")
        conn.execute("DELETE FROM company_sync_log")
    never = companies_sync_freshness(postgres=postgres)
    assert not never.passed and "no successful" in never.metadata["reason"].value


def test_cli_search_and_show(
    db: DbTarget, master: SyncResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from market_assets.cli.companies import app

    monkeypatch.setenv("MARKET_ASSETS_PG_READER_URL", db.reader_url)  # the reader role
    monkeypatch.setenv("MARKET_ASSETS_PG_SCHEMA", db.schema)
    monkeypatch.delenv("MARKET_ASSETS_REDIS_URL", raising=False)  # no cache: database only
    runner = CliRunner()
    found = runner.invoke(app, ["search", "トヨタ"])
    assert found.exit_code == 0, found.output
    assert "72030" in found.output and "Toyota Motor" in found.output
    shown = runner.invoke(app, ["show", "7203"])
    assert shown.exit_code == 0, shown.output
    assert "Prime" in shown.output and "Transportation Equipment" in shown.output
    missing = runner.invoke(app, ["show", "1111"])
    assert missing.exit_code == 1 and "no company" in missing.output
    bad = runner.invoke(app, ["search", "   "])
    assert bad.exit_code == 1 and "must not be empty" in bad.output
