"""The SDK against the real services, in-process: catalog, recipes, training and scoring.

One module-wide platform (real broker, databases on SQLite or PostgreSQL, MLflow in the data
home); the client reaches each app through its ASGI transport, exactly as over the network.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from dsw_recipe.datasets import retail_training_path
from fastapi.testclient import TestClient

import dsw
from dsw.config import SERVICES, Config
from dsw.demo import demo_records
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

RETAIL = Path(retail_training_path())
FAST = {"n_estimators": 15, "num_leaves": 8, "num_threads": 1}
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


@dataclass
class Platform:
    """The in-process services and what a client needs to reach them."""

    home: Path
    apps: dict[str, TestClient]

    def token(self, org: str = "org-a", scopes: list[str] | None = None) -> str:
        issuer = Authenticator(AuthSettings(), self.home).issuer()
        return issuer.issue(
            "alice", all_scopes() if scopes is None else scopes, org_id=org, sandboxes=("prod",)
        )

    def transports(self) -> dict[str, httpx.BaseTransport]:
        return {name: app._transport for name, app in self.apps.items()}

    def config(self, **overrides: Any) -> Config:
        values: dict[str, Any] = {
            "urls": {name: f"http://{name}.test" for name in SERVICES},
            "token": self.token(),
            "embedded": False,
            "backoff": 0.01,
        }
        return Config(**(values | overrides))

    def client(self, **overrides: Any) -> dsw.Client:
        return dsw.Client(self.config(**overrides), transports=self.transports())


class _Databases:
    def __init__(self, folder: Path) -> None:
        self.folder, self.admin, self.made = folder, postgres_admin_url(), list[str]()

    def new(self, name: str) -> str:
        if self.admin is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        url = create_postgres_database(self.admin, prefix=f"dsw_test_sdk_{name}")
        self.made.append(url)
        return url

    def drop(self) -> None:
        for url in self.made:
            drop_postgres_database(url)


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, module_event_bootstrap: str
) -> Iterator[Platform]:
    """Catalog, recipes, training and scoring with their workers, sharing one data home."""
    home = tmp_path_factory.mktemp("home")
    settings = PlatformSettings(
        home=home,
        kafka_bootstrap=module_event_bootstrap,
        kafka_group_prefix=f"test-{uuid.uuid4().hex[:8]}.",
        log_json=False,
    )
    databases = _Databases(home)
    fast = {"run_poll_seconds": 0.2, "progress_write_seconds": 0.2, "cancel_poll_seconds": 0.2}
    try:
        with ExitStack() as stack:
            apps: dict[str, TestClient] = {}

            def start(name: str, app: Any) -> None:
                apps[name] = stack.enter_context(TestClient(app))

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
            start(
                "recipes",
                create_recipes(
                    RecipesSettings(
                        database_url=databases.new("recipes"),
                        platform=settings,
                        smoke_builtins=False,
                        embedded_workers=False,
                    )
                ),
            )
            upstream = {name: apps[name]._transport for name in ("catalog", "recipes")}
            training = TrainingSettings(
                database_url=databases.new("training"), platform=settings, **fast
            )
            start("training", create_training(training, transports=upstream))
            upstream["training"] = apps["training"]._transport
            scoring = ScoringSettings(
                database_url=databases.new("scoring"), platform=settings, **fast
            )
            start("scoring", create_scoring(scoring, transports=upstream))
            serving = ServingSettings(
                database_url=databases.new("serving"), platform=settings, state_poll_seconds=0.2
            )
            start("serving", create_serving(serving, transports=upstream))
            yield Platform(home, apps)
    finally:
        databases.drop()


@dataclass
class Trained:
    """A retail dataset and a model with one succeeded run."""

    dataset: dsw.models.Dataset
    model: dsw.models.Model
    run: dsw.models.Run


def ingest_retail(client: dsw.Client, name: str) -> dsw.models.Dataset:
    schema = client.schemas.create(RETAIL_SCHEMA)
    dataset = client.datasets.create(name, schema_id=schema.id)
    batch = client.datasets.ingest(dataset.id, RETAIL, formats=CSV_DATES)
    assert batch.status == "success", batch
    return dataset


@pytest.fixture(scope="module")
def trained(platform: Platform) -> Trained:
    with platform.client() as client:
        dataset = ingest_retail(client, "retail")
        model = client.models.create(
            "retail-forecast",
            recipe_id="retail-sales",
            version_id="1.0.0",
            dataset_id=dataset.id,
            hyperparameters=FAST,
        )
        run = client.runs.wait(client.runs.start(model.id).id, poll=0.2, timeout=180)
        assert run.state == "succeeded", run
        return Trained(dataset, model, run)


def test_ingest_read_statistics_and_preview(platform: Platform, trained: Trained) -> None:
    with platform.client() as client:
        sent: list[tuple[int, int]] = []
        again = client.datasets.create("retail-again", schema_id=trained.dataset.schema_id)
        batch = client.datasets.ingest(
            again.id, RETAIL, formats=CSV_DATES, upload_progress=lambda *p: sent.append(p)
        )
        assert batch.status == "success"
        assert batch.done
        assert sent[-1] == (RETAIL.stat().st_size, RETAIL.stat().st_size)
        table = client.datasets.read(again.id)
        assert table.num_rows == 5175
        assert client.datasets.read(again.id, columns=["_id"]).column_names == ["_id"]
        assert client.datasets.statistics(again.id)["rows"] == 5175
        rows = client.datasets.preview(again.id, limit=3)
        assert len(rows) == 3
        assert rows[0]["_retail"]["store"] >= 1
        found = client.datasets.find("retail-again")
        assert found is not None
        assert found.id == again.id
        retail = client.datasets.find("retail")  # exactly that name, not "retail-again"
        assert retail is not None
        assert retail.id == trained.dataset.id
        assert client.datasets.get(again.id)["row_count"] == 5175
        assert client.datasets.find("nothing-of-the-kind") is None


def test_rejected_rows_are_listed(platform: Platform, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    lines = RETAIL.read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1], lines[2].replace(",A,", ",Z,")]) + "\n")
    with platform.client() as client:
        schema = client.schemas.find("Retail sales")
        assert schema is not None
        dataset = client.datasets.create(
            "partly-bad", schema_id=schema.id, allow_partial=True, error_threshold_percent=60
        )
        batch = client.datasets.ingest(dataset.id, bad, formats=CSV_DATES)
        assert batch.status == "partial", batch
        errors = client.batches.errors(batch.id)
        assert len(errors) == 1
        assert "storeType" in str(errors[0])


def test_problems_become_typed_errors(platform: Platform) -> None:
    with platform.client() as client:
        with pytest.raises(dsw.NotFound) as missing:
            client.datasets.get(str(uuid.uuid4()))
        assert missing.value.status == 404
        assert missing.value.title
        with pytest.raises(dsw.ValidationError) as invalid:
            client.datasets.create("")
        assert invalid.value.status == 422
        assert [error.pointer for error in invalid.value.errors] == ["/body/name"]
        assert "/body/name" in str(invalid.value)
        client.datasets.create("taken")
        with pytest.raises(dsw.Conflict):
            client.datasets.create("taken")
    with platform.client(token="not-a-token") as anonymous, pytest.raises(dsw.Unauthorized):
        next(anonymous.datasets.list())
    reader = platform.client(token=platform.token(scopes=["catalog:read"]))
    with reader, pytest.raises(dsw.Forbidden):
        reader.datasets.create("refused")


def test_pagination_follows_the_cursor(platform: Platform) -> None:
    with platform.client(token=platform.token(org="org-pages")) as client:
        made = {client.datasets.create(f"page-{index}").id for index in range(5)}
        seen = [dataset.id for dataset in client.datasets.list(limit=2)]
        assert sorted(seen) == sorted(made)  # three pages of at most two
    with platform.client(token=platform.token(org="org-other")) as other:
        assert list(other.datasets.list()) == []  # another tenant sees none of them


class _Flaky(httpx.BaseTransport):
    """Loses the answers of the first ``failures`` requests after the service handled them."""

    def __init__(self, inner: httpx.BaseTransport, failures: int, status: int | None) -> None:
        self.inner, self.failures, self.status, self.calls = inner, failures, status, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        response = self.inner.handle_request(request)
        if self.calls > self.failures:
            return response
        response.read()
        if self.status is None:
            raise httpx.ReadError("connection lost", request=request)
        return httpx.Response(self.status, request=request)


def test_retries_keep_creates_single(platform: Platform) -> None:
    config = platform.config(token=platform.token(org="org-retry"))
    flaky = _Flaky(platform.apps["catalog"]._transport, failures=2, status=None)
    with dsw.Client(config, transports={**platform.transports(), "catalog": flaky}) as client:
        created = client.datasets.create("once")  # handled twice, answered the third time
        assert flaky.calls == 3
        assert [dataset.id for dataset in client.datasets.list()] == [created.id]
    busy = _Flaky(platform.apps["catalog"]._transport, failures=1, status=503)
    with dsw.Client(config, transports={**platform.transports(), "catalog": busy}) as client:
        assert client.datasets.get(created.id).name == "once"
        assert busy.calls == 2
    down = _Flaky(platform.apps["catalog"]._transport, failures=99, status=503)
    with dsw.Client(config, transports={**platform.transports(), "catalog": down}) as client:
        with pytest.raises(dsw.ServiceUnavailable):
            client.datasets.get(created.id)
        assert down.calls == config.retries + 1


def test_train_compare_sweep_and_score(platform: Platform, trained: Trained) -> None:
    with platform.client() as client:
        assert trained.run.metrics
        assert trained.run.percent == 100
        second = client.runs.start(trained.model.id, hyperparameters={**FAST, "learning_rate": 0.3})
        second = client.wait_for_run(second.id, poll=0.2, timeout=180)
        assert second.state == "succeeded", second
        assert {run.id for run in client.runs.list(trained.model.id)} >= {trained.run.id, second.id}
        metric = sorted(second.metrics)[0]
        comparison = client.models.compare(trained.model.id, metric=metric)
        assert comparison["best"]["run_id"] in {trained.run.id, second.id}
        assert "learning_rate" in comparison["differing_params"]
        assert client.runs.logs(second.id)  # the child process's log lines
        scored = client.scoring.start(
            training_run_id=second.id, input_dataset_id=trained.dataset.id, output_name="scored"
        )
        scored = client.scoring.wait(scored.id, poll=0.2, timeout=180)
        assert scored.state == "succeeded", scored
        output = client.datasets.read(scored["output_dataset_id"])
        assert output.num_rows == 5175
        sweep = client.sweeps.start(
            trained.model.id,
            space={"learning_rate": {"type": "float", "low": 0.05, "high": 0.3}},
            metric=metric,
            max_trials=2,
            hyperparameters=FAST,
        )
        sweep = client.wait_for_sweep(sweep.id, poll=0.2, timeout=300)
        assert sweep.state == "succeeded", sweep
        assert sweep["trials"]["succeeded"] == 2
        assert sweep.percent == 100


def test_async_client(platform: Platform, trained: Trained) -> None:
    async def scenario() -> None:
        transports = {
            name: httpx.ASGITransport(app=app.app)  # type: ignore[arg-type]
            for name, app in platform.apps.items()
        }
        async with dsw.AsyncClient(platform.config(), transports=transports) as client:
            names = [
                item["name"]
                async for item in client.paginate("catalog", "/catalog/v1/datasets", limit=1)
            ]
            assert "retail" in names
            run = await client.wait_for_run(trained.run.id)
            assert run.state == "succeeded"
            table = await client.read_dataset(trained.dataset.id)
            assert table.num_rows == 5175
            with pytest.raises(dsw.NotFound):
                await client.get("training", f"/training/v1/runs/{uuid.uuid4()}")

    asyncio.run(scenario())


def retail_records(count: int) -> list[dict[str, Any]]:
    """The first rows of the retail sample as predict records (the model's inputs)."""
    return [
        {key: value for key, value in record.items() if key != "weeklySales"}
        for record in demo_records(count)
    ]


def test_publish_predict_traffic_and_keys(platform: Platform, trained: Trained) -> None:
    with platform.client() as client:
        service = client.services.publish("sales", training_run_id=trained.run.id)
        assert service.name == "sales"
        assert service["traffic"]["revision"] == 1
        assert [item.name for item in client.services.list()] == ["sales"]
        with pytest.raises(dsw.Conflict):
            client.services.publish("sales", training_run_id=trained.run.id)
        records = retail_records(3)
        by_token = client.services.predict("sales", records)
        assert len(by_token["predictions"]) == 3
        key = client.services.create_key("sales", "demo")
        assert [item["id"] for item in client.services.keys("sales")] == [key["id"]]
        anonymous = platform.client(token="")
        by_key = anonymous.services.predict("sales", records, api_key=key["key"])
        assert by_key["predictions"] == by_token["predictions"]
        revision = client.services.add_revision("sales", training_run_id=trained.run.id)
        assert revision["number"] == 2
        canary = client.services.traffic(
            "sales", mode="canary", revision=1, secondary_revision=2, percent=10
        )
        assert canary["traffic"]["mode"] == "canary"
        promoted = client.services.promote("sales", 2)
        assert promoted["traffic"]["revision"] == 2
        assert client.services.health("sales")["revision"] == 2
        client.services.revoke_key("sales", key["id"])
        with pytest.raises(dsw.Unauthorized):
            anonymous.services.predict("sales", records, api_key=key["key"])


def test_a_model_keeps_working_after_a_compatible_schema_change(
    platform: Platform, tmp_path: Path
) -> None:
    """Train on version 1 of a dataset's schema; evolve the schema compatibly (a new optional
    field), move the dataset to version 2 and ingest rows that use it; the model trained before
    still scores the whole dataset, and a new run reads the old and new files through the new
    version (the added field present, null on the old rows)."""
    catalog = platform.apps["catalog"]
    headers = {"Authorization": f"Bearer {platform.token()}"}
    with platform.client() as client:
        schema = client.schemas.create(RETAIL_SCHEMA)
        dataset = client.datasets.create("evolving", schema_id=schema.id)
        assert client.datasets.ingest(dataset.id, RETAIL, formats=CSV_DATES).status == "success"
        model = client.models.create(
            "evolving-forecast",
            recipe_id="retail-sales",
            version_id="1.0.0",
            dataset_id=dataset.id,
            hyperparameters=FAST,
        )
        before = client.runs.wait(client.runs.start(model.id).id, poll=0.2, timeout=180)
        assert before.state == "succeeded", before

        evolved = {**RETAIL_SCHEMA, "tenantFields": dict(RETAIL_SCHEMA["tenantFields"])}
        evolved["tenantFields"]["properties"] = {
            **RETAIL_SCHEMA["tenantFields"]["properties"],
            "promo": {"type": "number", "minimum": 0},
        }
        response = catalog.put(f"/catalog/v1/schemas/{schema.id}", json=evolved, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["schema_version"] == 2
        moved = catalog.patch(
            f"/catalog/v1/datasets/{dataset.id}", json={"schema_version": 2}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        lines = RETAIL.read_text().splitlines()
        extra = tmp_path / "promo.csv"
        extra.write_text(
            "\n".join([lines[0] + ",promo", *(line + ",5.5" for line in lines[1:101])]) + "\n"
        )
        assert client.datasets.ingest(dataset.id, extra, formats=CSV_DATES).status == "success"

        scored = client.scoring.start(
            training_run_id=before.id, input_dataset_id=dataset.id, output_name="evolved-scored"
        )
        scored = client.scoring.wait(scored.id, poll=0.2, timeout=180)
        assert scored.state == "succeeded", scored
        assert client.datasets.read(scored["output_dataset_id"]).num_rows == 5175 + 100

        after = client.runs.wait(client.runs.start(model.id).id, poll=0.2, timeout=180)
        assert after.state == "succeeded", after
        read = [line for line in client.runs.logs(after.id) if "columns" in str(line)]
        assert any("_retail.promo" in str(line) for line in read), read
        promo = client.datasets.read(dataset.id).flatten()["_retail.promo"]
        assert (len(promo), promo.null_count) == (5175 + 100, 5175)
