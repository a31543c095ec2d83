"""What scoring asks the catalog: datasets and their fields, files, and output datasets.

Field names are matched the way recipes match them (``dsw_recipe`` ``find_column``): exactly,
case-insensitively, then after a tenant prefix (``_retail.store`` holds ``store``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from dsw_kit.calls import raise_for_problem
from dsw_kit.errors import FieldError, ServiceUnavailable, UnprocessableEntity

# The tenant namespace of datasets scoring creates: fields are ``_scoring.<column>``.
OUTPUT_NAMESPACE = "scoring"
OUTPUT_CLASS = "https://ns.adobe.com/xdm/context/profile"

# Recipe input type -> XDM field definition of an output column.
_XDM_TYPES: dict[str, dict[str, str]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    "date-time": {"type": "string", "format": "date-time"},
}


def find_column(available: Sequence[str], name: str) -> str | None:
    """The column of ``available`` holding field ``name`` (as recipes resolve it), or None."""
    from dsw_recipe._columns import find_column as recipe_find_column

    return recipe_find_column(available, name)


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.TransportError as error:
        raise ServiceUnavailable("the catalog is unreachable; retry shortly") from error


def _unprocessable(detail: str, code: str, pointer: str) -> UnprocessableEntity:
    return UnprocessableEntity(
        detail, code=code, errors=[FieldError(pointer=pointer, message=detail, code=code)]
    )


def dataset_fields(client: httpx.Client, dataset_id: str, pointer: str) -> list[str]:
    """Dotted paths of the dataset's schema fields; 422 when there is no such dataset."""
    response = _call(client, "GET", f"/catalog/v1/datasets/{dataset_id}")
    if response.status_code == 404:
        raise _unprocessable(f"dataset {dataset_id} not found", "dataset_not_found", pointer)
    raise_for_problem(response)
    schema_id = response.json().get("schema_id")
    if not schema_id:
        raise _unprocessable(
            f"dataset {dataset_id} has no schema", "dataset_without_schema", pointer
        )
    # The fields of the schema version the dataset is on (its files may be of earlier versions:
    # fields they lack read as nulls).
    version = response.json().get("schema_version")
    path = f"/catalog/v1/schemas/{schema_id}" + (f"/versions/{version}" if version else "")
    schema = _call(client, "GET", path)
    raise_for_problem(schema)
    return [str(field) for field in schema.json()["fields"]]


def snapshot(client: httpx.Client, dataset_id: str) -> list[dict[str, Any]]:
    """The dataset's visible files now: ``batch_id``, ``name``, ``uri``, ``rows``."""
    response = _call(client, "GET", f"/catalog/v1/datasets/{dataset_id}/files")
    raise_for_problem(response)
    return [
        {
            "batch_id": str(item["batch_id"]),
            "name": str(item["name"]),
            "uri": str(item["uri"]),
            "rows": int(item.get("rows") or 0),
        }
        for item in response.json()
    ]


def output_schema(name: str, columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The XDM schema of a new output dataset: ``(column, recipe type)`` as tenant fields."""
    return {
        "title": f"Predictions: {name}"[:255],
        "description": "Created by the scoring service: key columns and predictions.",
        "class": OUTPUT_CLASS,
        "tenantId": OUTPUT_NAMESPACE,
        "tenantFields": {
            "properties": {column: dict(_XDM_TYPES[kind]) for column, kind in columns},
        },
    }


def create_output_dataset(
    client: httpx.Client, name: str, columns: Sequence[tuple[str, str]]
) -> tuple[str, dict[str, str]]:
    """A new dataset for predictions; its id and the dotted column of each output column."""
    schema = _call(client, "POST", "/catalog/v1/schemas", json=output_schema(name, columns))
    raise_for_problem(schema)
    dataset = _call(
        client,
        "POST",
        "/catalog/v1/datasets",
        json={
            "name": name,
            "schema_id": str(schema.json()["id"]),
            "description": "Predictions written by scoring runs",
            "tags": ["scoring"],
        },
    )
    if dataset.status_code in (409, 422):
        # Do not leave the schema of a dataset that was never made behind.
        _call(client, "DELETE", f"/catalog/v1/schemas/{schema.json()['id']}")
        detail = str(dataset.json().get("detail") or "the catalog refused the dataset")
        if dataset.status_code == 409:
            detail += "; name another output, or give its output.dataset_id to append to it"
        raise _unprocessable(detail, "output_not_created", "/body/output/name")
    raise_for_problem(dataset)
    mapping = {column: f"_{OUTPUT_NAMESPACE}.{column}" for column, _ in columns}
    return str(dataset.json()["id"]), mapping


def match_output_dataset(
    client: httpx.Client, dataset_id: str, columns: Sequence[tuple[str, str]]
) -> dict[str, str]:
    """The dotted column of each output column in an existing dataset; 422 naming the ones
    its schema lacks."""
    pointer = "/body/output/dataset_id"
    fields = dataset_fields(client, dataset_id, pointer)
    mapping: dict[str, str] = {}
    missing: list[str] = []
    for column, _ in columns:
        found = find_column(fields, column)
        if found is None:
            missing.append(column)
        else:
            mapping[column] = found
    if missing:
        raise _unprocessable(
            f"output dataset {dataset_id} is not compatible: its schema lacks "
            f"{', '.join(missing)} (it needs {', '.join(column for column, _ in columns)})",
            "output_schema_incompatible",
            pointer,
        )
    return mapping
