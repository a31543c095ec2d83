from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import dsw_xdm as xdm

from .conftest import textual_schema


def _event(**extra: Any) -> dict[str, Any]:
    return {"_id": "e1", "timestamp": "2024-03-01T10:00:00Z", "_acme": {"store": 5}, **extra}


def _rules(violations: list[xdm.Violation]) -> set[tuple[str, str]]:
    return {(v.path, v.rule) for v in violations}


def test_a_valid_event_has_no_violations(event_schema: xdm.Schema) -> None:
    record = _event(
        eventType="commerce.purchases",
        identityMap={"ECID": [{"id": "1", "authenticatedState": "ambiguous", "primary": True}]},
        productListItems=[{"SKU": "A1", "quantity": 2, "priceTotal": 10.5, "currencyCode": "USD"}],
        commerce={"order": {"priceTotal": 10.5, "currencyCode": "USD"}, "purchases": {"value": 1}},
        web={"webPageDetails": {"URL": "https://x", "pageViews": {"value": 1.0}}},
    )
    assert xdm.validate_record(event_schema, record) == []


def test_custom_event_types_are_accepted(event_schema: xdm.Schema) -> None:
    assert xdm.validate_record(event_schema, _event(eventType="anything.custom")) == []


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"_id": None}, "/_id", "required"),
        ({"timestamp": "2018-00-10T22:07:56Z"}, "/timestamp", "format"),
        ({"timestamp": "2021-02-29T00:00:00Z"}, "/timestamp", "format"),
        ({"timestamp": 5}, "/timestamp", "type"),
        ({"identityMap": {"E": [{"id": "1", "authenticatedState": "bogus"}]}},
         "/identityMap/E/0/authenticatedState", "enum"),
        ({"productListItems": [{"SKU": "a"}, {"name": "no sku"}]},
         "/productListItems/1/SKU", "required"),
        ({"productListItems": [{"SKU": "a", "quantity": "two"}]},
         "/productListItems/0/quantity", "type"),
        ({"productListItems": [{"SKU": "a", "quantity": 1.5}]},
         "/productListItems/0/quantity", "type"),
        ({"productListItems": [{"SKU": "a", "currencyCode": "usd"}]},
         "/productListItems/0/currencyCode", "pattern"),
        ({"productListItems": [None]}, "/productListItems/0", "type"),
        ({"commerce": {"order": {"orderType": "foo"}}}, "/commerce/order/orderType", "enum"),
        ({"commerce": {"purchases": {}}}, "/commerce/purchases/value", "required"),
        ({"web": {"webReferrer": {"type": "weird"}}}, "/web/webReferrer/type", "enum"),
        ({"_acme": {"store": 0}}, "/_acme/store", "minimum"),
        ({"_acme": {"store": 101}}, "/_acme/store", "maximum"),
        ({"_acme": {"store": True}}, "/_acme/store", "type"),
        ({"_acme": {"store": 1, "code": "ab-12"}}, "/_acme/code", "pattern"),
        ({"_acme": {"store": 1, "label": "x"}}, "/_acme/label", "minLength"),
        ({"_acme": {"store": 1, "label": "x" * 9}}, "/_acme/label", "maxLength"),
        ({"_acme": {"store": 1, "opened": "2020-13-01"}}, "/_acme/opened", "format"),
        ({"_acme": {"store": 1, "contact": "not-an-email"}}, "/_acme/contact", "format"),
        ({"_acme": {"store": 1, "visits": 2**60}}, "/_acme/visits", "maximum"),
        ({"_acme": {"store": 1, "score": float("nan")}}, "/_acme/score", "type"),
        ({"_acme": {"store": 1, "flags": {"a/b": "yes"}}}, "/_acme/flags/a~1b", "type"),
        ({"_acme": {"store": 1, "lines": [{"sku": "a"}] * 4}}, "/_acme/lines", "maxItems"),
        ({"_acme": {}}, "/_acme/store", "required"),
        ({"_acme": None}, "/_acme", "required"),
        ({"web": "page"}, "/web", "type"),
    ],
)  # fmt: skip
def test_violations_name_path_and_rule(
    event_schema: xdm.Schema, change: dict[str, Any], path: str, rule: str
) -> None:
    violations = xdm.validate_record(event_schema, _event(**change))
    assert (path, rule) in _rules(violations), violations
    assert all(v.message for v in violations)


def test_profile_negative_probes(profile_schema: xdm.Schema) -> None:
    cases = [
        ({"person": {"birthDate": "1979-01-3"}}, "/person/birthDate", "format"),
        ({"person": {"birthYear": 0}}, "/person/birthYear", "minimum"),
        ({"person": {"gender": "x"}}, "/person/gender", "enum"),
        ({"homeAddress": {"countryCode": "usa"}}, "/homeAddress/countryCode", "pattern"),
        ({"homeAddress": {"postOfficeBox": "x" * 21}}, "/homeAddress/postOfficeBox", "maxLength"),
        ({"personalEmail": {"address": "not-an-email"}}, "/personalEmail/address", "format"),
        (
            {"homeAddress": {"_schema": {"latitude": 91.0}}},
            "/homeAddress/_schema/latitude",
            "maximum",
        ),
    ]
    for record, path, rule in cases:
        assert (path, rule) in _rules(xdm.validate_record(profile_schema, record))


def test_unknown_fields_are_ignored_or_reported(event_schema: xdm.Schema) -> None:
    record = _event(extra={"x": 1}, commerce={"unknownThing": 1})
    assert xdm.validate_record(event_schema, record) == []
    strict = xdm.validate_record(event_schema, record, unknown_fields="error")
    assert _rules(strict) == {
        ("/extra", "unknownField"),
        ("/commerce/unknownThing", "unknownField"),
    }


def test_native_dates_are_accepted(event_schema: xdm.Schema) -> None:
    import datetime as dt

    record = _event(timestamp=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    record["_acme"]["opened"] = dt.date(2024, 1, 1)
    assert xdm.validate_record(event_schema, record) == []


# -- Arrow ---------------------------------------------------------------------------------------


def _table(schema: xdm.Schema, records: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(records, schema=textual_schema(schema))


def test_arrow_validation_reports_rows_and_paths(event_schema: xdm.Schema) -> None:
    records = [
        _event(),
        _event(timestamp="2021-02-29T00:00:00Z"),
        _event(productListItems=[{"SKU": "a"}, {"name": "b"}]),
        _event(identityMap={"ECID": [{"id": "1", "authenticatedState": "bogus"}]}),
        _event(_acme={"store": 1, "lines": [{"sku": "a", "units": 2000}]}),
        _event(_id=None),
    ]
    result = xdm.validate_table(event_schema, _table(event_schema, records))
    assert result.valid.to_pylist() == [True, False, False, False, False, False]
    found = {(v.row, v.path, v.rule) for v in result.violations}
    assert found == {
        (1, "/timestamp", "format"),
        (2, "/productListItems/1/SKU", "required"),
        (3, "/identityMap/ECID/0/authenticatedState", "enum"),
        (4, "/_acme/lines/0/units", "maximum"),
        (5, "/_id", "required"),
    }
    assert result.invalid_row_count == 5
    assert not result.ok
    assert result.valid_rows(_table(event_schema, records)).num_rows == 1


def test_arrow_typed_columns_and_type_mismatches(event_schema: xdm.Schema) -> None:
    typed = pa.Table.from_pylist(
        [{"_id": "a", "timestamp": 0, "_acme": {"store": 3}}],
        schema=xdm.to_arrow_schema(event_schema),
    )
    assert xdm.validate_table(event_schema, typed).ok
    wrong = pa.table({"_id": ["a", None], "timestamp": [1.5, 2.0], "_acme": [{"store": "x"}, None]})
    result = xdm.validate_table(event_schema, wrong)
    rules = {(v.row, v.path, v.rule) for v in result.violations}
    assert (0, "/timestamp", "type") in rules
    assert (0, "/_acme/store", "type") in rules
    assert (1, "/_id", "required") in rules
    assert (1, "/_acme", "required") in rules


def test_arrow_missing_required_column(event_schema: xdm.Schema) -> None:
    result = xdm.validate_table(event_schema, pa.table({"_id": ["a", "b"]}))
    assert result.valid.to_pylist() == [False, False]
    assert {(v.row, v.path) for v in result.violations} >= {(0, "/timestamp"), (1, "/_acme")}


def test_arrow_float_columns_for_integers(event_schema: xdm.Schema) -> None:
    table = pa.table(
        {"_id": ["a"] * 3, "timestamp": ["2024-01-01T00:00:00Z"] * 3,
         "_acme": [{"store": 2.0}, {"store": 2.5}, {"store": 500.0}]}
    )  # fmt: skip
    result = xdm.validate_table(event_schema, table)
    assert {(v.row, v.rule) for v in result.violations} == {(1, "type"), (2, "maximum")}


def test_arrow_violations_are_capped_per_batch_but_counted(event_schema: xdm.Schema) -> None:
    records = [_event(timestamp="bad") for _ in range(50)]
    table = _table(event_schema, records)
    batches = pa.Table.from_batches(table.to_batches(max_chunksize=20))
    result = xdm.validate_table(event_schema, batches, max_violations_per_batch=5)
    assert result.violation_count == 50
    assert len(result.violations) == 15  # three batches, five each
    assert [v.row for v in result.violations][5:10] == [20, 21, 22, 23, 24]
    single = xdm.validate_table(event_schema, table.to_batches()[0])
    assert single.invalid_row_count == 50


def test_arrow_unknown_columns(event_schema: xdm.Schema) -> None:
    table = _table(event_schema, [_event()]).append_column("extra", pa.array([1]))
    assert xdm.validate_table(event_schema, table).ok
    strict = xdm.validate_table(event_schema, table, unknown_fields="error")
    assert [(v.path, v.rule) for v in strict.violations] == [("/extra", "unknownField")]


def test_arrow_sliced_and_null_lists(event_schema: xdm.Schema) -> None:
    records = [
        _event(productListItems=[{"SKU": "a"}]),
        _event(productListItems=None),
        _event(productListItems=[{"name": "x"}, {"SKU": "b"}]),
    ]
    table = _table(event_schema, records).slice(1)
    result = xdm.validate_table(event_schema, table)
    assert [(v.row, v.path) for v in result.violations] == [(1, "/productListItems/0/SKU")]
