from __future__ import annotations

import datetime as dt

import jsonschema
import pyarrow as pa
import pytest

import dsw_xdm as xdm
from dsw_xdm import ids


def test_arrow_schema_types(event_schema: xdm.Schema, profile_schema: xdm.Schema) -> None:
    arrow = xdm.to_arrow_schema(event_schema)
    assert arrow.field("timestamp").type == pa.timestamp("ms", tz="UTC")
    assert arrow.field("identityMap").type.key_type == pa.string()
    items = arrow.field("productListItems").type.value_type
    assert items.field("quantity").type == pa.int32()
    assert items.field("priceTotal").type == pa.float64()
    tenant = arrow.field("_acme").type
    assert tenant.field("store").type == pa.int8()
    assert tenant.field("visits").type == pa.int64()
    assert tenant.field("opened").type == pa.date32()
    assert tenant.field("flags").type == pa.map_(pa.string(), pa.bool_())
    assert arrow.metadata[b"xdm:schema"] == event_schema.id.encode()
    person = xdm.to_arrow_schema(profile_schema).field("person").type
    assert person.field("birthYear").type == pa.int16()
    assert person.field("birthDate").type == pa.date32()


def test_json_schema_is_valid_draft_2020_12(event_schema: xdm.Schema) -> None:
    document = xdm.to_json_schema(event_schema)
    jsonschema.Draft202012Validator.check_schema(document)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert document["required"] == ["_id", "timestamp", "_acme"]
    store = document["properties"]["_acme"]["properties"]["store"]
    assert store == {"type": "integer", "minimum": 1, "maximum": 100}
    assert document["properties"]["identityMap"]["additionalProperties"]["type"] == "array"
    assert "commerce.purchases" in document["properties"]["eventType"]["examples"]
    validator = jsonschema.Draft202012Validator(document)
    good = {"_id": "1", "timestamp": "2024-01-01T00:00:00Z", "_acme": {"store": 3}}
    assert validator.is_valid(good)
    assert not validator.is_valid({**good, "_acme": {"store": 300}})
    closed = xdm.to_json_schema(event_schema, additional_properties=False)
    assert not jsonschema.Draft202012Validator(closed).is_valid({**good, "x": 1})
    patterned = xdm.to_json_schema(event_schema, date_time_patterns=True)
    assert not jsonschema.Draft202012Validator(patterned).is_valid({**good, "timestamp": "x"})


def test_feature_columns_and_flat_records(event_schema: xdm.Schema) -> None:
    columns = xdm.feature_columns(event_schema)
    assert "commerce.order.priceTotal" in columns
    assert "productListItems" in columns
    assert "commerce.order" not in columns
    record = {"commerce": {"order": {"priceTotal": 3.5}, "purchases": {}}, "_id": "x"}
    flat = xdm.flatten_record(record)
    assert flat == {"commerce.order.priceTotal": 3.5, "_id": "x"}
    assert xdm.unflatten_record({**flat, "web.webPageDetails.URL": None}) == {
        "commerce": {"order": {"priceTotal": 3.5}},
        "_id": "x",
    }
    with pytest.raises(xdm.ConversionError):
        xdm.unflatten_record({"a": 1, "a.b": 2})


def test_flatten_and_unflatten_tables() -> None:
    table = pa.table({"a.b": [1, None], "a.c": ["x", None], "d": [True, False]})
    nested = xdm.unflatten_table(table)
    assert nested.to_pylist() == [{"a": {"b": 1, "c": "x"}, "d": True}, {"a": None, "d": False}]
    assert xdm.flatten_table(nested).column_names == ["a.b", "a.c", "d"]


def test_coerce_csv_strings_with_cell_errors(event_schema: xdm.Schema) -> None:
    table = pa.table(
        {
            "_id": ["e1", "e2", "e3"],
            "timestamp": ["2024-01-01T10:00:00.123456+02:00", "yesterday", "2024-02-30T00:00:00Z"],
            "_acme.store": ["5", "500", " 7 "],
            "_acme.score": ["0.5", "1e-1", "abc"],
            "_acme.opened": ["2024-01-31", "", "2024-1-1"],
            "commerce.order.priceTotal": ["10", "-2.5", None],
            "web.webPageDetails.isHomePage": ["TRUE", "no", "maybe"],
            "ignored.column": ["1", "2", "3"],
        }
    )
    result = xdm.coerce_table(event_schema, table)
    assert result.valid.to_pylist() == [True, False, False]
    cells = {(e.row, e.column) for e in result.errors}
    assert cells == {
        (1, "timestamp"), (2, "timestamp"), (1, "_acme.store"), (2, "_acme.score"),
        (2, "_acme.opened"), (2, "web.webPageDetails.isHomePage"),
    }  # fmt: skip
    assert result.error_count == 6
    rows = result.table.to_pylist()
    assert rows[0]["timestamp"] == dt.datetime(2024, 1, 1, 8, 0, 0, 123000, tzinfo=dt.UTC)
    assert rows[0]["_acme"] == {"store": 5, "score": 0.5, "opened": dt.date(2024, 1, 31)}
    assert rows[1]["_acme"]["store"] is None
    assert rows[2]["_acme"]["store"] == 7
    assert rows[1]["web"]["webPageDetails"]["isHomePage"] is False
    assert rows[2]["commerce"] is None
    assert result.table.schema.field("_acme").type.field("store").type == pa.int8()
    validation = xdm.validate_table(event_schema, result.table)
    # Failed cells are null: a failed required cell becomes a `required` violation.
    assert {(v.row, v.path) for v in validation.violations} == {
        (1, "/timestamp"), (2, "/timestamp"), (1, "/_acme/store"),
    }  # fmt: skip


def test_coerce_with_strptime_formats_and_errors(event_schema: xdm.Schema) -> None:
    table = pa.table({"_acme.opened": ["2/5/10", "13/45/10"]})
    result = xdm.coerce_table(event_schema, table, formats={"_acme.opened": "%m/%d/%y"})
    assert result.table.column("_acme").to_pylist()[0] == {"opened": dt.date(2010, 2, 5)}
    assert [(e.row, e.value) for e in result.errors] == [(1, "13/45/10")]
    with pytest.raises(xdm.ConversionError, match="not a field"):
        xdm.coerce_table(event_schema, pa.table({"x": ["1"]}), unknown_columns="error")
    with pytest.raises(xdm.ConversionError, match="array"):
        xdm.coerce_table(event_schema, pa.table({"productListItems": ["[]"]}))


def test_standard_to_stored_form(profile_schema: xdm.Schema) -> None:
    standard = {
        "@id": "https://data/1",
        "xdm:identityMap": {"https://ns.adobe.com/xdm/channels/email": [{"xdm:id": "a"}]},
        "xdm:homeAddress": {"xdm:city": "Paris", "schema:latitude": 48.8, "@id": "x"},
        "repo:createDate": "2024-01-01T00:00:00Z",
        "https://ns.adobe.com/acme/loyalty/points": 3,
    }
    stored = xdm.to_stored_form(standard, profile_schema)
    assert stored == {
        "_id": "https://data/1",
        "identityMap": {"https://ns.adobe.com/xdm/channels/email": [{"id": "a"}]},
        "homeAddress": {"city": "Paris", "_schema": {"latitude": 48.8}, "_id": "x"},
        "_repo": {"createDate": "2024-01-01T00:00:00Z"},
        "_acme": {"loyalty": {"points": 3}},
    }
    back = xdm.to_standard_form(stored, profile_schema)
    assert back["xdm:homeAddress"] == {"xdm:city": "Paris", "schema:latitude": 48.8, "@id": "x"}
    assert back["_acme"] == {"loyalty": {"points": 3}}
    assert back["repo:createDate"] == "2024-01-01T00:00:00Z"
    with pytest.raises(xdm.ConversionError):
        xdm.to_stored_form({"xdm:city": "a", "city": "b"})


def test_json_schema_of_a_single_component(registry: xdm.Registry) -> None:
    document = xdm.to_json_schema(registry.resolve(ids.MEASURE))
    assert document["required"] == ["value"]
    assert xdm.validate_record(registry.resolve(ids.MEASURE), {"value": 1}) == []


def test_empty_csv_cells_are_missing_values_for_strings_too() -> None:
    import pyarrow as pa

    from dsw_xdm import coerce_table, schema_from_json

    schema = schema_from_json(
        {
            "title": "t",
            "class": "https://ns.adobe.com/xdm/context/profile",
            "tenantId": "t",
            "tenantFields": {
                "properties": {
                    "code": {"type": "string"},
                    "day": {"type": "string", "format": "date"},
                }
            },
        }
    )
    table = pa.table({"_t.code": ["a", "", " b "], "_t.day": ["1/2/24", "1/2/24", "2/30/24"]})
    coerced = coerce_table(schema, table, formats={"_t.day": "%m/%d/%y"})
    values = coerced.table.column("_t").to_pylist()
    assert [row["code"] for row in values] == ["a", None, " b "]
    assert [str(row["day"]) if row["day"] else None for row in values] == [
        "2024-01-02",
        "2024-01-02",
        None,
    ]
    assert [error.row for error in coerced.errors] == [2]


def test_repeated_dates_are_parsed_once_per_distinct_value_with_the_same_result() -> None:
    import pyarrow as pa

    from dsw_xdm import coerce_table, schema_from_json

    schema = schema_from_json(
        {
            "title": "t",
            "class": "https://ns.adobe.com/xdm/context/profile",
            "tenantId": "t",
            "tenantFields": {"properties": {"day": {"type": "string", "format": "date"}}},
        }
    )
    days = ["1/2/24", "2/30/24", "", "12/31/99"] * 25  # few distinct values: the shared path
    coerced = coerce_table(schema, pa.table({"_t.day": days}), formats={"_t.day": "%m/%d/%y"})
    parsed = [(row or {}).get("day") for row in coerced.table.column("_t").to_pylist()]
    expected = {"1/2/24": "2024-01-02", "2/30/24": None, "": None, "12/31/99": "1999-12-31"}
    assert [str(value) if value else None for value in parsed] == [expected[d] for d in days]
    assert [error.row for error in coerced.errors] == list(range(1, 100, 4))


def test_date_times_with_a_seconds_format_are_parsed() -> None:
    """``%S`` in a format used never to match: the check formatted milliseconds back ("05.000")."""
    import pyarrow as pa

    from dsw_xdm import coerce_table, schema_from_json

    schema = schema_from_json(
        {
            "title": "t",
            "class": "https://ns.adobe.com/xdm/context/profile",
            "tenantId": "t",
            "tenantFields": {"properties": {"at": {"type": "string", "format": "date-time"}}},
        }
    )
    texts = ["2024-02-05 13:04:05", "2024-02-30 13:04:05", "2024-02-05 25:00:00"]
    coerced = coerce_table(
        schema, pa.table({"_t.at": texts}), formats={"_t.at": "%Y-%m-%d %H:%M:%S"}
    )
    parsed = [(row or {}).get("at") for row in coerced.table.column("_t").to_pylist()]
    assert parsed[0] is not None
    assert parsed[0].replace(tzinfo=None) == dt.datetime(2024, 2, 5, 13, 4, 5)
    assert parsed[1:] == [None, None]
    assert [error.row for error in coerced.errors] == [1, 2]


def test_match_name_is_the_one_rule_for_field_names() -> None:
    from dsw_xdm import match_name

    fields = ["_retail.date", "_retail.markDown", "store", "Store2", "_acme.id", "_other.id"]
    assert match_name(fields, "store") == "store"  # exact
    assert match_name(fields, "STORE2") == "Store2"  # case
    assert match_name(fields, "markdown") == "_retail.markDown"  # after the tenant prefix
    assert match_name(fields, "_RETAIL.DATE") == "_retail.date"
    assert match_name(fields, "id") is None  # two tenants: ambiguous
    assert match_name(["a", "A"], "a") == "a"
    assert match_name(["a", "A"], "a ") is None
    assert match_name(["ab", "AB"], "Ab") is None  # ambiguous without an exact match
