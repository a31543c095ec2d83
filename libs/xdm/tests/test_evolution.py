"""Schema evolution (`compare`), identity descriptors and tenant field groups."""

from __future__ import annotations

from typing import Any

import pytest

import dsw_xdm as xdm
from dsw_xdm import ids

BASE: dict[str, Any] = {
    "properties": {
        "store": {"type": "integer", "minimum": 1, "maximum": 1000},
        "tier": {"type": "string", "enum": ["gold", "silver"]},
        "code": {"type": "string", "maxLength": 8},
        "lines": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    },
    "required": ["store"],
}


def _schema(tenant_fields: dict[str, Any]) -> xdm.Schema:
    return xdm.compose(
        ids.EXPERIENCE_EVENT, title="Shop", tenant_id="acme", tenant_fields=tenant_fields
    )


def _with(**changes: Any) -> dict[str, Any]:
    properties = {**BASE["properties"], **changes}
    return {
        "properties": {k: v for k, v in properties.items() if v is not None},
        "required": ["store"],
    }


def _summary(changes: list[xdm.Change]) -> set[tuple[str, str, bool]]:
    return {(c.path, c.kind, c.breaking) for c in changes}


def test_the_same_schema_has_no_changes() -> None:
    assert xdm.compare(_schema(BASE), _schema(BASE)) == []


def test_compatible_changes() -> None:
    new = _with(
        note={"type": "string"},
        tier={"type": "string", "enum": ["gold", "silver", "bronze"]},
        code={"type": "string", "maxLength": 16},
        store={"type": "integer", "minimum": 0, "maximum": 100000},
        lines={"type": "array", "items": {"type": "object", "properties": {
            "sku": {"type": "string"}, "units": {"type": "integer"}}}},
    )  # fmt: skip
    changes = xdm.compare(_schema(BASE), _schema(new))
    assert not any(c.breaking for c in changes), changes
    assert _summary(changes) >= {
        ("_acme.note", "added", False),
        ("_acme.tier", "enum", False),
        ("_acme.code", "maxLength", False),
        ("_acme.store", "retyped", False),  # short -> int: wider
        ("_acme.lines[].units", "added", False),
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"code": None}, ("_acme.code", "removed", True)),
        ({"code": {"type": "integer"}}, ("_acme.code", "retyped", True)),
        ({"tier": {"type": "string", "enum": ["gold"]}}, ("_acme.tier", "enum", True)),
        ({"code": {"type": "string", "maxLength": 4}}, ("_acme.code", "maxLength", True)),
        ({"code": {"type": "string", "maxLength": 8, "pattern": "^[A-Z]+$"}},
         ("_acme.code", "pattern", True)),
        ({"store": {"type": "integer", "minimum": 5, "maximum": 1000}},
         ("_acme.store", "minimum", True)),
    ],
)  # fmt: skip
def test_breaking_changes(change: dict[str, Any], expected: tuple[str, str, bool]) -> None:
    changes = xdm.compare(_schema(BASE), _schema(_with(**change)))
    assert expected in _summary(changes)


def test_making_a_field_required_is_breaking() -> None:
    new = {**BASE, "required": ["store", "code"]}
    assert ("_acme.code", "required", True) in _summary(xdm.compare(_schema(BASE), _schema(new)))


def test_identity_descriptors_name_the_primary_identity() -> None:
    document = {
        "title": "Loyalty events",
        "class": ids.EXPERIENCE_EVENT,
        "tenantId": "acme",
        "tenantFields": {"properties": {"loyaltyId": {"type": "string"}}},
        "descriptors": [
            {
                "@type": "xdm:descriptorIdentity",
                "xdm:sourceProperty": "/_acme/loyaltyId",
                "xdm:namespace": "Loyalty",
                "xdm:isPrimary": True,
            }
        ],
    }
    schema = xdm.schema_from_json(document)
    assert schema.identities == (xdm.Identity("_acme.loyaltyId", "Loyalty", True),)
    assert schema.primary_identity == {"path": "_acme.loyaltyId", "namespace": "Loyalty"}
    assert schema.has_identity_map  # ExperienceEvent carries identityMap
    assert xdm.schema_from_json(schema.to_json()).identities == schema.identities
    without = xdm.schema_from_json({k: v for k, v in document.items() if k != "descriptors"})
    assert without.primary_identity == {"path": "identityMap", "namespace": None}


@pytest.mark.parametrize(
    ("pointer", "message"),
    [("/_acme/nothing", "not a field"), ("/timestamp", "must be a string")],
)
def test_identity_descriptors_must_name_string_fields(pointer: str, message: str) -> None:
    document = {
        "title": "Events",
        "class": ids.EXPERIENCE_EVENT,
        "descriptors": [
            {"@type": "xdm:descriptorIdentity", "xdm:sourceProperty": pointer, "xdm:namespace": "X"}
        ],
    }
    with pytest.raises(xdm.InvalidDefinitionError, match=message):
        xdm.schema_from_json(document)


def test_a_tenant_field_group_must_fit_its_class() -> None:
    registry = xdm.Registry()
    clash = {
        "$id": "https://ns.adobe.com/acme/mixins/clash",
        "title": "Clash",
        "meta:intendedToExtend": [ids.EXPERIENCE_EVENT],
        "properties": {"timestamp": {"type": "string"}},
    }
    with pytest.raises(xdm.DuplicateFieldError) as raised:
        registry.register(clash)
    assert raised.value.path == "timestamp"
    assert xdm.pointers_to(clash, field_path="timestamp") == ["/properties/timestamp"]
    not_a_class = {**clash, "$id": "https://ns.adobe.com/acme/mixins/x",
                   "meta:intendedToExtend": [ids.MEASURE], "properties": {}}  # fmt: skip
    with pytest.raises(xdm.IncompatibleFieldGroupError):
        registry.register(not_a_class)
    assert "https://ns.adobe.com/acme/mixins/clash" not in registry


def test_dependencies_list_referenced_tenant_components() -> None:
    registry = xdm.Registry()
    registry.register(
        {"$id": "https://ns.adobe.com/acme/datatypes/points", "title": "Points",
         "properties": {"value": {"type": "integer"}}}
    )  # fmt: skip
    group = {
        "$id": "https://ns.adobe.com/acme/mixins/loyalty",
        "title": "Loyalty",
        "meta:intendedToExtend": [ids.PROFILE],
        "properties": {"_acme": {"type": "object", "properties": {
            "points": {"$ref": "https://ns.adobe.com/acme/datatypes/points"},
            "home": {"$ref": ids.ADDRESS}}}},
    }  # fmt: skip
    registry.register(group)
    dependencies = registry.dependencies(group["$id"])
    assert "https://ns.adobe.com/acme/datatypes/points" in dependencies
    assert ids.ADDRESS in dependencies
    assert xdm.pointers_to(group, ref="https://ns.adobe.com/acme/datatypes/points") == [
        "/properties/_acme/properties/points/$ref"
    ]
