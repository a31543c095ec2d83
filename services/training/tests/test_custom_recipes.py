"""A custom recipe package uploaded to the recipes registry trains through the training API: the
worker downloads the package and the training process imports it from an unpacked copy, in the
sandbox, which a package that tries to read, reach or write what is not its own cannot leave."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import Stack
from .helpers import wait_run

Auth = Callable[..., dict[str, str]]

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*:DeprecationWarning")

RECIPE = """
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dsw_recipe import InputField, Param, ParamSpec, Recipe, Split, TaskType, resolve_fields


class MeanModel:
    def __init__(self, value: float) -> None:
        self.value = value


class MeanRecipe(Recipe[MeanModel]):
    name = "mean-recipe"
    version = "1.0.0"
    description = "Predicts the (shrunk) mean of y"
    task_type = TaskType.REGRESSION
    input_fields = (InputField("x", "number"), InputField("y", "number"))
    input_features = ("x",)
    target_features = ("y",)
    key_columns = ("x",)
    params = ParamSpec.of(
        Param("shrink", "number", 0.5, "shrinkage", minimum=0.0, maximum=1.0),
    )

    def features(self, table, params, ctx, *, scoring=False):
        return resolve_fields(table, self.input_fields if not scoring else self.input_fields[:1])

    def split(self, features, params, ctx):
        half = features.num_rows // 2
        return Split(features.slice(0, half), features.slice(half))

    def train(self, train, params, ctx):
        return MeanModel(float(np.mean(train["y"].to_numpy())) * (1 - float(params["shrink"])))

    def evaluate(self, model, holdout, params, ctx):
        actual = holdout["y"].to_numpy()
        return {"mae": float(np.mean(np.abs(actual - model.value)))}

    def score(self, model, features, params, ctx):
        return pa.table({"x": features["x"], "prediction": [model.value] * features.num_rows})
"""

PACKAGE = {
    "recipe.toml": (
        '[recipe]\nname = "mean-recipe"\nversion = "1.0.0"\n'
        'entry_point = "mean_recipe.recipe:MeanRecipe"\ntask_type = "regression"\n'
    ),
    "mean_recipe/__init__.py": "",
    "mean_recipe/recipe.py": RECIPE,
}

POINTS_SCHEMA = {
    "title": "Points",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "points",
    "tenantFields": {
        "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
        "required": ["x", "y"],
    },
}


# A recipe whose train() tries to leave the sandbox: every attempt is caught and printed to the
# run's log, then the first file is read uncaught, so the run fails with the sandbox's denial.
PROBING_TRAIN = """
    def train(self, train, params, ctx):
        import json, socket
        targets = json.loads(params["probe"])
        for path in targets["reads"]:
            try:
                open(path, "rb").read()
                print("ESCAPED reading", path)
            except OSError as error:
                print("denied reading", path, type(error).__name__)
        for port in targets["ports"]:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                print("ESCAPED connecting to", port)
            except OSError as error:
                print("denied connecting to", port, type(error).__name__)
        for path in targets["writes"]:
            try:
                open(path, "w").write("planted")
                print("wrote", path)
            except OSError as error:
                print("denied writing", path, type(error).__name__)
        open(targets["reads"][0], "rb").read()
"""


def _probing_package() -> dict[str, str]:
    source = RECIPE.replace(
        'Param("shrink", "number", 0.5, "shrinkage", minimum=0.0, maximum=1.0),',
        'Param("probe", "string", "{}", "what to try"),',
    )
    start = source.index("    def train(")
    end = source.index("    def evaluate(")
    source = source[:start] + PROBING_TRAIN.strip("\n") + "\n\n" + source[end:]
    return {**PACKAGE, "mean_recipe/recipe.py": source}


def _tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _upload_valid(stack: Stack, headers: dict[str, str], files: dict[str, str]) -> dict[str, Any]:
    assert stack.recipes is not None
    uploaded = stack.recipes.post(
        "/recipes/v1/recipes/packages",
        content=_tar_gz(files),
        headers={**headers, "Content-Type": "application/gzip"},
    )
    assert uploaded.status_code == 201, uploaded.text
    version: dict[str, Any] = uploaded.json()
    # Until the registry's smoke run has imported the package it cannot check parameters.
    deadline = time.monotonic() + 120
    url = f"/recipes/v1/recipes/{version['recipe_id']}/versions/{version['id']}"
    while version["validation"]["status"] in ("pending", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        version = stack.recipes.get(url, headers=headers).json()
    assert version["validation"]["status"] == "valid", version["validation"]
    return version


def _points_dataset(catalog: TestClient, headers: dict[str, str]) -> str:
    schema = catalog.post("/catalog/v1/schemas", json=POINTS_SCHEMA, headers=headers)
    assert schema.status_code == 201, schema.text
    dataset = catalog.post(
        "/catalog/v1/datasets",
        json={"name": "points", "schema_id": schema.json()["id"]},
        headers=headers,
    ).json()
    batch = catalog.post(
        f"/catalog/v1/datasets/{dataset['id']}/batches", json={"format": "csv"}, headers=headers
    ).json()
    rows = "x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(40))
    put = catalog.put(
        f"/catalog/v1/batches/{batch['id']}/files/points.csv", content=rows, headers=headers
    )
    assert put.status_code == 200, put.text
    catalog.post(f"/catalog/v1/batches/{batch['id']}/complete", headers=headers)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = catalog.get(f"/catalog/v1/batches/{batch['id']}", headers=headers).json()
        if status["status"] != "processing" and status["status"] in (
            "success",
            "failed",
            "partial",
        ):
            assert status["status"] == "success", status
            return str(dataset["id"])
        time.sleep(0.1)
    raise AssertionError("the points batch was not ingested in time")


def test_an_uploaded_recipe_package_trains(
    stack_with_registry_and_workers: Stack, auth: Auth
) -> None:
    stack, headers = stack_with_registry_and_workers, auth()
    version = _upload_valid(stack, headers, PACKAGE)
    dataset_id = _points_dataset(stack.catalog, headers)
    recipe = {"recipe_id": str(version["recipe_id"]), "version_id": str(version["id"])}

    # The registry checks the package's hyperparameters (the API never imports its code).
    refused = stack.training.post(
        "/training/v1/models",
        json={
            "name": "means",
            "recipe": recipe,
            "hyperparameters": {"shrink": 3},
            "dataset_id": dataset_id,
        },
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["pointer"] == "/body/hyperparameters/shrink"
    created = stack.training.post(
        "/training/v1/models",
        json={
            "name": "means",
            "recipe": recipe,
            "hyperparameters": {"shrink": 0.1},
            "dataset_id": dataset_id,
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    model = created.json()
    assert (model["recipe_name"], model["recipe_version"]) == ("mean-recipe", "1.0.0")

    queued = stack.training.post(
        f"/training/v1/models/{model['id']}/runs", json={}, headers=headers
    )
    assert queued.status_code == 202, queued.text
    run = wait_run(stack.training, headers, queued.json()["id"])
    assert run["state"] == "succeeded", (run["error"], run["log_tail"])
    assert run["params"] == {"shrink": 0.1}
    assert run["metrics"]["mae"] > 0
    assert run["mlflow"]["model_version"] == "1"
    logs = stack.training.get(f"/training/v1/runs/{run['id']}/logs?tail=500", headers=headers)
    assert any("from its package" in line for line in logs.json()["lines"])

    # Sweeps need the recipe's parameter spec in the API: refused clearly for packages.
    sweep = stack.training.post(
        f"/training/v1/models/{model['id']}/sweeps",
        json={
            "strategy": "grid",
            "space": {"shrink": {"type": "choice", "values": [0.1, 0.2]}},
            "objective": {"metric": "mae"},
        },
        headers=headers,
    )
    assert sweep.status_code == 422
    assert sweep.json()["code"] == "recipe_is_package"


def test_a_recipe_cannot_leave_the_sandbox(
    stack_with_registry_and_workers: Stack, auth: Auth, dsw_home: Path
) -> None:
    stack, headers = stack_with_registry_and_workers, auth()
    # Another tenant's data, in the same lake.
    _points_dataset(stack.catalog, auth(org_id="org-b"))
    theirs = next((dsw_home / "lake" / "org-b").rglob("*.parquet"))
    their_bytes = theirs.read_bytes()
    version = _upload_valid(stack, headers, _probing_package())
    dataset_id = _points_dataset(stack.catalog, headers)
    reads = [
        str(theirs),
        str(dsw_home / "secrets" / "jwt-hs256.key"),
        str(dsw_home / "mlflow" / "mlflow.db"),
        str(dsw_home / "training.db"),
        f"/proc/{os.getpid()}/environ",  # the worker's own process (and its environment)
    ]
    # The Python install and the system are read-only; the data home is not there at all (a
    # path under /tmp lands in the sandbox's own /tmp, never on the host).
    read_only = [str(Path(sys.prefix) / "planted.py"), "/etc/planted.py"]
    writes = [*read_only, str(dsw_home / "planted.py")]
    with socket.socket() as service:  # stands for a platform service on this host
        service.bind(("127.0.0.1", 0))
        service.listen()
        ports = [5432, int(service.getsockname()[1])]
        probe = json.dumps({"reads": reads, "ports": ports, "writes": writes})
        created = stack.training.post(
            "/training/v1/models",
            json={
                "name": "escape",
                "recipe": {"recipe_id": version["recipe_id"], "version_id": version["id"]},
                "hyperparameters": {"probe": probe},
                "dataset_id": dataset_id,
            },
            headers=headers,
        )
        assert created.status_code == 201, created.text
        queued = stack.training.post(
            f"/training/v1/models/{created.json()['id']}/runs", json={}, headers=headers
        )
        assert queued.status_code == 202, queued.text
        run = wait_run(stack.training, headers, queued.json()["id"])

    assert run["state"] == "failed"
    assert run["error"].startswith("FileNotFoundError"), run["error"]
    lines = stack.training.get(
        f"/training/v1/runs/{run['id']}/logs?tail=500", headers=headers
    ).json()["lines"]
    log = "\n".join(lines)
    assert "ESCAPED" not in log
    for path in reads:
        assert f"denied reading {path} FileNotFoundError" in log
    for port in ports:
        assert f"denied connecting to {port} ConnectionRefusedError" in log
    for path in read_only:
        assert f"denied writing {path} OSError" in log
    # The platform is fine: the other tenant's file intact, nothing planted, the API answers.
    assert theirs.read_bytes() == their_bytes
    assert not any(Path(path).exists() for path in writes)
    assert stack.training.get("/training/v1/models", headers=headers).status_code == 200
