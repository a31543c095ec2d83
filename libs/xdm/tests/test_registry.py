from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import dsw_xdm as xdm
from dsw_xdm import ids


def test_standard_components_are_listed_by_kind(registry: xdm.Registry) -> None:
    # The whole generated standard: 3 behaviours, 43 classes, 225 field groups, 167 data types.
    assert len(registry.components()) == 438
    assert {c.id for c in registry.behaviors()} == {ids.RECORD, ids.TIME_SERIES, ids.ADHOC}
    classes = {c.id for c in registry.classes()}
    assert {ids.EXPERIENCE_EVENT, ids.PROFILE} <= classes
    assert len(classes) == 43
    groups = {c.id for c in registry.field_groups()}
    assert {ids.IDENTITY_MAP, ids.COMMERCE_DETAILS, ids.WEB_DETAILS, ids.ENVIRONMENT_DETAILS,
            ids.PERSON_DETAILS, ids.PERSONAL_CONTACT_DETAILS} <= groups  # fmt: skip
    data_types = {c.id for c in registry.data_types()}
    assert {ids.PRODUCT_LIST_ITEM, ids.COMMERCE, ids.ADDRESS, ids.IDENTITY_ITEM} <= data_types
    every_id = {value for name, value in vars(ids).items() if name.isupper()}
    assert every_id <= {c.id for c in registry.components()}


def test_the_standard_ships_with_its_licence_notice() -> None:
    from dsw_xdm._standard import standard_document

    document = standard_document()
    assert "CC BY 4.0" in document["notice"]
    assert any("Creative Commons Attribution 4.0" in line for line in document["license"])


def test_event_types_are_the_time_series_soft_enum(registry: xdm.Registry) -> None:
    assert set(registry.resolve(ids.TIME_SERIES).properties["eventType"].soft_enum or {}) == set(
        xdm.EVENT_TYPES
    )


def test_get_returns_the_definition_with_meta_annotations(registry: xdm.Registry) -> None:
    event = registry.get(ids.EXPERIENCE_EVENT)
    assert event.kind == "class"
    assert event.title == "XDM ExperienceEvent"
    definition = event.to_json()
    assert definition["meta:extends"] == [ids.TIME_SERIES, ids.IDENTITY_MAP]
    assert definition["meta:abstract"] is True
    assert definition["meta:extensible"] is True
    assert definition["required"] == ["_id", "timestamp"]
    commerce = registry.get(ids.COMMERCE_DETAILS).to_json()
    assert commerce["meta:intendedToExtend"] == [ids.EXPERIENCE_EVENT]
    definition["title"] = "changed"
    assert registry.get(ids.EXPERIENCE_EVENT).title == "XDM ExperienceEvent"


def test_event_type_is_a_soft_enum_of_the_88_known_values(registry: xdm.Registry) -> None:
    assert len(xdm.EVENT_TYPES) == 88 == len(set(xdm.EVENT_TYPES))
    event_type = registry.resolve(ids.TIME_SERIES).properties["eventType"]
    assert event_type.enum is None
    assert event_type.soft_enum is not None
    assert {"commerce.purchases", "web.webpagedetails.pageViews"} <= set(event_type.soft_enum)


def test_field_groups_for_a_class(registry: xdm.Registry) -> None:
    for_profile = {c.id for c in registry.field_groups(for_class=ids.PROFILE)}
    assert ids.COMMERCE_DETAILS not in for_profile
    assert {ids.IDENTITY_MAP, ids.PERSON_DETAILS} <= for_profile


def test_get_unknown_raises(registry: xdm.Registry) -> None:
    with pytest.raises(xdm.ComponentNotFoundError) as caught:
        registry.get("https://ns.adobe.com/xdm/nope")
    assert isinstance(caught.value, xdm.UnknownReferenceError)
    assert isinstance(caught.value, xdm.XDMError)


def _data_type(component_id: str, properties: dict[str, object]) -> dict[str, object]:
    return {"$id": component_id, "title": "Custom type", "type": "object", "properties": properties}


def test_register_custom_components_and_compose() -> None:
    registry = xdm.Registry()
    registry.register(
        _data_type("https://ns.adobe.com/acme/datatypes/loyalty", {"points": {"type": "integer"}})
    )
    group = registry.register(
        {
            "$id": "https://ns.adobe.com/acme/mixins/loyalty",
            "title": "Loyalty",
            "type": "object",
            "meta:intendedToExtend": [ids.PROFILE],
            "definitions": {
                "loyalty": {
                    "properties": {
                        "_acme": {
                            "type": "object",
                            "properties": {
                                "loyalty": {"$ref": "https://ns.adobe.com/acme/datatypes/loyalty"}
                            },
                        }
                    }
                }
            },
            "allOf": [{"$ref": "#/definitions/loyalty"}],
        }
    )
    assert group.kind == "fieldgroup"
    schema = registry.compose(ids.PROFILE, [group.id], title="Loyal customers")
    assert schema.field("_acme.loyalty.points").xdm_type == "int"
    assert not xdm.standard_registry().__contains__(group.id)


def test_register_a_custom_class() -> None:
    registry = xdm.Registry()
    store = registry.register(
        {
            "$id": "https://ns.adobe.com/acme/classes/store",
            "title": "Store",
            "type": "object",
            "meta:extends": [ids.RECORD],
            "properties": {"storeName": {"type": "string"}},
        }
    )
    assert store.kind == "class"
    schema = registry.compose(store.id, [ids.IDENTITY_MAP], title="Stores")
    assert {"_id", "storeName", "identityMap"} <= set(schema.root.properties)
    assert schema.behavior == "record"


def test_register_refuses_unknown_refs_and_rolls_back() -> None:
    registry = xdm.Registry()
    definition = _data_type("https://ns.adobe.com/acme/dt/a", {"b": {"$ref": "https://x.y/none"}})
    with pytest.raises(xdm.UnknownReferenceError, match=r"https://x\.y/none"):
        registry.register(definition)
    assert "https://ns.adobe.com/acme/dt/a" not in registry


def test_register_refuses_cycles() -> None:
    registry = xdm.Registry()
    first = "https://ns.adobe.com/acme/dt/first"
    second = "https://ns.adobe.com/acme/dt/second"
    registry.register(_data_type(first, {"name": {"type": "string"}}))
    registry.unregister(first)
    registry.register(_data_type(second, {"again": {"type": "string"}}))
    # second -> first -> second: register first pointing at second, then make second point back
    registry.unregister(second)
    registry._add(_data_type(second, {"first": {"$ref": first}}), standard=False)
    with pytest.raises(xdm.ReferenceCycleError) as caught:
        registry.register(_data_type(first, {"second": {"$ref": second}}))
    assert caught.value.chain[0] == caught.value.chain[-1]


def test_self_reference_is_a_cycle() -> None:
    registry = xdm.Registry()
    node = "https://ns.adobe.com/acme/dt/node"
    with pytest.raises(xdm.ReferenceCycleError):
        registry.register(_data_type(node, {"next": {"$ref": node}}))


def test_register_refuses_duplicates_and_bad_definitions() -> None:
    registry = xdm.Registry()
    with pytest.raises(xdm.DuplicateComponentError):
        registry.register(registry.get(ids.MEASURE).to_json())
    with pytest.raises(xdm.InvalidDefinitionError, match="absolute URI"):
        registry.register({"title": "No id", "properties": {}})
    with pytest.raises(xdm.InvalidDefinitionError, match="unsupported type"):
        registry.register(_data_type("https://a.b/c", {"x": {"type": "float"}}))
    with pytest.raises(xdm.InvalidDefinitionError, match="invalid pattern"):
        registry.register(_data_type("https://a.b/c", {"x": {"type": "string", "pattern": "("}}))
    with pytest.raises(xdm.InvalidDefinitionError, match="does not fit"):
        registry.register(
            _data_type(
                "https://a.b/c", {"x": {"type": "integer", "meta:xdmType": "byte", "minimum": 200}}
            )
        )
    with pytest.raises(xdm.InvalidDefinitionError, match="standard component"):
        registry.unregister(ids.MEASURE)
    with pytest.raises(ValueError, match="kind"):
        registry.components("mixin")


_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "generate_standard.py"
_COMPONENTS = Path(__file__).resolve().parents[3].parent / "shared" / "xdm" / "components"


@pytest.mark.skipif(not _COMPONENTS.is_dir(), reason=f"XDM standard not found at {_COMPONENTS}")
def test_the_shipped_standard_is_generated_from_the_standard_files() -> None:
    spec = importlib.util.spec_from_file_location("generate_standard", _SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    generated = script.generate(_COMPONENTS)
    from dsw_xdm._standard import standard_document

    assert generated == standard_document(), "run libs/xdm/scripts/generate_standard.py"
    assert len(generated["components"]) == len(list(_COMPONENTS.rglob("*.schema.json")))
    xdm.Registry.from_standard_document(generated).check()


def test_the_readers_of_the_standard_layouts() -> None:
    """Layouts the standard uses that hand-written components did not: a `$ref` to a non-object
    definition, a list `meta:enum`, an `enum` refined in an `allOf` part, a component that is only
    definitions."""
    registry = xdm.Registry()
    registry.register(
        {
            "$id": "https://ns.adobe.com/acme/datatypes/choice",
            "title": "Choice",
            "definitions": {
                "value": {"type": "string", "enum": ["y", "n"]},
                "base": {"properties": {"kind": {"type": "string", "meta:enum": ["a", "b"]}}},
                "narrow": {"properties": {"kind": {"type": "string", "enum": ["a"]}}},
                "choice": {"properties": {"val": {"$ref": "#/definitions/value"}}},
            },
            "allOf": [
                {"$ref": "#/definitions/base"},
                {"$ref": "#/definitions/narrow"},
                {"$ref": "#/definitions/choice"},
            ],
        }
    )
    choice = registry.resolve("https://ns.adobe.com/acme/datatypes/choice")
    assert choice.properties["val"].enum == ("y", "n")
    assert choice.properties["kind"].soft_enum == {"a": "a", "b": "b"}
    assert choice.properties["kind"].enum == ("a",)
    registry.register(
        {
            "$id": "https://ns.adobe.com/acme/datatypes/parts",
            "title": "Parts",
            "definitions": {
                "one": {"properties": {"a": {"type": "string"}}},
                "two": {"properties": {"b": {"type": "integer"}}},
            },
        }
    )
    parts = registry.resolve("https://ns.adobe.com/acme/datatypes/parts")
    assert set(parts.properties) == {"a", "b"}
