from __future__ import annotations

import json

import pytest

import dsw_xdm as xdm
from dsw_xdm import ids


def test_event_schema_has_class_field_group_and_tenant_fields(event_schema: xdm.Schema) -> None:
    assert event_schema.behavior == "time-series"
    assert event_schema.root.required == ("_id", "timestamp", "_acme")
    assert event_schema.field("timestamp").xdm_type == "date-time"
    assert event_schema.field("commerce.order.priceTotal").xdm_type == "number"
    assert event_schema.field("identityMap").xdm_type == "map"
    assert event_schema.field("productListItems").items is not None
    assert event_schema.field("productListItems").items.required == ("SKU",)  # type: ignore[union-attr]
    assert event_schema.field("_acme.store").xdm_type == "byte"
    assert event_schema.tenant_namespace == "_acme"
    assert event_schema.id.startswith("https://ns.adobe.com/acme/schemas/")


def test_integer_widths_follow_the_declared_range(registry: xdm.Registry) -> None:
    schema = registry.compose(
        ids.PROFILE,
        title="Widths",
        tenant_id="t",
        tenant_fields={
            "properties": {
                "b": {"type": "integer", "minimum": 0, "maximum": 100},
                "s": {"type": "integer", "minimum": 1, "maximum": 32767},
                "i": {"type": "integer"},
                "l": {"type": "integer", "minimum": 0, "maximum": 2**40},
                "explicit": {"type": "integer", "meta:xdmType": "long"},
            }
        },
    )
    widths = {
        name: schema.field(f"_t.{name}").xdm_type for name in ("b", "s", "i", "l", "explicit")
    }
    assert widths == {"b": "byte", "s": "short", "i": "int", "l": "long", "explicit": "long"}
    assert schema.field("_t.i").maximum == 2**31 - 1


def test_schema_json_round_trip(event_schema: xdm.Schema, registry: xdm.Registry) -> None:
    document = json.loads(json.dumps(event_schema.to_json()))
    rebuilt = registry.schema_from_json(document)
    assert rebuilt.id == event_schema.id
    assert rebuilt.root == event_schema.root
    definition = event_schema.definition()
    assert definition["meta:class"] == ids.EXPERIENCE_EVENT
    assert {"$ref": ids.COMMERCE_DETAILS} in definition["allOf"]


def test_schema_from_json_validates_the_document(registry: xdm.Registry) -> None:
    with pytest.raises(xdm.InvalidDefinitionError, match="class"):
        registry.schema_from_json({"title": "x"})
    with pytest.raises(xdm.InvalidDefinitionError, match="unknown schema keys"):
        registry.schema_from_json({"title": "x", "class": ids.PROFILE, "mixins": []})
    with pytest.raises(xdm.InvalidDefinitionError, match="title"):
        registry.schema_from_json({"class": ids.PROFILE})
    with pytest.raises(xdm.UnknownReferenceError):
        registry.schema_from_json({"title": "x", "class": "https://ns.adobe.com/none"})
    with pytest.raises(xdm.InvalidDefinitionError, match="not a class"):
        registry.schema_from_json({"title": "x", "class": ids.MEASURE})


def test_field_group_must_fit_the_class(registry: xdm.Registry) -> None:
    with pytest.raises(xdm.IncompatibleFieldGroupError) as caught:
        registry.compose(ids.PROFILE, [ids.COMMERCE_DETAILS], title="Wrong")
    assert caught.value.class_id == ids.PROFILE
    with pytest.raises(xdm.UnknownReferenceError):
        registry.compose(ids.PROFILE, ["https://ns.adobe.com/xdm/context/none"], title="x")
    with pytest.raises(xdm.InvalidDefinitionError, match="not a field group"):
        registry.compose(ids.PROFILE, [ids.ADDRESS], title="x")


def test_duplicate_field_paths_are_refused() -> None:
    registry = xdm.Registry()
    registry.register(
        {
            "$id": "https://ns.adobe.com/acme/mixins/clash",
            "title": "Clash",
            "meta:intendedToExtend": [],
            "properties": {
                "commerce": {"type": "object", "properties": {"order": {"type": "string"}}}
            },
        }
    )
    with pytest.raises(xdm.DuplicateFieldError) as caught:
        registry.compose(
            ids.EXPERIENCE_EVENT,
            [ids.COMMERCE_DETAILS, "https://ns.adobe.com/acme/mixins/clash"],
            title="Clash",
        )
    assert caught.value.path == "commerce.order"


def test_objects_from_two_field_groups_merge() -> None:
    registry = xdm.Registry()
    registry.register(
        {
            "$id": "https://ns.adobe.com/acme/mixins/extra-commerce",
            "title": "Extra commerce",
            "meta:intendedToExtend": [ids.EXPERIENCE_EVENT],
            "properties": {
                "commerce": {"type": "object", "properties": {"giftWrap": {"type": "boolean"}}}
            },
        }
    )
    schema = registry.compose(
        ids.EXPERIENCE_EVENT,
        [ids.COMMERCE_DETAILS, "https://ns.adobe.com/acme/mixins/extra-commerce"],
        title="Merged",
    )
    assert schema.field("commerce.giftWrap").xdm_type == "boolean"
    assert schema.field("commerce.order.priceTotal").xdm_type == "number"


def test_tenant_fields_rules(registry: xdm.Registry) -> None:
    with pytest.raises(xdm.InvalidDefinitionError, match="tenantId"):
        registry.compose(ids.PROFILE, title="x", tenant_fields={"properties": {}})
    with pytest.raises(xdm.InvalidDefinitionError, match="may not start"):
        registry.compose(
            ids.PROFILE, title="x", tenant_id="acme",
            tenant_fields={"properties": {"_hidden": {"type": "string"}}},
        )  # fmt: skip
    with pytest.raises(xdm.InvalidDefinitionError, match="undefined fields"):
        registry.compose(
            ids.PROFILE, title="x", tenant_id="acme",
            tenant_fields={"properties": {"a": {"type": "object", "properties": {},
                                                "required": ["b"]}}},
        )  # fmt: skip


def test_fields_walk_dotted_paths(profile_schema: xdm.Schema) -> None:
    paths = dict(profile_schema.fields())
    assert paths["person.name.firstName"].xdm_type == "string"
    assert paths["homeAddress._schema.latitude"].maximum == 90
    assert paths["person.birthYear"].xdm_type == "short"
    assert paths["personalEmail.address"].format == "email"
    with pytest.raises(KeyError):
        profile_schema.field("person.nope")
