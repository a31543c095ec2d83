"""The tenant matrix: nobody outside org A's sandbox reaches any of its resources.

Org A (sandbox ``prod``) creates one of every resource type through the real APIs: a schema, a
dataset with a successful batch, a partial batch and its error report and a batch still loading,
lake files, statistics and previews; an uploaded recipe package in two versions; a training model,
run, alias, sweep (cancelled at once: it only has to exist) and schedule, with the run's MLflow
run and registered version; a scoring run with
its output dataset and a scoring schedule; a service with two revisions, an API key, invocations
and feedback. Then two intruders, each holding every scope:

- org B (``org-b``), and
- another sandbox of org A (``prod.retail``, a name chosen so that ``<org>.<sandbox>.<model>``
  could meet A's model ``retail.forecast`` in the MLflow registry that all tenants share),

try every resource: lists must not show it, and reading, modifying, deleting it, or naming it in
their own requests (score with A's model, train on A's dataset or recipe, publish A's run, predict
through A's service, download A's lake files) must answer exactly as for an id that does not exist:
404 for A's own URLs; for a reference in a request body, the service's documented answer to an
unknown id (404 or 422 with the same problem code), never 200, 403 or 500. An API key is a
credential: A's key on an intruder's service is refused as an unknown key is (401). After each
attempt the resource is read again as A and must be unchanged.

The matrix is data: ``DIRECT``, ``REFERENCES`` (each with the problem code an unknown id gets, so
that no case passes by failing on something else first), ``LISTINGS`` and ``KEY_ENDPOINTS``
below, one test id per (intruder, case). ``test_matrix_covers_every_operation`` reads each
service's OpenAPI document: an operation that no case tries (and ``NOT_TENANT_RESOURCES`` does
not excuse) fails it. One platform, and one set of A's resources, for the whole module.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
from dsw_recipe.datasets import retail_training_path
from fastapi.testclient import TestClient
from httpx import Response
from mlflow.tracking import MlflowClient

import dsw
from dsw.demo import demo_records
from dsw_kit.broker import TansuBroker
from tests.support.tenant_platform import (
    CSV_DATES,
    FAST_RETAIL,
    RETAIL_SCHEMA,
    Platform,
    recipe_package,
    running_platform,
)

RETAIL = Path(retail_training_path())
ORG_A, SANDBOX_A = "org-a", "prod"
INTRUDERS = {"org-b": ("org-b", "prod"), "other-sandbox": ("org-a", "prod.retail")}
A_MODEL_NAME = "retail.forecast"
# The intruders' model whose registry name would be A's ("org-a.prod.retail" + "forecast") if the
# registry name were a plain join of org, sandbox and model name.
LOOKALIKE_MODEL_NAME = "forecast"
RECIPE_NAME = "tenant-mean"
RUN_TIMEOUT = 300.0
# Building the world trains three models in turn; on a loaded shared machine that takes minutes.
pytestmark = pytest.mark.timeout(900)


@dataclass
class Tenant:
    """One tenant's token and the ids of what it made (the placeholders of the matrix)."""

    token: str
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """The platform, org A with its resources as first read, and the intruders."""

    platform: Platform
    a: Tenant
    intruders: dict[str, Tenant]
    snapshots: dict[str, Any] = field(default_factory=dict)

    def call(
        self,
        tenant: Tenant,
        service: str,
        method: str,
        path: str,
        *,
        body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        client: TestClient = self.platform.apps[service]
        extra = {**tenant.headers, **(headers or {})}
        if content is not None:
            return cast(Response, client.request(method, path, content=content, headers=extra))
        return cast(Response, client.request(method, path, json=body, headers=extra))


# -- what org A owns, and how A reads each of its resources -----------------------------------

OWNED: dict[str, tuple[str, str]] = {
    "schema": ("catalog", "/catalog/v1/schemas/{schema}"),
    "dataset": ("catalog", "/catalog/v1/datasets/{dataset}"),
    "batch": ("catalog", "/catalog/v1/batches/{batch}"),
    "bad_batch": ("catalog", "/catalog/v1/batches/{bad_batch}"),
    "loading_batch": ("catalog", "/catalog/v1/batches/{loading_batch}"),
    "files": ("catalog", "/catalog/v1/datasets/{dataset}/files"),
    "output_dataset": ("catalog", "/catalog/v1/datasets/{output_dataset}"),
    "recipe": ("recipes", "/recipes/v1/recipes/{recipe}/versions/{version}"),
    "recipe_v2": ("recipes", "/recipes/v1/recipes/{recipe}/versions/{version2}"),
    "model": ("training", "/training/v1/models/{model}"),
    "run": ("training", "/training/v1/runs/{run}"),
    "sweep": ("training", "/training/v1/sweeps/{sweep}"),
    "schedule": ("training", "/training/v1/schedules/{schedule}"),
    "scoring_run": ("scoring", "/scoring/v1/runs/{scoring_run}"),
    "scoring_schedule": ("scoring", "/scoring/v1/schedules/{scoring_schedule}"),
    "service": ("serving", "/serving/v1/services/{service}"),
    "revisions": ("serving", "/serving/v1/services/{service}/revisions"),
    "keys": ("serving", "/serving/v1/services/{service}/keys"),
}


@dataclass(frozen=True)
class Case:
    """One attempt on one of A's resources (``owner``, a key of ``OWNED``)."""

    id: str
    service: str
    method: str
    path: str
    owner: str
    body: Any = None
    content: bytes | None = None
    # Send A's current ETag as If-Match: the strongest form of a modification.
    if_match: bool = False
    # For a reference in a body: the problem code an id nobody made gets (so the case cannot
    # pass by failing on something else first).
    code: str | None = None


def case(id: str, owner: str, method: str, path: str, body: Any = None, **options: Any) -> Case:
    service = path.split("/")[1] if not path.startswith("/v2/") else "serving"
    return Case(id, service, method, path, owner, body, **options)


RECORDS = [{k: v for k, v in r.items() if k != "weeklySales"} for r in demo_records(2)]


def _oip_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    return "FP64" if isinstance(value, float) else "BYTES"


OIP_INPUTS = [
    {"name": name, "shape": [1], "datatype": _oip_type(value), "data": [value]}
    for name, value in RECORDS[0].items()
]
SWEEP: dict[str, Any] = {
    "strategy": "random",
    "space": {"learning_rate": {"type": "float", "low": 0.05, "high": 0.3}},
    "objective": {"metric": "mape", "direction": "min"},
    "max_trials": 2,
    "hyperparameters": FAST_RETAIL,
}

# A's own URLs: every verb answers 404, exactly as for an id that was never made.
DIRECT: list[Case] = [
    # catalog: schemas, datasets, batches, error reports, lake files, statistics, previews
    case("schema-read", "schema", "GET", "/catalog/v1/schemas/{schema}"),
    case("schema-xdm", "schema", "GET", "/catalog/v1/schemas/{schema}/xdm"),
    case("schema-jsonschema", "schema", "GET", "/catalog/v1/schemas/{schema}/jsonschema"),
    case("schema-arrow", "schema", "GET", "/catalog/v1/schemas/{schema}/arrow"),
    case("schema-delete", "schema", "DELETE", "/catalog/v1/schemas/{schema}"),
    case("schema-versions", "schema", "GET", "/catalog/v1/schemas/{schema}/versions"),
    case("schema-version", "schema", "GET", "/catalog/v1/schemas/{schema}/versions/1"),
    case(
        "schema-evolve",
        "schema",
        "PUT",
        "/catalog/v1/schemas/{schema}",
        RETAIL_SCHEMA,
        if_match=True,
    ),
    case("dataset-read", "dataset", "GET", "/catalog/v1/datasets/{dataset}"),
    case(
        "dataset-patch",
        "dataset",
        "PATCH",
        "/catalog/v1/datasets/{dataset}",
        {"description": "taken over", "allow_partial": False},
        if_match=True,
    ),
    case("dataset-delete", "dataset", "DELETE", "/catalog/v1/datasets/{dataset}", if_match=True),
    case("dataset-purge", "files", "POST", "/catalog/v1/datasets/{dataset}/purge"),
    case("dataset-files", "files", "GET", "/catalog/v1/datasets/{dataset}/files"),
    case(
        "lake-file-download",
        "files",
        "GET",
        "/catalog/v1/datasets/{dataset}/files/{batch}/{file}",
    ),
    case(
        "lake-file-through-own-dataset",
        "files",
        "GET",
        "/catalog/v1/datasets/{own_dataset}/files/{batch}/{file}",
    ),
    case("dataset-preview", "dataset", "GET", "/catalog/v1/datasets/{dataset}/preview?limit=5"),
    case("dataset-rows", "dataset", "GET", "/catalog/v1/datasets/{dataset}/rows?limit=5"),
    case("dataset-statistics", "dataset", "GET", "/catalog/v1/datasets/{dataset}/statistics"),
    case("dataset-batches", "dataset", "GET", "/catalog/v1/datasets/{dataset}/batches"),
    case(
        "batch-create",
        "dataset",
        "POST",
        "/catalog/v1/datasets/{dataset}/batches",
        {"format": "csv"},
    ),
    case("batch-read", "batch", "GET", "/catalog/v1/batches/{batch}"),
    case("error-report", "bad_batch", "GET", "/catalog/v1/batches/{bad_batch}/errors"),
    case(
        "batch-upload",
        "loading_batch",
        "PUT",
        "/catalog/v1/batches/{loading_batch}/files/intruder.csv",
        content=b"date,store,weeklySales\n2/5/10,1,1\n",
    ),
    case("batch-complete", "loading_batch", "POST", "/catalog/v1/batches/{loading_batch}/complete"),
    case("batch-abort", "loading_batch", "POST", "/catalog/v1/batches/{loading_batch}/abort"),
    case("output-dataset-read", "output_dataset", "GET", "/catalog/v1/datasets/{output_dataset}"),
    case(
        "output-dataset-files",
        "output_dataset",
        "GET",
        "/catalog/v1/datasets/{output_dataset}/files",
    ),
    # recipes: the uploaded package and its versions
    case("recipe-read", "recipe", "GET", "/recipes/v1/recipes/{recipe}"),
    case("recipe-versions", "recipe", "GET", "/recipes/v1/recipes/{recipe}/versions"),
    case("version-read", "recipe", "GET", "/recipes/v1/recipes/{recipe}/versions/{version}"),
    case(
        "version-package",
        "recipe",
        "GET",
        "/recipes/v1/recipes/{recipe}/versions/{version}/package",
    ),
    case(
        "version-params-schema",
        "recipe",
        "GET",
        "/recipes/v1/recipes/{recipe}/versions/{version}/params-schema",
    ),
    case(
        "version-validate",
        "recipe",
        "POST",
        "/recipes/v1/recipes/{recipe}/versions/{version}/validate",
        {"params": {"shrink": 0.1}},
    ),
    case(
        "version-deprecate",
        "recipe",
        "POST",
        "/recipes/v1/recipes/{recipe}/versions/{version}/deprecate",
    ),
    case(
        "version-delete", "recipe_v2", "DELETE", "/recipes/v1/recipes/{recipe}/versions/{version2}"
    ),
    # training: model, aliases, runs and their logs, comparison, sweeps, schedules
    case("model-read", "model", "GET", "/training/v1/models/{model}"),
    case(
        "model-patch",
        "model",
        "PATCH",
        "/training/v1/models/{model}",
        {"description": "taken over"},
        if_match=True,
    ),
    case(
        "model-delete",
        "model",
        "DELETE",
        "/training/v1/models/{model}?cancel_runs=true",
        if_match=True,
    ),
    case(
        "alias-set",
        "model",
        "POST",
        "/training/v1/models/{model}/aliases/challenger",
        {"run_id": "{run}"},
    ),
    case("alias-delete", "model", "DELETE", "/training/v1/models/{model}/aliases/champion"),
    case("run-start", "model", "POST", "/training/v1/models/{model}/runs", {}),
    case("runs-list", "model", "GET", "/training/v1/models/{model}/runs"),
    case("run-read", "run", "GET", "/training/v1/runs/{run}"),
    case("run-cancel", "run", "POST", "/training/v1/runs/{run}/cancel"),
    case("run-logs", "run", "GET", "/training/v1/runs/{run}/logs"),
    case("model-compare", "model", "GET", "/training/v1/models/{model}/compare?metric=mape"),
    case("model-chart", "model", "GET", "/training/v1/models/{model}/chart.svg?metric=mape"),
    case("sweep-start", "model", "POST", "/training/v1/models/{model}/sweeps", SWEEP),
    case("sweeps-list", "model", "GET", "/training/v1/models/{model}/sweeps"),
    case("sweep-read", "sweep", "GET", "/training/v1/sweeps/{sweep}"),
    case("sweep-cancel", "sweep", "POST", "/training/v1/sweeps/{sweep}/cancel"),
    case("schedule-read", "schedule", "GET", "/training/v1/schedules/{schedule}"),
    case(
        "schedule-patch",
        "schedule",
        "PATCH",
        "/training/v1/schedules/{schedule}",
        {"name": "taken over"},
        if_match=True,
    ),
    case(
        "schedule-delete",
        "schedule",
        "DELETE",
        "/training/v1/schedules/{schedule}",
        if_match=True,
    ),
    case("schedule-enable", "schedule", "POST", "/training/v1/schedules/{schedule}/enable"),
    case("schedule-disable", "schedule", "POST", "/training/v1/schedules/{schedule}/disable"),
    case("schedule-runs", "schedule", "GET", "/training/v1/schedules/{schedule}/runs"),
    case("dataset-activity", "dataset", "GET", "/training/v1/datasets/{dataset}/activity"),
    # scoring: run, its logs, schedule
    case("scoring-run-read", "scoring_run", "GET", "/scoring/v1/runs/{scoring_run}"),
    case("scoring-run-cancel", "scoring_run", "POST", "/scoring/v1/runs/{scoring_run}/cancel"),
    case("scoring-run-logs", "scoring_run", "GET", "/scoring/v1/runs/{scoring_run}/logs"),
    case(
        "scoring-schedule-read",
        "scoring_schedule",
        "GET",
        "/scoring/v1/schedules/{scoring_schedule}",
    ),
    case(
        "scoring-schedule-patch",
        "scoring_schedule",
        "PATCH",
        "/scoring/v1/schedules/{scoring_schedule}",
        {"enabled": False},
        if_match=True,
    ),
    case(
        "scoring-schedule-delete",
        "scoring_schedule",
        "DELETE",
        "/scoring/v1/schedules/{scoring_schedule}",
        if_match=True,
    ),
    # serving: service, revisions, traffic, keys, decisions, feedback, metrics, predictions
    case("service-read", "service", "GET", "/serving/v1/services/{service}"),
    case(
        "service-patch",
        "service",
        "PATCH",
        "/serving/v1/services/{service}",
        {"pinned": True},
        if_match=True,
    ),
    case("service-delete", "service", "DELETE", "/serving/v1/services/{service}", if_match=True),
    case("revisions-list", "revisions", "GET", "/serving/v1/services/{service}/revisions"),
    case(
        "revision-add",
        "revisions",
        "POST",
        "/serving/v1/services/{service}/revisions",
        {"promote": True},
    ),
    case(
        "traffic-set",
        "service",
        "PUT",
        "/serving/v1/services/{service}/traffic",
        {"mode": "canary", "revision": 1, "secondary_revision": 2, "percent": 50},
    ),
    case("promote", "service", "POST", "/serving/v1/services/{service}/promote", {"revision": 1}),
    case("rollback", "service", "POST", "/serving/v1/services/{service}/rollback"),
    case("key-create", "keys", "POST", "/serving/v1/services/{service}/keys", {"name": "mine"}),
    case("keys-list", "keys", "GET", "/serving/v1/services/{service}/keys"),
    case("key-revoke", "keys", "DELETE", "/serving/v1/services/{service}/keys/{key}"),
    case("decisions", "service", "GET", "/serving/v1/services/{service}/decisions"),
    case(
        "feedback",
        "service",
        "POST",
        "/serving/v1/services/{service}/feedback",
        {"items": [{"request_id": "{request_id}", "actual": 1.0}]},
    ),
    case("service-metrics", "service", "GET", "/serving/v1/services/{service}/metrics"),
    case("service-health", "service", "GET", "/serving/v1/services/{service}/health"),
    case(
        "predict",
        "service",
        "POST",
        "/serving/v1/services/{service}/predict",
        {"records": RECORDS},
    ),
    case(
        "mlflow-invocations",
        "service",
        "POST",
        "/serving/v1/services/{service}/invocations",
        {"dataframe_records": RECORDS},
    ),
    case("oip-infer", "service", "POST", "/v2/models/{service}/infer", {"inputs": OIP_INPUTS}),
    case("oip-metadata", "service", "GET", "/v2/models/{service}"),
    case("oip-ready", "service", "GET", "/v2/models/{service}/ready"),
]

# The intruder's own URLs with one of A's ids in the body: answered as for an unknown id.
REFERENCES: list[Case] = [
    case(
        "dataset-of-a-schema",
        "schema",
        "POST",
        "/catalog/v1/datasets",
        {"name": "on-a-schema", "schema_id": "{schema}"},
        code="schema_not_found",
    ),
    case(
        "train-on-a-dataset",
        "dataset",
        "POST",
        "/training/v1/models",
        {
            "name": "on-a-dataset",
            "recipe": {"recipe_id": "retail-sales", "version_id": "1.0.0"},
            "dataset_id": "{dataset}",
        },
        code="dataset_not_found",
    ),
    case(
        "train-a-recipe-version",
        "recipe",
        "POST",
        "/training/v1/models",
        {
            "name": "on-a-recipe",
            "recipe": {"recipe_id": "{recipe}", "version_id": "{version}"},
            "dataset_id": "{own_dataset}",
        },
        code="recipe_version_not_found",
    ),
    case(
        "run-on-a-dataset",
        "dataset",
        "POST",
        "/training/v1/models/{own_model}/runs",
        {"dataset_id": "{dataset}"},
        code="dataset_not_found",
    ),
    case(
        "alias-to-a-run",
        "run",
        "POST",
        "/training/v1/models/{own_model}/aliases/champion",
        {"run_id": "{run}"},
        code="run_not_found",
    ),
    case(
        "compare-with-a-run",
        "run",
        "GET",
        "/training/v1/models/{own_model}/compare?runs={run}&metric=mape",
        code="run_not_found",
    ),
    case(
        "retrain-schedule-of-a-model",
        "model",
        "POST",
        "/training/v1/schedules",
        {"model_id": "{model}", "name": "on-a-model", "cron": "0 6 * * 1"},
        code="model_not_found",
    ),
    case(
        "score-with-a-run",
        "run",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"training_run_id": "{run}"},
            "input_dataset_id": "{own_dataset}",
            "output": {"name": "with-a-run"},
        },
        code="model_not_found",
    ),
    case(
        "score-with-a-model",
        "model",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"model_id": "{model}"},
            "input_dataset_id": "{own_dataset}",
            "output": {"name": "with-a-model"},
        },
        code="model_not_found",
    ),
    case(
        "score-with-a-model-version",
        "model",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"model_id": "{model}", "version": "1"},
            "input_dataset_id": "{own_dataset}",
            "output": {"name": "with-a-version"},
        },
        code="model_not_found",
    ),
    case(
        "score-with-a-champion",
        "model",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"model_id": "{model}", "alias": "champion"},
            "input_dataset_id": "{own_dataset}",
            "output": {"name": "with-a-champion"},
        },
        code="model_not_found",
    ),
    case(
        "score-a-dataset",
        "dataset",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"training_run_id": "{own_run}"},
            "input_dataset_id": "{dataset}",
            "output": {"name": "of-a-dataset"},
        },
        code="dataset_not_found",
    ),
    case(
        "score-into-a-dataset",
        "output_dataset",
        "POST",
        "/scoring/v1/runs",
        {
            "model": {"training_run_id": "{own_run}"},
            "input_dataset_id": "{own_dataset}",
            "output": {"dataset_id": "{output_dataset}"},
        },
        code="dataset_not_found",
    ),
    case(
        "scoring-schedule-of-a-model",
        "model",
        "POST",
        "/scoring/v1/schedules",
        {
            "name": "with-a-model",
            "model": {"model_id": "{model}"},
            "input_dataset_id": "{own_dataset}",
            "output": {"name": "scheduled-with-a-model"},
            "cron": "0 6 * * *",
        },
        code="model_not_found",
    ),
    case(
        "scoring-schedule-on-a-dataset",
        "dataset",
        "POST",
        "/scoring/v1/schedules",
        {
            "name": "on-a-dataset",
            "model": {"model_id": "{own_model}"},
            "input_dataset_id": "{dataset}",
            "output": {"name": "scheduled-on-a-dataset"},
            "cron": "0 6 * * *",
        },
        code="dataset_not_found",
    ),
    case(
        "publish-a-run",
        "run",
        "POST",
        "/serving/v1/services",
        {"name": "a-run", "source": {"training_run_id": "{run}"}},
        code="run_not_found",
    ),
    case(
        "publish-a-model",
        "model",
        "POST",
        "/serving/v1/services",
        {"name": "a-model", "source": {"model_id": "{model}", "policy": "latest"}},
        code="model_not_found",
    ),
    case(
        "revision-from-a-run",
        "run",
        "POST",
        "/serving/v1/services/{own_service}/revisions",
        {"source": {"training_run_id": "{run}"}},
        code="run_not_found",
    ),
]

# Lists an intruder may read: none of A's ids may appear in them.
LISTINGS: list[tuple[str, str]] = [
    ("catalog", "/catalog/v1/schemas"),
    ("catalog", "/catalog/v1/datasets"),
    ("catalog", "/catalog/v1/datasets?name=retail"),
    ("catalog", "/catalog/v1/datasets/{own_dataset}/batches"),
    ("catalog", "/catalog/v1/datasets/{own_dataset}/files"),
    ("recipes", "/recipes/v1/recipes"),
    ("recipes", "/recipes/v1/recipes?builtin=false"),
    ("training", "/training/v1/models"),
    ("training", "/training/v1/models/{own_model}/runs"),
    ("training", "/training/v1/models/{own_model}/sweeps"),
    ("training", "/training/v1/schedules"),
    ("training", "/training/v1/schedules?model_id={model}"),
    ("scoring", "/scoring/v1/runs"),
    ("scoring", "/scoring/v1/runs?schedule_id={scoring_schedule}"),
    ("scoring", "/scoring/v1/schedules"),
    ("serving", "/serving/v1/services"),
    ("serving", "/serving/v1/services/{own_service}/keys"),
]

# The same lists that hold something of A's when A reads them (the control).
A_LISTINGS = [
    (service, path)
    for service, path in LISTINGS
    if "{own_" not in path and "schedule_id" not in path  # A's scoring schedule has no run yet
]

# Where an API key is accepted: A's key must open none of the intruder's services.
KEY_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("predict", "POST /serving/v1/services/{name}/predict", {"records": RECORDS}),
    ("invocations", "POST /serving/v1/services/{name}/invocations", {"dataframe_records": RECORDS}),
    ("oip-infer", "POST /v2/models/{name}/infer", {"inputs": OIP_INPUTS}),
    ("oip-metadata", "GET /v2/models/{name}", None),
    ("oip-ready", "GET /v2/models/{name}/ready", None),
]


# -- building the world ------------------------------------------------------------------------


def _fill(template: Any, values: dict[str, str]) -> Any:
    """``template`` (a string, or JSON of strings) with its ``{placeholders}`` filled in."""
    if isinstance(template, str):
        return template.format(**values)
    if isinstance(template, dict):
        return {key: _fill(value, values) for key, value in template.items()}
    if isinstance(template, list):
        return [_fill(value, values) for value in template]
    return template


def _ok(response: Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201, 202)), response.text
    return dict(response.json())


def _ingest_retail(client: dsw.Client) -> tuple[str, str, str]:
    """(schema, dataset, batch) ids: the retail sample in a dataset named ``retail``."""
    schema = client.schemas.create(RETAIL_SCHEMA)
    dataset = client.datasets.create(
        "retail", schema_id=schema.id, allow_partial=True, error_threshold_percent=60
    )
    batch = client.datasets.ingest(dataset.id, RETAIL, formats=CSV_DATES)
    assert batch.status == "success", batch
    return schema.id, dataset.id, batch.id


def _upload_recipe(world: World, tenant: Tenant, version: str) -> dict[str, Any]:
    response = world.call(
        tenant,
        "recipes",
        "POST",
        "/recipes/v1/recipes/packages",
        content=recipe_package(RECIPE_NAME, version),
        headers={"Content-Type": "application/octet-stream"},
    )
    return _ok(response, 200, 201)


def _catalog_of_a(client: dsw.Client, ids: dict[str, str], scratch: Path) -> None:
    """A's schema and dataset: a successful batch, a partial one with its error report, and one
    still loading."""
    ids["schema"], ids["dataset"], ids["batch"] = _ingest_retail(client)
    ids["file"] = client.datasets.files(ids["dataset"])[0]["name"]
    lines = RETAIL.read_text().splitlines()
    bad = scratch / "bad.csv"
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace(",A,", ",Z,")]) + "\n")
    partial = client.datasets.ingest(ids["dataset"], bad, formats=CSV_DATES)
    assert partial.status == "partial", partial
    ids["bad_batch"] = partial.id
    loading = client.batches.create(ids["dataset"], "csv", formats=CSV_DATES)
    client.batches.upload(loading.id, bad)
    ids["loading_batch"] = loading.id


def _start_training(client: dsw.Client, dataset_id: str) -> tuple[str, str]:
    """(model, run) ids: a retail model named like A's, its first run queued."""
    model = client.models.create(
        A_MODEL_NAME,
        recipe_id="retail-sales",
        version_id="1.0.0",
        dataset_id=dataset_id,
        hyperparameters=FAST_RETAIL,
    )
    return model.id, client.runs.start(model.id).id


def _finish_training(client: dsw.Client, run_id: str) -> None:
    run = client.runs.wait(run_id, poll=0.2, timeout=RUN_TIMEOUT)
    assert run.state == "succeeded", run


def _while_a_trains(world: World, client: dsw.Client, ids: dict[str, str]) -> None:
    """A's recipe versions, sweep and retraining schedule: none needs a trained model."""
    first, second = (_upload_recipe(world, world.a, v) for v in ("1.0.0", "1.1.0"))
    ids["recipe"], ids["version"], ids["version2"] = first["recipe_id"], first["id"], second["id"]
    # The sweep only has to exist: cancelled at once, it trains nothing (one worker, busy machine).
    sweep = client.sweeps.start(ids["model"], **_sweep_options())
    client.sweeps.cancel(sweep.id)
    ids["sweep"] = client.wait_for_sweep(sweep.id, poll=0.2, timeout=RUN_TIMEOUT).id
    schedule = {"model_id": ids["model"], "name": "weekly", "cron": "0 6 * * 1"}
    response = world.call(world.a, "training", "POST", "/training/v1/schedules", body=schedule)
    ids["schedule"] = _ok(response)["id"]


def _sweep_options() -> dict[str, Any]:
    return {
        "space": SWEEP["space"],
        "metric": SWEEP["objective"]["metric"],
        "max_trials": SWEEP["max_trials"],
        "hyperparameters": FAST_RETAIL,
    }


def _scoring_of_a(world: World, client: dsw.Client, ids: dict[str, str]) -> str:
    """A's scoring schedule and a scoring run (started; its id is returned)."""
    client.models.set_alias(ids["model"], "champion", ids["run"])
    scoring = client.scoring.start(
        training_run_id=ids["run"], input_dataset_id=ids["dataset"], output_name="retail-scored"
    )
    ids["scoring_run"] = scoring.id
    scoring_schedule = {
        "name": "daily",
        "model": {"model_id": ids["model"], "alias": "champion"},
        "input_dataset_id": ids["dataset"],
        "output": {"name": "daily-scores"},
        "cron": "0 6 * * *",
    }
    response = world.call(
        world.a, "scoring", "POST", "/scoring/v1/schedules", body=scoring_schedule
    )
    ids["scoring_schedule"] = _ok(response)["id"]
    return scoring.id


def _service_of_a(world: World, client: dsw.Client, ids: dict[str, str]) -> None:
    """Service ``sales`` with two revisions, a key, an invocation and its feedback."""
    # No automatic promotion: nothing may change the service while the matrix runs.
    ids["service"] = client.services.publish(
        "sales", training_run_id=ids["run"], promotion={"auto_promote": False}
    ).name
    client.services.add_revision("sales", training_run_id=ids["run"])
    key = client.services.create_key("sales", "store-app")
    ids["key"], ids["key_secret"] = key["id"], key["key"]
    answer = client.services.predict("sales", RECORDS, api_key=key["key"])
    ids["request_id"] = answer["request_id"]
    feedback = {"items": [{"request_id": answer["request_id"], "actual": 1000.0}]}
    path = "/serving/v1/services/sales/feedback"
    _ok(world.call(world.a, "serving", "POST", path, body=feedback))


def _intruder_after_training(client: dsw.Client, ids: dict[str, str]) -> None:
    """The intruder's own service, and its model whose registry name could meet A's."""
    ids["own_service"] = client.services.publish("own-sales", training_run_id=ids["own_run"]).name
    lookalike = client.models.create(
        LOOKALIKE_MODEL_NAME,
        recipe_id="retail-sales",
        version_id="1.0.0",
        dataset_id=ids["own_dataset"],
        hyperparameters=FAST_RETAIL,
    )
    ids["lookalike_model"] = lookalike.id


def _build(world: World, scratch: Path) -> None:
    """Everyone's resources. The three training runs (A's and one per intruder, whose own
    dataset, model, run and service make the cross-resource attempts name only one foreign
    thing) are queued first, and the rest is made while the one worker trains them."""
    a = world.a.ids
    with ExitStack() as stack:
        clients = {
            label: stack.enter_context(world.platform.sdk(tenant.token))
            for label, tenant in world.intruders.items()
        }
        a_client = stack.enter_context(world.platform.sdk(world.a.token))
        _catalog_of_a(a_client, a, scratch)
        a["model"], a["run"] = _start_training(a_client, a["dataset"])
        for label, client in clients.items():
            ids = world.intruders[label].ids
            _, ids["own_dataset"], _ = _ingest_retail(client)
            ids["own_model"], ids["own_run"] = _start_training(client, ids["own_dataset"])
        _while_a_trains(world, a_client, a)
        _finish_training(a_client, a["run"])
        scoring_run = _scoring_of_a(world, a_client, a)
        _service_of_a(world, a_client, a)
        for label, client in clients.items():
            ids = world.intruders[label].ids
            _finish_training(client, ids["own_run"])
            _intruder_after_training(client, ids)
        scored = a_client.scoring.wait(scoring_run, poll=0.2, timeout=RUN_TIMEOUT)
        assert scored.state == "succeeded", scored
        a["output_dataset"] = scored["output_dataset_id"]


def _read_as_a(world: World, owner: str) -> Any:
    service, template = OWNED[owner]
    response = world.call(world.a, service, "GET", _fill(template, world.a.ids))
    assert response.status_code == 200, (owner, response.text)
    return response.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, tansu: TansuBroker) -> Iterator[World]:
    home = tmp_path_factory.mktemp("home")
    with running_platform(home, tansu.bootstrap) as platform:
        a = Tenant(platform.token(ORG_A, SANDBOX_A))
        intruders = {
            label: Tenant(platform.token(org, sandbox))
            for label, (org, sandbox) in INTRUDERS.items()
        }
        built = World(platform, a, intruders)
        _build(built, tmp_path_factory.mktemp("scratch"))
        built.snapshots = {owner: _read_as_a(built, owner) for owner in OWNED}
        yield built


# -- the checks --------------------------------------------------------------------------------


def _values(world: World, intruder: Tenant) -> dict[str, str]:
    return {**world.a.ids, **intruder.ids}


def _identifying(tenant: Tenant) -> dict[str, str]:
    """The tenant's ids and secrets (not its names: another tenant may use the same ones)."""
    return {key: value for key, value in tenant.ids.items() if key not in ("file", "service")}


def _unknown_values(world: World, intruder: Tenant) -> dict[str, str]:
    """The same placeholders with every one of A's ids replaced by one nobody made."""
    unknown = {key: str(uuid.uuid4()) for key in world.a.ids}
    unknown.update(service="no-such-service", file=world.a.ids["file"])
    return {**unknown, **intruder.ids}


def _attempt(world: World, intruder: Tenant, attempt: Case, values: dict[str, str]) -> Response:
    headers: dict[str, str] = {}
    if attempt.if_match:
        service, template = OWNED[attempt.owner]
        current = world.call(world.a, service, "GET", _fill(template, world.a.ids))
        headers["If-Match"] = current.headers["etag"]
    return world.call(
        intruder,
        attempt.service,
        attempt.method,
        _fill(attempt.path, values),
        body=_fill(attempt.body, values),
        content=attempt.content,
        headers=headers,
    )


def _problem_code(response: Response) -> str | None:
    try:
        code = response.json().get("code")
    except (json.JSONDecodeError, AttributeError):
        return None
    return str(code) if code is not None else None


def _assert_unchanged(world: World, owner: str) -> None:
    assert _read_as_a(world, owner) == world.snapshots[owner], f"A's {owner} changed"


def _params(cases: list[Case]) -> list[Any]:
    return [
        pytest.param(label, attempt, id=f"{label}:{attempt.id}")
        for label in INTRUDERS
        for attempt in cases
    ]


@pytest.mark.parametrize(("intruder_label", "attempt"), _params(DIRECT))
def test_a_resource_is_not_found(world: World, intruder_label: str, attempt: Case) -> None:
    intruder = world.intruders[intruder_label]
    response = _attempt(world, intruder, attempt, _values(world, intruder))
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    _assert_unchanged(world, attempt.owner)


@pytest.mark.parametrize(("intruder_label", "attempt"), _params(REFERENCES))
def test_a_resource_named_in_a_request_is_unknown(
    world: World, intruder_label: str, attempt: Case
) -> None:
    intruder = world.intruders[intruder_label]
    unknown = _attempt(world, intruder, attempt, _unknown_values(world, intruder))
    # What an id nobody made gets: refused for that reference, not for something else.
    assert unknown.status_code in (404, 422), unknown.text
    assert _problem_code(unknown) == attempt.code, unknown.text
    response = _attempt(world, intruder, attempt, _values(world, intruder))
    assert (response.status_code, _problem_code(response)) == (
        unknown.status_code,
        _problem_code(unknown),
    ), response.text
    _assert_unchanged(world, attempt.owner)


@pytest.mark.parametrize("intruder_label", list(INTRUDERS))
@pytest.mark.parametrize(("service", "path"), LISTINGS, ids=[path for _, path in LISTINGS])
def test_lists_show_none_of_a(world: World, intruder_label: str, service: str, path: str) -> None:
    intruder = world.intruders[intruder_label]
    response = world.call(intruder, service, "GET", _fill(path, _values(world, intruder)))
    assert response.status_code == 200, response.text
    seen = [key for key, value in _identifying(world.a).items() if value in response.text]
    assert not seen, f"A's {seen} listed to {intruder_label}"


@pytest.mark.parametrize(("service", "path"), A_LISTINGS, ids=[path for _, path in A_LISTINGS])
def test_lists_show_a_its_own(world: World, service: str, path: str) -> None:
    """The control of the test above: the same lists, read by A, do show A's resources."""
    response = world.call(world.a, service, "GET", _fill(path, world.a.ids))
    assert response.status_code == 200, response.text
    assert any(value in response.text for value in _identifying(world.a).values())


@pytest.mark.parametrize("intruder_label", list(INTRUDERS))
@pytest.mark.parametrize(
    ("endpoint", "body"),
    [(endpoint, body) for _, endpoint, body in KEY_ENDPOINTS],
    ids=[label for label, _, _ in KEY_ENDPOINTS],
)
def test_a_key_opens_no_other_service(
    world: World, intruder_label: str, endpoint: str, body: Any
) -> None:
    method, _, template = endpoint.partition(" ")
    path = template.format(name=world.intruders[intruder_label].ids["own_service"])
    serving = world.platform.apps["serving"]

    def with_key(key: str) -> Response:
        return cast(Response, serving.request(method, path, json=body, headers={"x-api-key": key}))

    bogus = with_key("dsk_" + uuid.uuid4().hex)
    assert bogus.status_code == 401, bogus.text
    response = with_key(world.a.ids["key_secret"])
    assert (response.status_code, _problem_code(response)) == (401, _problem_code(bogus))
    # The control: the same key on A's own service is accepted.
    own = serving.request(
        method,
        template.format(name="sales"),
        json=body,
        headers={"x-api-key": world.a.ids["key_secret"]},
    )
    assert own.status_code == 200, own.text


@pytest.mark.parametrize("intruder_label", list(INTRUDERS))
def test_same_recipe_package_is_registered_apart(world: World, intruder_label: str) -> None:
    """Identical content answers with the existing version, but only within one tenant."""
    version = _upload_recipe(world, world.intruders[intruder_label], "1.0.0")
    assert version["id"] != world.a.ids["version"]
    assert version["recipe_id"] != world.a.ids["recipe"]
    _assert_unchanged(world, "recipe")


@pytest.mark.parametrize("intruder_label", list(INTRUDERS))
def test_registry_names_never_meet(world: World, intruder_label: str) -> None:
    """A model whose org, sandbox and name join to A's registry name gets a registry entry of
    its own: scoring its version 1 must not find A's model there."""
    intruder = world.intruders[intruder_label]
    lookalike = _ok(
        world.call(
            intruder, "training", "GET", f"/training/v1/models/{intruder.ids['lookalike_model']}"
        )
    )
    a_model = world.snapshots["model"]
    assert lookalike["registered_model_name"] != a_model["registered_model_name"]
    body = {
        "model": {"model_id": intruder.ids["lookalike_model"], "version": "1"},
        "input_dataset_id": intruder.ids["own_dataset"],
        "output": {"name": "lookalike-scores"},
    }
    response = world.call(intruder, "scoring", "POST", "/scoring/v1/runs", body=body)
    assert response.status_code == 422, response.text
    assert _problem_code(response) == "model_version_not_found"


def test_a_registered_model_holds_only_a_versions(world: World) -> None:
    """MLflow, read directly: every version of A's registered model came from A's model."""
    client = MlflowClient(tracking_uri=world.platform.mlflow_uri)
    name = world.snapshots["model"]["registered_model_name"]
    owners = {
        version.tags.get("dsw.model_id")
        for version in client.search_model_versions(f"name='{name}'")
    }
    assert owners == {world.a.ids["model"]}


def test_a_resources_unchanged_after_every_attempt(world: World) -> None:
    for owner in OWNED:
        _assert_unchanged(world, owner)


# Operations outside the matrix, and why.
NOT_TENANT_RESOURCES = {
    # Liveness, readiness and metrics hold no tenant data (see test_security_routes.PUBLIC).
    "GET /healthz": "operational",
    "GET /readyz": "operational",
    "GET /metrics": "operational",
    "GET /v2/health/live": "operational",
    "GET /v2/health/ready": "operational",
    # The standard XDM library is the same for every tenant.
    "GET /catalog/v1/xdm/components": "standard XDM library",
    "GET /catalog/v1/xdm/{kind}": "standard XDM library",
    # Tenant field groups and data types: another tenant reads 404 and lists nothing, in
    # services/catalog/tests/test_xdm_components.py (test_create_list_read_and_compose_...).
    "POST /catalog/v1/xdm/tenant/{kind}": "test_xdm_components (names nothing stored)",
    "GET /catalog/v1/xdm/tenant/{kind}": "test_xdm_components",
    "GET /catalog/v1/xdm/tenant/{kind}/{component_id}": "test_xdm_components",
    "PUT /catalog/v1/xdm/tenant/{kind}/{component_id}": "test_xdm_components",
    "DELETE /catalog/v1/xdm/tenant/{kind}/{component_id}": "test_xdm_components",
    "POST /catalog/v1/xdm/tenant/{kind}/{component_id}/deprecate": "test_xdm_components",
    # A schema document names no stored resource of anyone's.
    "POST /catalog/v1/schemas": "names nothing stored",
    # Registration by upload is test_same_recipe_package_is_registered_apart; a git import
    # registers through the same path, from content outside the platform.
    "POST /recipes/v1/recipes/packages": "test_same_recipe_package_is_registered_apart",
    "POST /recipes/v1/recipes/git": "same registration path as an upload",
}


def _matrix_operations() -> list[tuple[str, str]]:
    """(method, concrete path template) of every attempt of the matrix."""
    operations = [(attempt.method, attempt.path) for attempt in DIRECT + REFERENCES]
    operations += [("GET", path) for _, path in LISTINGS]
    operations += [tuple(endpoint.split(" ", 1)) for _, endpoint, _ in KEY_ENDPOINTS]  # type: ignore[misc]
    return operations


def _covers(template: str, method: str, operations: list[tuple[str, str]]) -> bool:
    """Whether some attempt calls ``method`` on a path of the OpenAPI ``template``."""
    pattern = re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$")
    return any(verb == method and pattern.match(path.split("?")[0]) for verb, path in operations)


@pytest.mark.parametrize("service", ["catalog", "recipes", "training", "scoring", "serving"])
def test_matrix_covers_every_operation(world: World, service: str) -> None:
    """An endpoint added later fails here until the matrix tries it (or says why not)."""
    operations = _matrix_operations()
    document = world.platform.apps[service].app.openapi()  # type: ignore[attr-defined]
    missing = [
        f"{method.upper()} {template}"
        for template, methods in document["paths"].items()
        for method in methods
        if f"{method.upper()} {template}" not in NOT_TENANT_RESOURCES
        and not _covers(template, method.upper(), operations)
    ]
    assert not missing, f"operations the tenant matrix does not try: {missing}"
