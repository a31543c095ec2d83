"""Tenant field groups and data types, schemas composed from them, and schema evolution."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from .helpers import complete_and_wait, create_batch, upload

Auth = Callable[..., dict[str, str]]
EVENT = "https://ns.adobe.com/xdm/context/experienceevent"
PROFILE = "https://ns.adobe.com/xdm/context/profile"
COMMERCE = "https://ns.adobe.com/xdm/context/experienceevent-commerce"
ADDRESS = "https://ns.adobe.com/xdm/common/address"
TENANT = "/catalog/v1/xdm/tenant"


def _points_type() -> dict[str, Any]:
    return {
        "tenantId": "acme",
        "title": "Loyalty points",
        "properties": {
            "balance": {"type": "integer", "minimum": 0},
            "tier": {"type": "string", "enum": ["gold", "silver"]},
        },
    }


def _loyalty_group(points_id: str, **extra: Any) -> dict[str, Any]:
    fields = {
        "loyaltyId": {"type": "string"},
        "points": {"$ref": points_id},
        "home": {"$ref": ADDRESS},
        **extra,
    }
    return {
        "tenantId": "acme",
        "title": "Loyalty details",
        "meta:intendedToExtend": [EVENT],
        "properties": {"_acme": {"type": "object", "properties": fields}},
    }


def _create(client: TestClient, headers: dict[str, str], kind: str, body: Any) -> dict[str, Any]:
    response = client.post(f"{TENANT}/{kind}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _schema_body(group_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": "Loyalty events",
        "class": EVENT,
        "fieldGroups": [COMMERCE, group_id],
        "descriptors": [
            {
                "@type": "xdm:descriptorIdentity",
                "xdm:sourceProperty": "/_acme/loyaltyId",
                "xdm:namespace": "Loyalty",
                "xdm:isPrimary": True,
            }
        ],
        **extra,
    }


def test_create_list_read_and_compose_tenant_components(client: TestClient, auth: Auth) -> None:
    headers = auth()
    points = _create(client, headers, "datatypes", _points_type())
    assert points["xdm_id"].startswith("https://ns.adobe.com/acme/datatypes/")
    assert set(points["fields"]) == {"balance", "tier"}
    group = _create(client, headers, "fieldgroups", _loyalty_group(points["xdm_id"]))
    assert "_acme.points.balance" in group["fields"]
    assert "_acme.home.city" in group["fields"]  # the standard postal address data type
    listed = client.get(f"{TENANT}/fieldgroups", headers=headers).json()
    assert [c["id"] for c in listed] == [group["id"]]
    read = client.get(f"{TENANT}/fieldgroups/{group['id']}", headers=headers)
    assert read.json()["definition"]["meta:intendedToExtend"] == [EVENT]
    by_xdm_id = client.get(
        "/catalog/v1/xdm/components", params={"id": group["xdm_id"]}, headers=headers
    )
    assert by_xdm_id.json()["kind"] == "fieldgroup"

    response = client.post(
        "/catalog/v1/schemas", json=_schema_body(group["xdm_id"]), headers=headers
    )
    assert response.status_code == 201, response.text
    schema = response.json()
    assert "_acme.points.tier" in schema["fields"]
    assert "productListItems" in schema["fields"]
    assert schema["components"] == [points["xdm_id"], group["xdm_id"]]
    assert schema["primary_identity"] == {"path": "_acme.loyaltyId", "namespace": "Loyalty"}

    dataset = client.post(
        "/catalog/v1/datasets", json={"name": "loyalty", "schema_id": schema["id"]}, headers=headers
    ).json()
    summary = client.get(f"/catalog/v1/datasets/{dataset['id']}", headers=headers).json()
    assert summary["primary_identity"] == {"path": "_acme.loyaltyId", "namespace": "Loyalty"}
    assert summary["identities"] == [
        {"path": "_acme.loyaltyId", "namespace": "Loyalty", "primary": True}
    ]
    assert summary["schema_version"] == 1

    # Used by a schema: neither the field group nor the data type it uses can be deleted.
    for kind, component in (("fieldgroups", group), ("datatypes", points)):
        refused = client.delete(f"{TENANT}/{kind}/{component['id']}", headers=headers)
        assert refused.status_code == 409, refused.text
        assert refused.json()["code"] == "component_in_use"

    # Another tenant sees none of it.
    other = auth(org_id="org-b")
    assert client.get(f"{TENANT}/fieldgroups/{group['id']}", headers=other).status_code == 404
    assert client.get(f"{TENANT}/fieldgroups", headers=other).json() == []


def _problem(response: Any, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def test_invalid_components_are_422_naming_the_pointer(client: TestClient, auth: Auth) -> None:
    headers = auth()
    unknown = _problem(
        client.post(
            f"{TENANT}/fieldgroups",
            json=_loyalty_group("https://ns.adobe.com/acme/datatypes/missing"),
            headers=headers,
        )
    )
    assert unknown["code"] == "unknown_reference"
    assert unknown["errors"][0]["pointer"] == "/body/properties/_acme/properties/points/$ref"

    cycle = {
        "tenantId": "acme",
        "title": "Tree",
        "definitions": {"node": {"properties": {"child": {"$ref": "#/definitions/node"}}}},
        "allOf": [{"$ref": "#/definitions/node"}],
    }
    cyclic = _problem(client.post(f"{TENANT}/datatypes", json=cycle, headers=headers))
    assert cyclic["code"] == "reference_cycle"
    assert cyclic["errors"][0]["pointer"] == "/body/definitions/node/properties/child/$ref"

    wrong_class = {**_loyalty_group(ADDRESS), "meta:intendedToExtend": [ADDRESS]}
    mismatch = _problem(client.post(f"{TENANT}/fieldgroups", json=wrong_class, headers=headers))
    assert mismatch["code"] == "class_mismatch"
    assert mismatch["errors"][0]["pointer"] == "/body/meta:intendedToExtend"

    twice = {
        "tenantId": "acme",
        "title": "Clashing",
        "meta:intendedToExtend": [EVENT],
        "definitions": {
            name: {"properties": {"_acme": {"type": "object", "properties": {"x": {"type": kind}}}}}
            for name, kind in (("a", "string"), ("b", "number"))
        },
        "allOf": [{"$ref": "#/definitions/a"}, {"$ref": "#/definitions/b"}],
    }  # fmt: skip
    duplicate = _problem(client.post(f"{TENANT}/fieldgroups", json=twice, headers=headers))
    assert duplicate["code"] == "duplicate_field"
    assert duplicate["errors"][0]["pointer"] == "/body/definitions/a/properties/_acme/properties/x"

    outside = {**_loyalty_group(ADDRESS), "properties": {"loyaltyId": {"type": "string"}}}
    namespace = _problem(client.post(f"{TENANT}/fieldgroups", json=outside, headers=headers))
    assert namespace["code"] == "outside_tenant_namespace"

    unknown_group = _problem(
        client.post(
            "/catalog/v1/schemas",
            json={"title": "x", "class": EVENT, "fieldGroups": [COMMERCE, "https://nope"]},
            headers=headers,
        )
    )
    assert unknown_group["errors"][0]["pointer"] == "/body/fieldGroups/1"


def test_deprecate_and_delete(client: TestClient, auth: Auth) -> None:
    headers = auth()
    points = _create(client, headers, "datatypes", _points_type())
    group = _create(client, headers, "fieldgroups", _loyalty_group(points["xdm_id"]))
    used_by_group = client.delete(f"{TENANT}/datatypes/{points['id']}", headers=headers)
    assert used_by_group.status_code == 409
    deprecated = client.post(f"{TENANT}/fieldgroups/{group['id']}/deprecate", headers=headers)
    assert deprecated.json()["status"] == "deprecated"
    refused = _problem(
        client.post("/catalog/v1/schemas", json=_schema_body(group["xdm_id"]), headers=headers)
    )
    assert refused["code"] == "deprecated_component"
    assert client.delete(f"{TENANT}/fieldgroups/{group['id']}", headers=headers).status_code == 204
    assert client.delete(f"{TENANT}/datatypes/{points['id']}", headers=headers).status_code == 204
    assert client.get(f"{TENANT}/datatypes/{points['id']}", headers=headers).status_code == 404


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_schema_evolution_and_reading_old_batches(client: TestClient, auth: Auth) -> None:
    headers = auth()
    points = _create(client, headers, "datatypes", _points_type())
    group = _create(client, headers, "fieldgroups", _loyalty_group(points["xdm_id"]))
    schema = client.post(
        "/catalog/v1/schemas", json=_schema_body(group["xdm_id"]), headers=headers
    ).json()
    dataset = client.post(
        "/catalog/v1/datasets", json={"name": "loyalty", "schema_id": schema["id"]}, headers=headers
    ).json()
    old_row = {
        "_id": "e1",
        "timestamp": "2024-01-01T00:00:00Z",
        "_acme": {"loyaltyId": "L1", "points": {"balance": 10, "tier": "gold"}},
    }
    batch = create_batch(client, headers, dataset["id"], format="jsonl", unknown_columns="reject")
    upload(client, headers, batch, "old.jsonl", _jsonl([old_row]))
    assert complete_and_wait(client, headers, batch)["status"] == "success"

    # A breaking change of the data type (a field removed, an enum value dropped): 409 listing
    # each difference.
    breaking = {**_points_type(), "properties": {"tier": {"type": "string", "enum": ["gold"]}}}
    refused = _problem(
        client.put(f"{TENANT}/datatypes/{points['id']}", json=breaking, headers=headers), 409
    )
    assert {(e["pointer"], e["code"]) for e in refused["errors"]} == {
        ("/balance", "removed"),
        ("/tier", "enum"),
    }
    # A compatible one (a field added, an enum value added) makes version 2 of the data type.
    compatible = _points_type()
    compatible["properties"]["expires"] = {"type": "string", "format": "date"}
    compatible["properties"]["tier"]["enum"] = ["gold", "silver", "bronze"]
    evolved = client.put(f"{TENANT}/datatypes/{points['id']}", json=compatible, headers=headers)
    assert evolved.status_code == 200, evolved.text
    assert evolved.json()["component_version"] == 2

    # The schema picks it up when it is evolved itself: a compatible change, version 2.
    required = _schema_body(group["xdm_id"], tenantId="acme")
    required["tenantFields"] = {"properties": {"note": {"type": "string"}}, "required": ["note"]}
    refused = _problem(
        client.put(f"/catalog/v1/schemas/{schema['id']}", json=required, headers=headers), 409
    )
    assert ("/_acme/note", "added") in {(e["pointer"], e["code"]) for e in refused["errors"]}
    moved = client.put(
        f"/catalog/v1/schemas/{schema['id']}", json=_schema_body(group["xdm_id"]), headers=headers
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["schema_version"] == 2
    assert "_acme.points.expires" in moved.json()["fields"]
    versions = client.get(f"/catalog/v1/schemas/{schema['id']}/versions", headers=headers).json()
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    assert "_acme.points.expires" not in versions[0]["fields"]

    # The dataset stays on version 1 (a new field is still rejected) until it moves.
    new_row = {**old_row, "_id": "e2"}
    new_row["_acme"] = {"loyaltyId": "L2", "points": {"balance": 1, "tier": "bronze",
                                                      "expires": "2025-01-01"}}  # fmt: skip
    batch = create_batch(client, headers, dataset["id"], format="jsonl", unknown_columns="reject")
    upload(client, headers, batch, "new.jsonl", _jsonl([new_row]))
    assert complete_and_wait(client, headers, batch)["status"] == "failed"
    patched = client.patch(
        f"/catalog/v1/datasets/{dataset['id']}", json={"schema_version": 2}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["schema_version"] == 2
    back = client.patch(
        f"/catalog/v1/datasets/{dataset['id']}", json={"schema_version": 1}, headers=headers
    )
    assert back.status_code == 409
    batch = create_batch(client, headers, dataset["id"], format="jsonl", unknown_columns="reject")
    upload(client, headers, batch, "new.jsonl", _jsonl([new_row]))
    assert complete_and_wait(client, headers, batch)["status"] == "success"

    # Both batches read through version 2: the old row has the new field as null.
    rows = client.get(f"/catalog/v1/datasets/{dataset['id']}/preview", headers=headers).json()
    by_id = {row["_id"]: row for row in rows["rows"]}
    assert by_id["e1"]["_acme"]["points"] == {"balance": 10, "tier": "gold"}
    assert by_id["e2"]["_acme"]["points"]["expires"] == "2025-01-01"


EXPORT = Path(__file__).parent / "data" / "experienceevent-export.jsonl"


def _leaves(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {leaf for key, item in value.items() for leaf in _leaves(item, f"{path}/{key}")}
    if isinstance(value, list):
        return {leaf for i, item in enumerate(value) for leaf in _leaves(item, f"{path}/{i}")}
    return {path}


def test_a_real_shaped_experience_event_export_keeps_every_field(
    client: TestClient, auth: Auth
) -> None:
    """Eleven standard field groups and a tenant one (the export is built from the standard's
    examples by data/build_experienceevent_export.py), ingested with unknown columns rejected."""
    headers = auth()
    builder = _load_builder()
    group = _create(client, headers, "fieldgroups", {"tenantId": "acme", **builder.LOYALTY})
    body = {
        "title": "Web shop export",
        "class": EVENT,
        "fieldGroups": [*builder.FIELD_GROUPS, group["xdm_id"]],
    }
    created = client.post("/catalog/v1/schemas", json=body, headers=headers)
    assert created.status_code == 201, created.text
    schema = created.json()
    assert schema["primary_identity"] == {"path": "identityMap", "namespace": None}
    dataset = client.post(
        "/catalog/v1/datasets", json={"name": "export", "schema_id": schema["id"]}, headers=headers
    ).json()
    content = EXPORT.read_bytes()
    rows = [json.loads(line) for line in content.splitlines()]
    top_level = set(rows[0])
    assert {"endUserIDs", "marketing", "search", "application", "dataSource",
            "receivedTimestamp", "_acme"} <= top_level  # fmt: skip
    batch = create_batch(client, headers, dataset["id"], format="jsonl", unknown_columns="reject")
    upload(client, headers, batch, "export.jsonl", content)
    result = complete_and_wait(client, headers, batch)
    assert result["status"] == "success", result
    assert (result["rows_written"], result["rows_rejected"]) == (3, 0)
    stored = client.get(f"/catalog/v1/datasets/{dataset['id']}/preview", headers=headers).json()
    by_id = {row["_id"]: row for row in stored["rows"]}
    for row in rows:
        kept = by_id[row["_id"]]
        assert _leaves(kept) == _leaves(row)
        assert kept["endUserIDs"]["_experience"]["mcid"]["id"] == "92312748749128"
        assert kept["_acme"]["points"] == row["_acme"]["points"]

    # The same file with one field the schema lacks is rejected, naming it.
    extra = [{**rows[0], "notAField": 1}]
    batch = create_batch(client, headers, dataset["id"], format="jsonl", unknown_columns="reject")
    upload(client, headers, batch, "extra.jsonl", _jsonl(extra))
    assert complete_and_wait(client, headers, batch)["status"] == "failed"


def _load_builder() -> Any:
    spec = importlib.util.spec_from_file_location(
        "build_experienceevent_export", Path(__file__).parent / "data" / EXPORT_BUILDER
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT_BUILDER = "build_experienceevent_export.py"
