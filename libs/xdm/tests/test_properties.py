"""Property tests: generated records validate, mutations fail at their path, Arrow == dict."""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dsw_xdm as xdm

from .conftest import textual_schema

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12
)  # lone surrogates cannot be UTF-8 encoded, so no Arrow string could hold them


def _matching(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(
        pattern, fullmatch=True, alphabet=string.ascii_letters + string.digits + "-"
    )


def values(field: xdm.Field, depth: int = 0) -> st.SearchStrategy[Any]:
    """Valid values of one field."""
    kind = field.xdm_type
    if field.enum is not None:
        return st.sampled_from(field.enum)
    if kind == "object":
        names = list(field.properties)
        required = {n: values(field.properties[n], depth + 1) for n in names if n in field.required}
        optional = {
            n: values(field.properties[n], depth + 1)
            for n in names
            if n not in field.required and depth < 3
        }
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "array":
        assert field.items is not None
        return st.lists(values(field.items, depth + 1), max_size=min(field.max_items or 3, 3))
    if kind == "map":
        assert field.values is not None
        keys = st.text(alphabet=string.ascii_letters, min_size=1, max_size=6)
        return st.dictionaries(keys, values(field.values, depth + 1), max_size=2)
    if kind == "boolean":
        return st.booleans()
    if kind == "number":
        return st.floats(
            min_value=field.minimum, max_value=field.maximum, allow_nan=False, allow_infinity=False
        )
    if field.is_integer:
        return st.integers(min_value=int(field.minimum or 0), max_value=int(field.maximum or 0))
    if kind == "date":
        return st.dates().map(dt.date.isoformat)
    if kind == "date-time":
        return st.datetimes(timezones=st.just(dt.UTC)).map(dt.datetime.isoformat)
    if field.format == "email":
        return st.from_regex(r"[a-z]{1,5}@[a-z]{1,5}\.[a-z]{2,3}", fullmatch=True)
    if field.format == "uri":
        return st.from_regex(r"https://[a-z]{1,8}\.com/[a-z0-9]{0,5}", fullmatch=True)
    if field.pattern is not None:
        low, high = field.min_length or 0, field.max_length or 10**6
        return _matching(field.pattern).filter(lambda s: low <= len(s) <= high)
    if field.format == "uri-reference":
        return st.from_regex(r"[a-z0-9/:.-]{0,10}", fullmatch=True)
    return st.text(
        alphabet=st.characters(blacklist_categories=("Cs",)),
        min_size=field.min_length or 0,
        max_size=field.max_length if field.max_length is not None else 8,
    )


def _leaves(
    record: Any, field: xdm.Field, path: tuple[Any, ...]
) -> list[tuple[tuple[Any, ...], xdm.Field]]:
    """(path, field) of every scalar present in a generated record."""
    if field.xdm_type == "object":
        found = []
        for name, child in field.properties.items():
            if name in record:
                found += _leaves(record[name], child, (*path, name))
        return found
    if field.xdm_type == "array":
        assert field.items is not None
        return [x for i, item in enumerate(record) for x in _leaves(item, field.items, (*path, i))]
    if field.xdm_type == "map":
        assert field.values is not None
        return [x for k, item in record.items() for x in _leaves(item, field.values, (*path, k))]
    return [(path, field)]


def _bad_value(field: xdm.Field) -> tuple[Any, str] | None:
    """A value of the field's own type that breaks one of its constraints, and that rule."""
    if field.enum is not None:
        return "not-in-the-enum", "enum"
    if field.is_integer or field.xdm_type == "number":
        if field.maximum is not None:
            return (int(field.maximum) + 1 if field.is_integer else field.maximum + 1), "maximum"
        return None
    if field.xdm_type in ("date", "date-time"):
        return ("2021-02-29" if field.xdm_type == "date" else "2021-02-29T00:00:00Z"), "format"
    if field.max_length is not None:
        return "Z" * (field.max_length + 1), "maxLength"
    if field.pattern is not None:
        return "!", "pattern"
    if field.format == "email":
        return "no-at-sign", "format"
    return None


def _set(record: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = record
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _mutated(
    schema: xdm.Schema,
) -> st.SearchStrategy[tuple[dict[str, Any], str | None, str | None]]:
    """A record and, when a mutation applied, the (path, rule) that must be reported."""

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], str | None, str | None]:
        record = draw(values(schema.root))
        candidates = [
            (path, bad)
            for path, field in _leaves(record, schema.root, ())
            if (bad := _bad_value(field)) is not None
        ]
        if not candidates or not draw(st.booleans()):
            return record, None, None
        path, (value, rule) = draw(st.sampled_from(candidates))
        if path[-1] in schema.root.required and len(path) == 1 and draw(st.booleans()):
            del record[path[0]]
            return record, _pointer(path), "required"
        _set(record, path, value)
        return record, _pointer(path), rule

    return build()


@_SETTINGS
@given(data=st.data())
def test_generated_records_validate(event_schema: xdm.Schema, data: st.DataObject) -> None:
    record = data.draw(values(event_schema.root))
    assert xdm.validate_record(event_schema, record) == []


@_SETTINGS
@given(data=st.data())
def test_mutated_records_fail_at_the_mutated_path(
    event_schema: xdm.Schema, data: st.DataObject
) -> None:
    record, path, rule = data.draw(_mutated(event_schema))
    violations = xdm.validate_record(event_schema, record)
    if path is None:
        assert violations == []
    else:
        assert (path, rule) in {(v.path, v.rule) for v in violations}
        assert {v.path for v in violations} == {path}


@settings(_SETTINGS, max_examples=25)
@given(data=st.data())
def test_arrow_and_dict_validation_agree(event_schema: xdm.Schema, data: st.DataObject) -> None:
    cases = data.draw(st.lists(_mutated(event_schema), min_size=1, max_size=4))
    records = [record for record, _, _ in cases]
    expected = {
        (row, v.path, v.rule)
        for row, record in enumerate(records)
        for v in xdm.validate_record(event_schema, record)
    }
    table = pa.Table.from_pylist(records, schema=textual_schema(event_schema))
    result = xdm.validate_table(event_schema, table, max_violations_per_batch=10_000)
    assert {(v.row, v.path, v.rule) for v in result.violations} == expected
    assert result.valid.to_pylist() == [
        not any(row == r for r, _, _ in expected) for row in range(len(records))
    ]


@_SETTINGS
@given(data=st.data())
def test_standard_and_stored_forms_round_trip(
    profile_schema: xdm.Schema, data: st.DataObject
) -> None:
    record = data.draw(values(profile_schema.root))
    standard = xdm.to_standard_form(record, profile_schema)
    # An empty `_repo` object has no standard spelling (it would be zero `repo:` names).
    restored = xdm.to_stored_form(standard, profile_schema)
    root = profile_schema.root
    assert _without_empty_objects(restored, root) == _without_empty_objects(record, root)
    assert xdm.validate_record(profile_schema, xdm.to_stored_form(standard, profile_schema)) == []


@_SETTINGS
@given(data=st.data())
def test_flatten_unflatten_round_trip(event_schema: xdm.Schema, data: st.DataObject) -> None:
    record = data.draw(values(event_schema.root))
    flat = xdm.flatten_record(record, event_schema)
    assert set(flat) <= set(xdm.feature_columns(event_schema))
    assert xdm.unflatten_record(flat) == _without_empty_objects(record, event_schema.root)


def _without_empty_objects(value: Any, field: xdm.Field) -> Any:
    """The record without empty objects (which have no flat spelling); maps are kept."""
    if field.xdm_type != "object" or not isinstance(value, dict):
        return value
    cleaned = {}
    for key, item in value.items():
        child = field.properties[key]
        item = _without_empty_objects(item, child)
        if not (child.xdm_type == "object" and item == {}):
            cleaned[key] = item
    return cleaned
