"""The five services in-process on one broker, one data home and one MLflow, for tenant tests.

Each service runs its real application (migrations, relay, consumers, embedded workers) behind a
Starlette TestClient; services call each other through those clients' transports, as the SDK tests
do. Databases are SQLite files in the data home, or PostgreSQL when DSW_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import dsw
from dsw.config import SERVICES, Config
from dsw_catalog.app import create_app as create_catalog
from dsw_catalog.settings import CatalogSettings
from dsw_kit.auth import Authenticator, all_scopes
from dsw_kit.settings import AuthSettings, PlatformSettings
from dsw_kit.testing.plugin import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
)
from dsw_recipes.app import create_app as create_recipes
from dsw_recipes.settings import RecipesSettings
from dsw_scoring.app import create_app as create_scoring
from dsw_scoring.settings import ScoringSettings
from dsw_serving.app import create_app as create_serving
from dsw_serving.settings import ServingSettings
from dsw_training.app import create_app as create_training
from dsw_training.settings import TrainingSettings

RETAIL_SCHEMA: dict[str, Any] = {
    "title": "Retail sales",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "retail",
    "tenantFields": {
        "properties": {
            "date": {"type": "string", "format": "date"},
            "store": {"type": "integer"},
            "storeType": {"type": "string", "enum": ["A", "B", "C"]},
            "weeklySales": {"type": "number", "minimum": 0},
            "storeSize": {"type": "integer"},
            "temperature": {"type": "number"},
            "regionalFuelPrice": {"type": "number"},
            "markDown": {"type": "number"},
            "cpi": {"type": "number"},
            "unemployment": {"type": "number"},
            "isHoliday": {"type": "boolean"},
        },
        "required": ["date", "store", "weeklySales"],
    },
}
CSV_DATES = {"_retail.date": "%m/%d/%y"}
# Small models: the tests are about who may reach them, not about their accuracy.
FAST_RETAIL = {"n_estimators": 10, "num_leaves": 8, "num_threads": 1}
_FAST_WORKERS: dict[str, Any] = {
    "run_poll_seconds": 0.2,
    "progress_write_seconds": 0.2,
    "cancel_poll_seconds": 0.2,
}

_RECIPE_SOURCE = """
import numpy as np
import pyarrow as pa

from dsw_recipe import InputField, Param, ParamSpec, Recipe, Split, TaskType, resolve_fields


class MeanRecipe(Recipe):
    name = "{name}"
    version = "{version}"
    description = "Predicts the mean"
    task_type = TaskType.REGRESSION
    input_fields = (InputField("x", "number"), InputField("y", "number"))
    input_features = ("x",)
    target_features = ("y",)
    key_columns = ("x",)
    params = ParamSpec.of(Param("shrink", "number", 0.5, "shrinkage", minimum=0.0, maximum=1.0))

    def features(self, table, params, ctx, *, scoring=False):
        return resolve_fields(table, self.input_fields if not scoring else self.input_fields[:1])

    def split(self, features, params, ctx):
        half = features.num_rows // 2
        return Split(features.slice(0, half), features.slice(half))

    def train(self, train, params, ctx):
        return float(np.mean(train["y"].to_numpy()))

    def evaluate(self, model, holdout, params, ctx):
        return {{"mae": float(np.mean(np.abs(holdout["y"].to_numpy() - model)))}}

    def score(self, model, features, params, ctx):
        return pa.table({{"x": features["x"], "prediction": [model] * features.num_rows}})
"""


def recipe_package(name: str, version: str) -> bytes:
    """A zipped custom recipe package (predicts the mean) named ``name`` at ``version``."""
    module = name.replace("-", "_")
    manifest = (
        f'[recipe]\nname = "{name}"\nversion = "{version}"\n'
        f'entry_point = "{module}.recipe:MeanRecipe"\ntask_type = "regression"\n'
    )
    files = {
        "recipe.toml": manifest,
        f"{module}/__init__.py": "",
        f"{module}/recipe.py": _RECIPE_SOURCE.format(name=name, version=version),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


@dataclass
class Platform:
    """The in-process services and what a client needs to reach them."""

    home: Path
    apps: dict[str, TestClient] = field(default_factory=dict)

    def token(self, org: str, sandbox: str, subject: str = "alice") -> str:
        """A token with every scope of the platform, for ``sandbox`` of ``org`` only."""
        issuer = Authenticator(AuthSettings(), self.home).issuer()
        return issuer.issue(subject, all_scopes(), org_id=org, sandboxes=(sandbox,))

    def sdk(self, token: str) -> dsw.Client:
        """An SDK client acting with ``token`` through the in-process services."""
        config = Config(
            urls={name: f"http://{name}.test" for name in SERVICES},
            token=token,
            embedded=False,
            backoff=0.01,
        )
        transports = {name: app._transport for name, app in self.apps.items()}
        return dsw.Client(config, transports=transports)

    @property
    def mlflow_uri(self) -> str:
        """The tracking URI every service of this platform uses."""
        return PlatformSettings(home=self.home).resolved_mlflow_tracking_uri


class _Databases:
    def __init__(self, folder: Path) -> None:
        self.folder, self.admin, self.made = folder, postgres_admin_url(), list[str]()

    def new(self, name: str) -> str:
        if self.admin is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        url = create_postgres_database(self.admin, prefix=f"dsw_tenants_{name}")
        self.made.append(url)
        return url

    def drop(self) -> None:
        for url in self.made:
            drop_postgres_database(url)


@contextmanager
def running_platform(home: Path, kafka_bootstrap: str) -> Iterator[Platform]:
    """Catalog, recipes, training, scoring and serving with their embedded workers."""
    settings = PlatformSettings(
        home=home,
        kafka_bootstrap=kafka_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    databases = _Databases(home)
    platform = Platform(home)
    try:
        with ExitStack() as stack:

            def start(name: str, app: Any) -> None:
                platform.apps[name] = stack.enter_context(TestClient(app))

            start(
                "catalog",
                create_catalog(
                    CatalogSettings(
                        database_url=databases.new("catalog"),
                        platform=settings,
                        ingest_poll_seconds=0.2,
                    )
                ),
            )
            # No smoke worker: recipe code is not what these tests exercise, and the uploaded
            # versions only need to exist.
            recipes = RecipesSettings(
                database_url=databases.new("recipes"),
                platform=settings,
                smoke_builtins=False,
                embedded_workers=False,
            )
            start("recipes", create_recipes(recipes))
            upstream = {name: platform.apps[name]._transport for name in ("catalog", "recipes")}
            training = TrainingSettings(
                database_url=databases.new("training"), platform=settings, **_FAST_WORKERS
            )
            start("training", create_training(training, transports=upstream))
            upstream["training"] = platform.apps["training"]._transport
            scoring = ScoringSettings(
                database_url=databases.new("scoring"), platform=settings, **_FAST_WORKERS
            )
            start("scoring", create_scoring(scoring, transports=upstream))
            serving = ServingSettings(
                database_url=databases.new("serving"), platform=settings, state_poll_seconds=0.2
            )
            start("serving", create_serving(serving, transports=upstream))
            yield platform
    finally:
        databases.drop()
