"""Conformance: the public standard's own example documents validate against our components.

The examples live in `../shared/xdm/components` beside the clone (CC BY 4.0, not copied into this
repository). They use standard-form names, so each is converted to the stored form first. They are
validated with unknown fields ignored: the standard's examples carry fields of field groups we do
not ship, and a few undeclared names (see xdm-catalog-notes §2.1), which ingestion would drop.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import dsw_xdm as xdm
from dsw_xdm import ids

COMPONENTS = Path(__file__).resolve().parents[3].parent / "shared" / "xdm" / "components"

pytestmark = pytest.mark.skipif(
    not COMPONENTS.is_dir(),
    reason=f"XDM standard examples not found at {COMPONENTS} (clone ../shared beside the repo)",
)


def _load(relative: str) -> Any:
    return json.loads((COMPONENTS / relative).read_text(encoding="utf-8"))


def _examples(pattern: str) -> list[str]:
    if not COMPONENTS.is_dir():
        return []
    return sorted(str(p.relative_to(COMPONENTS)) for p in COMPONENTS.glob(pattern))


@pytest.fixture(scope="module")
def full_event(registry: xdm.Registry) -> xdm.Schema:
    return registry.compose(
        ids.EXPERIENCE_EVENT,
        [ids.COMMERCE_DETAILS, ids.WEB_DETAILS, ids.ENVIRONMENT_DETAILS, ids.PERSON_DETAILS,
         ids.PERSONAL_CONTACT_DETAILS],
        title="All shipped ExperienceEvent field groups",
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_profile(registry: xdm.Registry) -> xdm.Schema:
    return registry.compose(
        ids.PROFILE,
        [ids.IDENTITY_MAP, ids.PERSON_DETAILS, ids.PERSONAL_CONTACT_DETAILS],
        title="All shipped Profile field groups",
    )


def _assert_valid(schema: xdm.Schema | xdm.Field, document: Any) -> dict[str, Any]:
    stored = xdm.to_stored_form(document, schema)
    violations = xdm.validate_record(schema, stored)
    assert violations == [], violations
    return stored  # type: ignore[no-any-return]


@pytest.mark.parametrize("example", _examples("classes/experienceevent.example.*.json"))
def test_experience_event_examples(full_event: xdm.Schema, example: str) -> None:
    stored = _assert_valid(full_event, _load(example))
    assert "_id" in stored
    assert "timestamp" in stored


def test_experience_event_examples_exist() -> None:
    assert len(_examples("classes/experienceevent.example.*.json")) >= 7


@pytest.mark.parametrize("example", _examples("classes/profile.example.*.json"))
def test_profile_examples(full_profile: xdm.Schema, example: str) -> None:
    stored = _assert_valid(full_profile, _load(example))
    assert stored["identityMap"]["ECID"] == [{"id": "92312748749128"}]


_FIELD_GROUP_EXAMPLES = {
    ids.COMMERCE_DETAILS: "fieldgroups/experience-event/experienceevent-commerce.example.*.json",
    ids.WEB_DETAILS: "fieldgroups/experience-event/experienceevent-web.example.*.json",
    ids.ENVIRONMENT_DETAILS: (
        "fieldgroups/experience-event/experienceevent-environment-details.example.*.json"
    ),
    ids.PERSON_DETAILS: "fieldgroups/profile/profile-person-details.example.*.json",
    ids.PERSONAL_CONTACT_DETAILS: "fieldgroups/profile/profile-personal-details.example.*.json",
}
_DATA_TYPE_EXAMPLES = {
    ids.PRODUCT_LIST_ITEM: "datatypes/productlistitem.example.*.json",
    ids.ORDER: "datatypes/data/order.example.*.json",
    ids.WEB_INFO: "datatypes/webinfo.example.*.json",
    ids.PERSON: "datatypes/person/person.example.*.json",
    ids.ADDRESS: "datatypes/demographic/address.example.*.json",
    ids.EMAIL_ADDRESS: "datatypes/demographic/emailaddress.example.*.json",
    ids.PHONE_NUMBER: "datatypes/demographic/phonenumber.example.*.json",
    ids.MEASURE: "datatypes/data/measure.example.*.json",
    ids.IDENTITY_ITEM: "datatypes/identityitem.example.*.json",
    ids.GEO: "datatypes/demographic/geo.example.*.json",
}
_COMPONENT_CASES = [
    (component, example)
    for component, pattern in {**_FIELD_GROUP_EXAMPLES, **_DATA_TYPE_EXAMPLES}.items()
    for example in _examples(pattern)
]


@pytest.mark.parametrize(("component", "example"), _COMPONENT_CASES)
def test_component_examples(registry: xdm.Registry, component: str, example: str) -> None:
    _assert_valid(registry.resolve(component), _load(example))


def test_every_shipped_component_with_examples_is_covered() -> None:
    assert len(_COMPONENT_CASES) >= len(_FIELD_GROUP_EXAMPLES) + len(_DATA_TYPE_EXAMPLES)


@pytest.mark.parametrize("example", _examples("fieldgroups/shared/identitymap.example.*.json"))
def test_identity_map_examples(registry: xdm.Registry, example: str) -> None:
    # These examples are the map body alone, so they are wrapped in their field.
    _assert_valid(registry.resolve(ids.IDENTITY_MAP), {"xdm:identityMap": _load(example)})


def test_a_broken_example_is_rejected(full_event: xdm.Schema) -> None:
    document = _load("classes/experienceevent.example.1.json")
    document["xdm:timestamp"] = "2018-00-10T22:07:56Z"
    document["xdm:productListItems"][0].pop("xdm:SKU")
    stored = xdm.to_stored_form(document, full_event)
    rules = {(v.path, v.rule) for v in xdm.validate_record(full_event, stored)}
    assert rules == {("/timestamp", "format"), ("/productListItems/0/SKU", "required")}
