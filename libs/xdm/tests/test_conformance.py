"""Conformance: every example document of the XDM standard validates against its schema, with
unknown fields rejected.

The examples live in `../shared/xdm/components` beside the clone (CC BY 4.0, not copied into this
repository); the test skips, with the reason, when that folder is absent. Each `X.example.N.json`
belongs to `X.schema.json` (the factor examples `factor-standard-fields-cpi` etc. to
`factor-standard-fields`). Examples use standard-form names and are converted to the stored form
first. A data type, field group or behaviour example is validated against that component alone; a
class example against the class plus the standard field groups that define the fields it carries
(found the way a person composing the schema would: for each field the class lacks, a field group
intended for the class that defines it, non-deprecated ones first).

Examples that are wrong about the standard itself (a field name the schema never had, a number
where the schema says string) are listed with the reason in `data/xdm-errata.json`; each listed
example must still fail, so the list cannot go stale.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import dsw_xdm as xdm
from dsw_xdm import ids

COMPONENTS = Path(__file__).resolve().parents[3].parent / "shared" / "xdm" / "components"
ERRATA: dict[str, str] = json.loads(
    (Path(__file__).parent / "data" / "xdm-errata.json").read_text(encoding="utf-8")
)["examples"]

pytestmark = pytest.mark.skipif(
    not COMPONENTS.is_dir(),
    reason=f"XDM standard examples not found at {COMPONENTS} (clone ../shared beside the repo)",
)


def _load(relative: str) -> Any:
    return json.loads((COMPONENTS / relative).read_text(encoding="utf-8"))


def _examples(pattern: str = "**/*.example.*.json") -> list[str]:
    if not COMPONENTS.is_dir():
        return []
    return sorted(str(p.relative_to(COMPONENTS)) for p in COMPONENTS.glob(pattern))


def schema_file(example: str) -> str:
    """The `*.schema.json` an example belongs to (dropping `-suffix`es until one exists)."""
    stem = example.split(".example.")[0]
    while not (COMPONENTS / f"{stem}.schema.json").is_file():
        if "-" not in Path(stem).name:
            raise FileNotFoundError(f"no schema for {example}")
        stem = stem.rsplit("-", 1)[0]
    return f"{stem}.schema.json"


def _defines(field: xdm.Field, pointer: str) -> bool:
    """Whether a field tree defines the member a JSON Pointer of a record names."""
    current = field
    for raw in pointer.strip("/").split("/"):
        if current.xdm_type == "array" and current.items is not None:
            current = current.items
            continue  # `raw` is an index
        if current.xdm_type == "map" and current.values is not None:
            current = current.values
            continue  # `raw` is a key
        part = raw.replace("~1", "/").replace("~0", "~")
        if current.xdm_type != "object" or part not in current.properties:
            return False
        current = current.properties[part]
    return True


@cache
def _candidates(registry: xdm.Registry, class_id: str) -> list[tuple[str, xdm.Field]]:
    groups = registry.field_groups(for_class=class_id)
    ordered = sorted(groups, key=lambda g: (g.definition.get("meta:status") == "deprecated", g.id))
    return [(group.id, registry.resolve(group.id)) for group in ordered]


def class_schema(
    registry: xdm.Registry, class_id: str, document: Any, groups: tuple[str, ...] = ()
) -> tuple[xdm.Schema, dict[str, Any]]:
    """The class (and `groups`) plus the field groups the example's fields need (see the module
    docstring)."""
    chosen = list(groups)
    schema = registry.compose(class_id, chosen, title="example")
    for _ in range(20):
        stored = xdm.to_stored_form(document, schema)
        unknown = [
            v.path
            for v in xdm.validate_record(schema, stored, unknown_fields="error")
            if v.rule == "unknownField"
        ]
        if not unknown:
            return schema, stored
        added = False
        for pointer in unknown:
            for group_id, field in _candidates(registry, class_id):
                if group_id in chosen or not _defines(field, pointer):
                    continue
                try:
                    schema = registry.compose(class_id, [*chosen, group_id], title="example")
                except xdm.SchemaError:
                    continue
                chosen.append(group_id)
                added = True
                break
            if added:
                break
        if not added:
            return schema, stored
    return schema, xdm.to_stored_form(document, schema)


def violations(registry: xdm.Registry, example: str) -> list[xdm.Violation]:
    component_id = _load(schema_file(example))["$id"]
    document = _load(example)
    if registry.kind(component_id) == "class":
        schema, stored = class_schema(registry, component_id, document)
        return xdm.validate_record(schema, stored, unknown_fields="error")
    if component_id == ids.IDENTITY_MAP:
        document = {"xdm:identityMap": document}  # these examples are the map body alone
    field = registry.resolve(component_id)
    stored = xdm.to_stored_form(document, field)
    found = xdm.validate_record(field, stored, unknown_fields="error")
    intended = registry.get(component_id).definition.get("meta:intendedToExtend") or []
    classes = [c for c in intended if registry.kind(c) == "class"]
    if registry.kind(component_id) == "fieldgroup" and classes and found:
        # Field group examples often carry their class's fields (`_id`, `timestamp`) and those
        # of field groups used beside them: validate them in a schema of the intended class.
        # They are fragments of a record, so the class's own required root fields (`_id`) may
        # be absent.
        schema, stored = class_schema(registry, classes[0], document, (component_id,))
        class_required = {f"/{name}" for name in registry.resolve(classes[0]).required}
        in_class = [
            v
            for v in xdm.validate_record(schema, stored, unknown_fields="error")
            if not (v.rule == "required" and v.path in class_required)
        ]
        return in_class if len(in_class) < len(found) else found
    return found


def test_every_example_of_the_standard_is_covered() -> None:
    assert len(_examples()) >= 498
    assert set(ERRATA) <= set(_examples()), "errata name examples that do not exist"


@pytest.mark.parametrize("example", [e for e in _examples() if e not in ERRATA])
def test_example_validates_with_unknown_fields_rejected(
    registry: xdm.Registry, example: str
) -> None:
    assert violations(registry, example) == []


@pytest.mark.parametrize("example", sorted(ERRATA))
def test_errata_examples_still_fail(registry: xdm.Registry, example: str) -> None:
    assert violations(registry, example), f"{example} now validates: remove it from the errata"


def test_an_experience_event_example_needs_its_field_groups(registry: xdm.Registry) -> None:
    document = _load("classes/experienceevent.example.1.json")
    schema, stored = class_schema(registry, ids.EXPERIENCE_EVENT, document)
    assert schema.field_groups  # (the Consumer Experience Event group bundles commerce, web...)
    assert schema.field("commerce.order.priceTotal").xdm_type == "number"
    bare = registry.compose(ids.EXPERIENCE_EVENT, title="bare")
    rules = {v.rule for v in xdm.validate_record(bare, stored, unknown_fields="error")}
    assert rules == {"unknownField"}


def test_a_broken_example_is_rejected(registry: xdm.Registry) -> None:
    example = "fieldgroups/experience-event/experienceevent-environment-details.example.1.json"
    assert violations(registry, example) == []
    document = {
        "@id": "e1",
        "xdm:timestamp": "2018-00-10T22:07:56Z",
        **_load(example),
        "xdm:notAField": 1,
    }
    document["xdm:device"]["xdm:screenHeight"] = "tall"
    schema, stored = class_schema(registry, ids.EXPERIENCE_EVENT, document)
    rules = {(v.path, v.rule) for v in xdm.validate_record(schema, stored, unknown_fields="error")}
    assert rules == {
        ("/timestamp", "format"),
        ("/device/screenHeight", "type"),
        ("/notAField", "unknownField"),
    }
