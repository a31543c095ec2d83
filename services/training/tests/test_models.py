"""Models (DSW MLInstances): validation against the recipe and the catalog, CRUD with ETags,
tenant isolation, and deletion guarded by active runs."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy import select

from dsw_training.models import OutboxEvent

from .conftest import Stack
from .helpers import create_model, ingest_retail, request_run

Auth = Callable[..., dict[str, str]]


def test_model_crud_with_etags_and_events(stack_without_workers: Stack, auth: Auth) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(
        stack.training,
        headers,
        dataset_id,
        time_window={"start": "2010-01-01T00:00:00Z", "end": "2013-01-01T00:00:00Z"},
        tags=["weekly"],
    )
    assert model["recipe"] == {"recipe_id": "retail-sales", "version_id": "1.0.0"}
    assert model["target_features"] == ["weeklySales"]
    assert model["time_window"]["start"].startswith("2010-01-01")
    url = f"/training/v1/models/{model['id']}"

    got = stack.training.get(url, headers=headers)
    assert got.headers["etag"] == '"1"'
    stale = stack.training.patch(
        url, json={"description": "x"}, headers={**headers, "If-Match": '"7"'}
    )
    assert stale.status_code == 412
    patched = stack.training.patch(
        url,
        json={"description": "weekly sales", "hyperparameters": {"n_estimators": 30}},
        headers={**headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.headers["etag"] == '"2"'
    assert patched.json()["hyperparameters"] == {"n_estimators": 30}

    listed = stack.training.get("/training/v1/models?tag=weekly", headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [model["id"]]
    taken = stack.training.post(
        "/training/v1/models",
        json={
            "name": model["name"],
            "recipe": model["recipe"],
            "dataset_id": dataset_id,
        },
        headers=headers,
    )
    assert taken.status_code == 409
    assert taken.json()["code"] == "name_taken"

    assert stack.training.delete(url, headers=headers).status_code == 204
    assert stack.training.get(url, headers=headers).status_code == 404
    database = stack.training.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        types = [
            str(row.envelope["type"])
            for row in session.scalars(
                select(OutboxEvent).where(OutboxEvent.key == model["id"]).order_by(OutboxEvent.id)
            )
        ]
        payload = session.scalars(select(OutboxEvent).where(OutboxEvent.key == model["id"])).first()
        assert payload is not None
        data = payload.envelope["data"]
    assert types == [
        "dsw.training.model.created",
        "dsw.training.model.updated",
        "dsw.training.model.deleted",
    ]
    assert (data["model_id"], data["recipe_id"], data["version_id"]) == (
        model["id"],
        "retail-sales",
        "1.0.0",
    )


def test_models_are_validated_against_recipe_and_catalog(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    base = {
        "name": "m",
        "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
        "dataset_id": dataset_id,
    }

    def create(**changes: object) -> dict[str, object]:
        response = stack.training.post(
            "/training/v1/models", json={**base, **changes}, headers=headers
        )
        assert response.status_code == 422, response.text
        return dict(response.json())

    bad_params = create(hyperparameters={"num_leaves": 1, "learning_rate": "fast", "nope": 1})
    assert bad_params["code"] == "invalid_hyperparameters"
    pointers = {error["pointer"] for error in bad_params["errors"]}  # type: ignore[union-attr]
    assert pointers == {
        "/body/hyperparameters/num_leaves",
        "/body/hyperparameters/learning_rate",
        "/body/hyperparameters/nope",
    }
    assert create(recipe={"recipe_id": "no-such", "version_id": "1"})["code"] == "recipe_not_found"
    assert (
        create(recipe={"recipe_id": "retail-sales", "version_id": "9.9.9"})["code"]
        == "recipe_version_not_found"
    )
    assert create(dataset_id=str(uuid.uuid4()))["code"] == "dataset_not_found"
    assert create(target_features=["revenue"])["code"] == "unknown_features"


def test_deleting_a_model_with_active_runs_needs_cancel_runs(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run = request_run(stack.training, headers, model["id"])
    url = f"/training/v1/models/{model['id']}"
    refused = stack.training.delete(url, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "model_has_active_runs"
    assert stack.training.delete(f"{url}?cancel_runs=true", headers=headers).status_code == 204
    cancelled = stack.training.get(f"/training/v1/runs/{run['id']}", headers=headers).json()
    assert cancelled["state"] == "cancelled"


def test_other_tenants_and_missing_scopes_see_nothing(
    stack_without_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_without_workers, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    model = create_model(stack.training, headers, dataset_id)
    run = request_run(stack.training, headers, model["id"])
    other_org = auth(org_id="org-b")
    other_sandbox = auth(sandboxes=("dev",))
    for intruder in (other_org, other_sandbox):
        assert (
            stack.training.get(f"/training/v1/models/{model['id']}", headers=intruder).status_code
            == 404
        )
        assert (
            stack.training.get(f"/training/v1/runs/{run['id']}", headers=intruder).status_code
            == 404
        )
        assert (
            stack.training.post(
                f"/training/v1/runs/{run['id']}/cancel", headers=intruder
            ).status_code
            == 404
        )
        assert stack.training.get("/training/v1/models", headers=intruder).json()["items"] == []
    # Another organisation cannot use this organisation's dataset either (the catalog says 404).
    foreign = stack.training.post(
        "/training/v1/models",
        json={
            "name": "theirs",
            "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
            "dataset_id": dataset_id,
        },
        headers=other_org,
    )
    assert foreign.status_code == 422
    assert foreign.json()["code"] == "dataset_not_found"

    assert stack.training.get("/training/v1/models").status_code == 401
    read_only = auth(scopes=["training:read", "catalog:read"])
    assert stack.training.get("/training/v1/models", headers=read_only).status_code == 200
    denied = stack.training.post(
        f"/training/v1/models/{model['id']}/runs", json={}, headers=read_only
    )
    assert denied.status_code == 403


def test_a_model_names_its_recipe_by_registry_ids_and_the_registry_checks_parameters(
    stack_with_registry: Stack, auth: Auth
) -> None:
    from dsw_recipes.recipes.builtins import recipe_id, version_id

    stack, headers = stack_with_registry, auth()
    dataset_id = ingest_retail(stack.catalog, headers)
    ids = {
        "recipe_id": str(recipe_id("retail-sales")),
        "version_id": str(version_id("retail-sales", "1.0.0")),
    }
    body = {"name": "by-id", "recipe": ids, "dataset_id": dataset_id}
    invalid = stack.training.post(
        "/training/v1/models",
        json={**body, "hyperparameters": {"num_leaves": 1}},
        headers=headers,
    )
    assert invalid.status_code == 422, invalid.text
    assert invalid.json()["code"] == "invalid_hyperparameters"
    assert [e["pointer"] for e in invalid.json()["errors"]] == ["/body/hyperparameters/num_leaves"]
    created = stack.training.post(
        "/training/v1/models",
        json={**body, "hyperparameters": {"n_estimators": 10}},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["recipe"] == ids
    assert (model["recipe_name"], model["recipe_version"]) == ("retail-sales", "1.0.0")
    bad_run = stack.training.post(
        f"/training/v1/models/{model['id']}/runs",
        json={"hyperparameters": {"learning_rate": 5}},
        headers=headers,
    )
    assert bad_run.status_code == 422
    run = request_run(stack.training, headers, model["id"], hyperparameters={"num_leaves": 9})
    assert run["params"]["num_leaves"] == 9
    missing = stack.training.post(
        "/training/v1/models",
        json={**body, "name": "nope", "recipe": {**ids, "version_id": str(uuid.uuid4())}},
        headers=headers,
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "recipe_version_not_found"
