"""Small factories for recipes tests: recipe packages as files, zips, tarballs and wheels."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

RECIPE_SOURCE = """
from __future__ import annotations

import numpy as np
import pyarrow as pa

from dsw_recipe import InputField, Param, ParamSpec, Recipe, Split, TaskType, resolve_fields


class MeanModel:
    def __init__(self, value: float) -> None:
        self.value = value


class {cls}(Recipe[MeanModel]):
    name = "{name}"
    version = "{version}"
    description = "Predicts the mean"
    task_type = TaskType.REGRESSION
    input_fields = (InputField("x", "number"), InputField("y", "number"))
    input_features = ("x",)
    target_features = ("y",)
    key_columns = ("x",)
    params = ParamSpec.of(
        Param("shrink", "number", 0.5, "shrinkage", minimum=0.0, maximum=1.0),
        Param("rounds", "integer", 3, "rounds", minimum=1),
    )

    def features(self, table, params, ctx, *, scoring=False):
        {features_body}
        return resolve_fields(table, self.input_fields if not scoring else self.input_fields[:1])

    def split(self, features, params, ctx):
        half = features.num_rows // 2
        return Split(features.slice(0, half), features.slice(half))

    def train(self, train, params, ctx):
        return MeanModel(float(np.mean(train["y"].to_numpy())) * (1 - float(params["shrink"])))

    def evaluate(self, model, holdout, params, ctx):
        actual = holdout["y"].to_numpy()
        return {{"mae": float(np.mean(np.abs(actual - model.value)))}}

    def score(self, model, features, params, ctx):
        return pa.table({{"x": features["x"], "prediction": [model.value] * features.num_rows}})
"""

SAMPLE_CSV = "x,y\n" + "".join(f"{i},{2 * i + 1}\n" for i in range(20))


def package_files(
    name: str = "mean-recipe",
    version: str = "1.0.0",
    *,
    features_body: str = "pass",
    sample: bool = True,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The files of a small custom recipe package (module ``{module}/recipe.py``)."""
    module = name.replace("-", "_")
    manifest = (
        "[recipe]\n"
        f'name = "{name}"\n'
        f'version = "{version}"\n'
        f'entry_point = "{module}.recipe:MeanRecipe"\n'
        'description = "Predicts the mean"\n'
        'task_type = "regression"\n'
    )
    files = {
        "recipe.toml": manifest,
        f"{module}/__init__.py": "",
        f"{module}/recipe.py": RECIPE_SOURCE.format(
            cls="MeanRecipe", name=name, version=version, features_body=features_body
        ),
    }
    if sample:
        files["recipe.toml"] += '\n[smoke]\nsample = "data/sample.csv"\nparams = { rounds = 2 }\n'
        files["data/sample.csv"] = SAMPLE_CSV
    files.update(extra or {})
    return files


def zip_bytes(files: dict[str, str], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(prefix + path, text)
    return buffer.getvalue()


def tar_gz_bytes(files: dict[str, str], prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(prefix + path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def upload(client: TestClient, headers: dict[str, str], content: bytes, **kwargs: Any) -> Any:
    return client.post(
        "/recipes/v1/recipes/packages",
        content=content,
        headers={**headers, "Content-Type": "application/octet-stream", **kwargs},
    )


def register(client: TestClient, headers: dict[str, str], **package: Any) -> dict[str, Any]:
    response = upload(client, headers, zip_bytes(package_files(**package)))
    assert response.status_code == 201, response.text
    return dict(response.json())


def version_url(version: dict[str, Any]) -> str:
    return f"/recipes/v1/recipes/{version['recipe_id']}/versions/{version['id']}"


def wait_validated(
    client: TestClient, headers: dict[str, str], version: dict[str, Any], timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    current = version
    while time.monotonic() < deadline:
        current = client.get(version_url(version), headers=headers).json()
        if current["validation"]["status"] in ("valid", "invalid"):
            return dict(current)
        time.sleep(0.2)
    raise AssertionError(f"version {version['id']} was not validated: {current}")
