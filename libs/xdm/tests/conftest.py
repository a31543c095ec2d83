"""Shared fixtures: a registry and the schemas most tests use."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

import dsw_xdm as xdm

# A tenant object exercising every scalar type and constraint the validators support.
TENANT_FIELDS: dict[str, Any] = {
    "properties": {
        "store": {"type": "integer", "minimum": 1, "maximum": 100},
        "code": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{2}$"},
        "label": {"type": "string", "minLength": 2, "maxLength": 8},
        "tier": {"type": "string", "enum": ["gold", "silver"]},
        "visits": {"type": "integer", "meta:xdmType": "long"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "opened": {"type": "string", "format": "date"},
        "contact": {"type": "string", "format": "email"},
        "flags": {
            "type": "object",
            "meta:xdmType": "map",
            "additionalProperties": {"type": "boolean"},
        },
        "lines": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "minLength": 1},
                    "units": {"type": "integer", "minimum": 0, "maximum": 1000},
                },
                "required": ["sku"],
            },
        },
    },
    "required": ["store"],
}


@pytest.fixture(scope="session")
def registry() -> xdm.Registry:
    return xdm.standard_registry()


@pytest.fixture(scope="session")
def event_schema(registry: xdm.Registry) -> xdm.Schema:
    return registry.compose(
        xdm.ids.EXPERIENCE_EVENT,
        [xdm.ids.COMMERCE_DETAILS, xdm.ids.WEB_DETAILS, xdm.ids.ENVIRONMENT_DETAILS],
        title="Web commerce events",
        tenant_id="acme",
        tenant_fields=TENANT_FIELDS,
    )


@pytest.fixture(scope="session")
def profile_schema(registry: xdm.Registry) -> xdm.Schema:
    return registry.compose(
        xdm.ids.PROFILE,
        [xdm.ids.IDENTITY_MAP, xdm.ids.PERSON_DETAILS, xdm.ids.PERSONAL_CONTACT_DETAILS],
        title="Customer profiles",
    )


def textual(data_type: pa.DataType) -> pa.DataType:
    """The Arrow type as JSON data arrives: dates and timestamps as strings, integers as int64.

    (So that values outside a field's width can be represented, and reported, in Arrow too.)
    """
    if pa.types.is_date(data_type) or pa.types.is_timestamp(data_type):
        return pa.string()
    if pa.types.is_integer(data_type):
        return pa.int64()
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(textual(f.type)) for f in data_type])
    if pa.types.is_map(data_type):
        return pa.map_(data_type.key_type, textual(data_type.item_type))
    if pa.types.is_list(data_type):
        return pa.list_(textual(data_type.value_type))
    return data_type


def textual_schema(schema: xdm.Schema) -> pa.Schema:
    return pa.schema([f.with_type(textual(f.type)) for f in xdm.to_arrow_schema(schema)])
