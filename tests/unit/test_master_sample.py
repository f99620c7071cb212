"""The shipped master sample and the pure parts of the master: judging, keys, registration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from dagster import EnvVar

from market_assets.composition import master_source_resource
from market_assets.core import settings as s
from market_assets.core.universe import symbol_for_jquants_code
from market_assets.masters.cache import keys_for_changes, list_name
from market_assets.masters.records import KnownCodes, judge_record, judge_records
from market_assets.masters.registration import non_company_symbols, scheduled_symbols
from market_assets.masters.search import CompanyLookupError, normalise_code, search_params
from market_assets.masters.sync import CompanyChange
from resources.cache_keys import company_key, company_list_key
from resources.masters.jquants_master import normalise_record
from resources.masters.sample_file import read_code_tables, read_listed_info

LISTED_INFO_FIELDS = {
    "Date",
    "Code",
    "CompanyName",
    "CompanyNameEnglish",
    "Sector17Code",
    "Sector17CodeName",
    "Sector33Code",
    "Sector33CodeName",
    "ScaleCategory",
    "MarketCode",
    "MarketCodeName",
    "MarginCode",
    "MarginCodeName",
}


@pytest.fixture(scope="module")
def tables() -> dict[str, list[dict[str, str]]]:
    return read_code_tables()


@pytest.fixture(scope="module")
def known(tables: dict[str, list[dict[str, str]]]) -> KnownCodes:
    return KnownCodes(**{t: frozenset(r["code"] for r in rows) for t, rows in tables.items()})


@pytest.fixture
def sample() -> list[dict[str, Any]]:
    return copy.deepcopy(read_listed_info())


# -- the shipped files ---------------------------------------------------------------------
def test_code_tables_are_the_public_tse_classifications(tables: dict[str, Any]) -> None:
    s17 = [r["code"] for r in tables["sector17"]]
    s33 = [r["code"] for r in tables["sector33"]]
    markets = {r["code"]: r["name_en"] for r in tables["markets"]}
    assert s17 == [str(i) for i in range(1, 18)] + ["99"]
    assert len(s33) == 34 and s33[0] == "0050" and s33[-1] == "9999"
    assert s33 == sorted(s33)
    assert (markets["0111"], markets["0112"], markets["0113"]) == ("Prime", "Standard", "Growth")
    for rows in tables.values():
        assert all(r["name_ja"] and r["name_en"] for r in rows)


def test_sample_is_a_few_dozen_companies_in_the_listed_info_layout(
    sample: list[dict[str, Any]],
) -> None:
    assert 30 <= len(sample) <= 80
    for record in sample:
        assert set(record) == LISTED_INFO_FIELDS, record["Code"]
        assert len(record["Code"]) == 5  # as J-Quants gives them


def test_every_sample_record_is_valid_and_names_match_the_code_tables(
    sample: list[dict[str, Any]], tables: dict[str, Any], known: KnownCodes
) -> None:
    judged = judge_records(sample, known)
    assert not judged.rejected and len(judged.rows) == len(sample)
    ja = {t: {r["code"]: r["name_ja"] for r in rows} for t, rows in tables.items()}
    for r in sample:
        assert r["Sector17CodeName"] == ja["sector17"][r["Sector17Code"]]
        assert r["Sector33CodeName"] == ja["sector33"][r["Sector33Code"]]
        assert r["MarketCodeName"] == ja["markets"][r["MarketCode"]]
    markets = {r["MarketCode"] for r in sample}
    assert {"0111", "0112", "0113"} <= markets


def test_codes_map_to_unique_canonical_symbols(sample: list[dict[str, Any]]) -> None:
    symbols = [symbol_for_jquants_code(r["Code"]) for r in sample]
    assert len(set(symbols)) == len(symbols)
    assert {"7203", "6758", "9984", "25935", "130A"} <= set(symbols)


# -- judging records -----------------------------------------------------------------------
def _rule(record: Any, known: KnownCodes) -> str:
    outcome = judge_record(record, known)
    assert not hasattr(outcome, "company_name"), "expected a rejection"
    return outcome.rule  # type: ignore[union-attr]


def test_each_bad_record_breaks_a_named_rule(
    sample: list[dict[str, Any]], known: KnownCodes
) -> None:
    good = sample[0]
    assert _rule({k: v for k, v in good.items() if k != "Sector17Code"}, known) == ("missing_field")
    assert _rule({**good, "CompanyName": "   "}, known) == "missing_field"
    assert _rule({**good, "Sector33Code": "9998"}, known) == "unknown_sector33_code"
    assert _rule({**good, "Sector17Code": "18"}, known) == "unknown_sector17_code"
    assert _rule({**good, "MarketCode": "0199"}, known) == "unknown_market_code"
    assert _rule({**good, "Code": "7203-0"}, known) == "code_format"
    assert _rule({**good, "Code": "abcd0"}, known) == "code_format"
    assert _rule({**good, "Date": "June 3"}, known) == "bad_field"
    assert _rule({**good, "CompanyName": 12}, known) == "bad_field"
    assert _rule(["not", "a", "dict"], known) == "not_an_object"
    # Optional fields may be absent (MarginCode is only on some plans).
    row = judge_record({k: v for k, v in good.items() if k != "MarginCode"}, known)
    assert getattr(row, "margin_code", "x") is None


def test_duplicates_identical_are_collapsed_conflicting_are_all_held(
    sample: list[dict[str, Any]], known: KnownCodes
) -> None:
    toyota = next(r for r in sample if r["Code"] == "72030")
    judged = judge_records([*sample, dict(toyota)], known)
    assert len(judged.rows) == len(sample) and len(judged.rejected) == 1
    assert judged.rejected[0].rule == "duplicate_code"

    judged = judge_records([*sample, {**toyota, "MarketCode": "0112"}], known)
    assert "72030" not in {r.code for r in judged.rows}
    assert [r.rule for r in judged.rejected] == ["duplicate_code"] * 2
    assert judged.held_codes == {"72030"}

    # '7203' and '72030' are one symbol: a duplicate even though the codes differ.
    judged = judge_records([*sample, {**toyota, "Code": "7203"}], known)
    assert {r.code for r in judged.rejected} == {"7203", "72030"}


def test_v2_field_names_are_expanded_to_the_v1_layout() -> None:
    v2 = {"Code": "72030", "CoName": "トヨタ自動車", "S33": "3700", "Mkt": "0111", "Mrgn": "2"}
    assert normalise_record(v2) == {
        "Code": "72030",
        "CompanyName": "トヨタ自動車",
        "Sector33Code": "3700",
        "MarketCode": "0111",
        "MarginCode": "2",
    }
    assert normalise_record("junk") == "junk"


# -- cache keys ----------------------------------------------------------------------------
def test_keys_for_changes_are_exactly_the_touched_lists() -> None:
    before = {
        "code": "72030",
        "market_code": "0111",
        "sector17_code": "6",
        "sector33_code": "3700",
        "is_active": True,
    }
    moved = CompanyChange("72030", "updated", before, {**before, "market_code": "0112"})
    assert set(keys_for_changes([moved], prefix="p:")) == {
        company_key("72030", "p:"),
        *(
            company_list_key(n, "p:")
            for n in ("ALL", "ACTIVE", "MARKET_0111", "MARKET_0112", "SECTOR17_6", "SECTOR33_3700")
        ),
    }
    # An inactive company changing appears only in ALL.
    idle = {**before, "is_active": False}
    renamed = CompanyChange("72030", "updated", idle, {**idle, "company_name": "x"})
    assert set(keys_for_changes([renamed])) == {company_key("72030"), company_list_key("ALL")}
    assert list_name(market_code="0111") == "MARKET_0111"
    with pytest.raises(ValueError):
        list_name(market_code="0111", sector33_code="3700")


# -- search input --------------------------------------------------------------------------
def test_search_input_is_normalised_and_like_wildcards_escaped() -> None:
    params = search_params("  ＡＮＡ  50%_off ", 5)
    assert params["text"] == "ＡＮＡ 50%_off"
    assert params["text_en"] == "ANA 50%_off"
    assert params["contains_en"] == "%ANA 50\\%\\_off%"
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(CompanyLookupError):
            search_params(bad, 5)
    with pytest.raises(CompanyLookupError):
        search_params("toyota", 0)
    assert normalise_code("7203") == "72030"
    assert normalise_code("７２０３") == "72030"
    assert normalise_code("130a0") == "130A0"
    with pytest.raises(CompanyLookupError):
        normalise_code("72'; --")


# -- registration --------------------------------------------------------------------------
def test_scheduled_symbols_are_active_companies_and_non_company_instruments() -> None:
    others = non_company_symbols()
    assert {"USDJPY", "EURUSD", "N225", "SPX", "AAPL"} <= set(others)
    assert "7203" not in others  # Tokyo equities come from the master only
    wanted = scheduled_symbols(["72030", "25935", "130A0"])
    assert {"7203", "25935", "130A"} <= set(wanted) and "6758" not in wanted


# -- resource from the environment ---------------------------------------------------------
def test_resource_takes_secrets_only_as_env_vars_that_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        s.JQUANTS_API_KEY,
        s.JQUANTS_REFRESH_TOKEN,
        s.JQUANTS_MAIL_ADDRESS,
        s.JQUANTS_PASSWORD,
        s.MASTER_SOURCE,
    ):
        monkeypatch.delenv(name, raising=False)
    default = master_source_resource()
    assert default.kind == "sample" and default.api_key is None

    monkeypatch.setenv(s.MASTER_SOURCE, "jquants")
    monkeypatch.setenv(s.JQUANTS_REFRESH_TOKEN, "rt-secret-value")
    resource = master_source_resource()
    assert resource.kind == "jquants"
    assert resource.refresh_token == EnvVar(s.JQUANTS_REFRESH_TOKEN)
    assert resource.api_key is None and resource.mail is None
    assert "rt-secret-value" not in repr(resource)
