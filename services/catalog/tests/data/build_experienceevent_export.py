"""Build `experienceevent-export.jsonl`: a real-shaped ExperienceEvent export (stored form).

    .venv/bin/python services/catalog/tests/data/build_experienceevent_export.py

Each event merges the example documents of the XDM standard (../shared/xdm/components, adobe/xdm,
CC BY 4.0) of the standard field groups in `FIELD_GROUPS`, converted to the stored form an
Experience Platform export has (`endUserIDs._experience.mcid.id`, `dataSource`,
`receivedTimestamp`...), plus the tenant's loyalty fields under `_acme`. Fields an example has
that its schema does not (the examples' own errors, see libs/xdm/tests/data/xdm-errata.json) are
left out; the end-user ids example still uses the retired `@id` form, so those ids are written as
the schema defines them (`id` and `namespace.code`). Changed from the originals: merged, ids and
timestamps varied per event. The output is checked in; the test does not need ../shared.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import dsw_xdm as xdm

HERE = Path(__file__).resolve().parent
COMPONENTS = HERE.parents[3].parent / "shared" / "xdm" / "components"
OUTPUT = HERE / "experienceevent-export.jsonl"
XDM = "https://ns.adobe.com/xdm/context"
FIELD_GROUPS = {
    f"{XDM}/experienceevent-enduserids": "experience-event/experienceevent-enduserids",
    f"{XDM}/experienceevent-commerce": "experience-event/experienceevent-commerce",
    f"{XDM}/experienceevent-web": "experience-event/experienceevent-web",
    f"{XDM}/experienceevent-environment-details": (
        "experience-event/experienceevent-environment-details"
    ),
    f"{XDM}/experienceevent-marketing": "experience-event/experienceevent-marketing",
    f"{XDM}/experienceevent-search": "experience-event/experienceevent-search",
    f"{XDM}/experienceevent-application": "experience-event/experienceevent-application",
    f"{XDM}/experienceevent-channel": "experience-event/experienceevent-channel",
    f"{XDM}/experienceevent-technical-details": (
        "experience-event/experienceevent-technical-details"
    ),
    f"{XDM}/experienceevent-advertising": "experience-event/experienceevent-advertising",
    f"{XDM}/experienceevent-implementation-details": (
        "experience-event/experienceevent-implementation-details"
    ),
}
# The tenant field group of the test (created through the catalog API there).
LOYALTY: dict[str, Any] = {
    "title": "Loyalty details",
    "meta:intendedToExtend": ["https://ns.adobe.com/xdm/context/experienceevent"],
    "properties": {
        "_acme": {
            "type": "object",
            "properties": {
                "loyaltyId": {"type": "string"},
                "tier": {"type": "string", "enum": ["gold", "silver", "bronze"]},
                "points": {"type": "integer", "minimum": 0},
                "memberSince": {"type": "string", "format": "date"},
            },
        }
    },
}


def schema() -> xdm.Schema:
    registry = xdm.Registry()
    registry.register({"$id": "https://ns.adobe.com/acme/mixins/loyalty", **LOYALTY})
    return registry.compose(
        xdm.ids.EXPERIENCE_EVENT,
        [*FIELD_GROUPS, "https://ns.adobe.com/acme/mixins/loyalty"],
        title="Web shop export",
    )


def _drop(document: dict[str, Any], pointer: str) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    node: Any = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    del node[parts[-1]]


def _merge(into: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def event(target: xdm.Schema) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for folder in FIELD_GROUPS.values():
        example = json.loads((COMPONENTS / "fieldgroups" / f"{folder}.example.1.json").read_text())
        stored = xdm.to_stored_form(example, target)
        for violation in xdm.validate_record(target, stored, unknown_fields="error"):
            if violation.rule == "unknownField":
                _drop(stored, violation.path)
        _merge(merged, stored)
    # The end-user ids as the schema defines them (the example's `@id` form is retired).
    merged["endUserIDs"] = {
        "_experience": {
            "mcid": {"id": "92312748749128", "namespace": {"code": "ECID"}},
            "aaid": {"id": "2394509340-30453470347", "namespace": {"code": "AVID"}},
        }
    }
    merged["identityMap"] = {"ECID": [{"id": "92312748749128", "primary": True}]}
    merged["_acme"] = {"loyaltyId": "L-1", "tier": "gold", "points": 1200,
                       "memberSince": "2019-04-01"}  # fmt: skip
    return merged


def main() -> None:
    target = schema()
    base = event(target)
    lines = []
    for index in range(3):
        row = copy.deepcopy(base)
        row["_id"] = f"export-{index}"
        row["timestamp"] = f"2024-03-0{index + 1}T10:00:00Z"
        row["eventType"] = "commerce.purchases"
        row["_acme"]["points"] += index
        problems = xdm.validate_record(target, row, unknown_fields="error")
        assert not problems, problems
        lines.append(json.dumps(row, sort_keys=True))
    OUTPUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} events, {len(base)} top-level fields -> {OUTPUT}")


if __name__ == "__main__":
    main()
