"""Both deployment topologies run: docker-compose.yml and the chart rendered with the minimal
values, each turned into local processes (tests/support/topology.py) against real PostgreSQL, the
broker, an S3-compatible server (moto) holding the lake and MLflow's artifacts, and an MLflow
tracking server on PostgreSQL.

Through each: the migration jobs (twice: the second run is a no-op, as on an upgrade), every API,
background role and the console, then the demo's path end to end: ingest, train, compare, publish,
predict, batch-score; then a service published with automatic promotion, retraining and scoring
on new data, and a new batch: the schedule retrains, serving judges the new run, scoring scores
the batch. Only what the deployment's own processes do makes this pass.
"""

from __future__ import annotations

import io
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rich.console import Console
from sqlalchemy import create_engine, inspect, text

from dsw import Client
from dsw.config import Config
from dsw.demo import retail_csv, run_demo
from dsw_kit.auth import Authenticator, all_scopes
from dsw_kit.settings import PlatformSettings
from dsw_kit.testing.plugin import postgres_admin_url
from tests.deploy.conftest import CHART, COMPOSE, EXAMPLES, load_manifests
from tests.support.topology import (
    BUCKET,
    S3_KEY,
    S3_SECRET,
    SERVICES,
    Infrastructure,
    LocalDeployment,
    Process,
    chart_processes,
    compose_addresses,
    compose_processes,
    ensure_tools,
)

pytestmark = pytest.mark.integration

SECRET = "topology-test-secret-" + "x" * 32
# Small runs: what is tested is the wiring, not the model.
CONFIGURATIONS = [{"n_estimators": 15, "num_leaves": 8}, {"n_estimators": 30, "num_leaves": 15}]
FIXED = {"num_threads": 1}
# Shorter idle polls than production's (what an operator's override could set too).
POLLS = {
    "DSW_TRAINING_SCHEDULE_POLL_SECONDS": "1",
    "DSW_SCORING_SCHEDULE_POLL_SECONDS": "1",
    "DSW_SERVING_STATE_POLL_SECONDS": "1",
}


@pytest.fixture
def work() -> Iterator[Path]:
    """A folder of the test's own for logs and data homes. Not pytest's tmp_path: on a machine
    where several pytest sessions run, a later one prunes older numbered folders while this long
    test still writes to its own."""
    folder = Path(tempfile.mkdtemp(prefix="dsw-topology-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def infrastructure(work: Path) -> Iterator[Infrastructure]:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip("the topologies need PostgreSQL (DSW_TEST_POSTGRES_URL)")
    ensure_tools()
    infra = Infrastructure(admin, work / "infrastructure")
    try:
        yield infra.start()
    except BaseException:
        for name in ("mlflow", "s3"):
            log = infra.work / f"{name}.log"
            if log.exists():
                print(f"---- {name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        infra.stop()


def compose_topology() -> tuple[list[Process], dict[str, str]]:
    variables = {
        "DSW_AUTH_SECRET": SECRET,
        "POSTGRES_PASSWORD": "unused-here",
        "DSW_DB_PASSWORD": "unused-here",
        "MLFLOW_DB_PASSWORD": "unused-here",
        "MINIO_ROOT_USER": S3_KEY,
        "MINIO_ROOT_PASSWORD": S3_SECRET,
        "DSW_S3_BUCKET": BUCKET,
    }
    processes = compose_processes(COMPOSE, variables)
    for process in processes:
        process.env |= POLLS  # as a docker-compose.override.yml would
    return processes, compose_addresses()


def chart_topology() -> tuple[list[Process], dict[str, str]]:
    helm = pytest.importorskip("helm_python.chart", reason="helm-python-sdk (dev group) missing")
    values: dict[str, Any] = yaml.safe_load((EXAMPLES / "minimal.yaml").read_text())
    # What the example's install command sets, and the shorter polls.
    values["database"]["password"] = "unused-here"
    values["secrets"] = {
        "authSecret": SECRET,
        "s3AccessKeyId": S3_KEY,
        "s3SecretAccessKey": S3_SECRET,
    }
    values["config"]["extraEnv"] = POLLS
    templates = helm.Chart.load(CHART).render(values=values, name="dsw", namespace="dsw")
    docs = load_manifests(templates)
    processes = chart_processes(docs)
    config = values["config"]
    addresses = {
        config["kafka"]["bootstrap"]: "broker",
        config["s3"]["endpointUrl"].removeprefix("http://"): "s3",
        config["mlflowTrackingUri"].removeprefix("http://"): "mlflow",
    }
    for doc in docs:
        if doc["kind"] == "Service":
            name = doc["metadata"]["name"]
            port = doc["spec"]["ports"][0]["port"]
            addresses[f"{name}:{port}"] = name.removeprefix("dsw-")
    return processes, addresses


TOPOLOGIES = {"compose": compose_topology, "chart-minimal": chart_topology}


def token() -> str:
    settings = PlatformSettings.model_validate({"auth": {"secret": SECRET}})
    issuer = Authenticator(settings.auth, settings.resolved_home).issuer()
    return issuer.issue("topology", all_scopes(), org_id="default", sandboxes=("*",))


def schema_state(url: str) -> tuple[str, list[str]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            tables = sorted(inspect(connection).get_table_names())
        return str(revision), tables
    finally:
        engine.dispose()


def poll(check: Any, what: str, deployment: LocalDeployment, timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        deployment.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.3)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_topology_runs_the_demo_path(
    topology: str, infrastructure: Infrastructure, work: Path
) -> None:
    started = time.monotonic()
    processes, addresses = TOPOLOGIES[topology]()
    roles = {(p.service, p.role) for p in processes}
    for service in SERVICES:
        assert (service, "migrate") in roles
        assert (service, "api") in roles
    assert ("console", "api") in roles
    deployment = LocalDeployment(processes, addresses, infrastructure, work / topology)
    deployment.work.mkdir(parents=True)
    try:
        _exercise(deployment, infrastructure)
    except BaseException:
        for name in sorted(deployment.running):
            print(f"---- {name}\n{deployment.log(name, 2500)}")
        raise
    finally:
        codes = deployment.stop()
    # Workers exit 0 on SIGTERM; uvicorn shuts an API down gracefully, then re-raises the signal.
    roles = {p.name: p.role for p in processes}
    failed = {
        name: code
        for name, code in codes.items()
        if code != 0 and not (roles[name] == "api" and code == -signal.SIGTERM)
    }
    assert not failed, failed
    for name, role in roles.items():
        if role == "api":
            assert "Application shutdown complete" in deployment.log(name, 2000), name
    print(f"{topology}: {len(processes)} processes, {time.monotonic() - started:.0f}s")


def _exercise(deployment: LocalDeployment, infra: Infrastructure) -> None:
    # Migrations as jobs, once per service, before the APIs; a second run changes nothing.
    first = deployment.run_jobs()
    assert len(first) == len(SERVICES), first
    assert all(code == 0 for code in first.values()), first
    migrated = {s: schema_state(url) for s, url in deployment.database_urls.items()}
    assert set(migrated) == set(SERVICES)
    again = deployment.run_jobs()
    assert all(code == 0 for code in again.values()), again
    assert {s: schema_state(url) for s, url in deployment.database_urls.items()} == migrated

    deployment.start_long_running()

    client = Client(
        Config(
            urls={s: deployment.url(s) for s in SERVICES},
            token=token(),
            embedded=False,
            timeout=120,
        )
    )
    output = io.StringIO()
    result = run_demo(
        client, Console(file=output, width=200), configurations=CONFIGURATIONS, fixed=FIXED
    )
    assert len(result.predictions) == 3
    assert result.scoring is not None
    assert result.scoring["state"] == "succeeded"

    # The separate MLflow server holds the runs, and its artifacts and the lake are on S3.
    mlflow_url = f"http://127.0.0.1:{infra.mlflow_port}"
    mlflow_run = result.best["mlflow"]["run_id"]
    answer = httpx.get(f"{mlflow_url}/api/2.0/mlflow/runs/get", params={"run_id": mlflow_run})
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["info"]["artifact_uri"].startswith("mlflow-artifacts:")
    s3 = f"http://127.0.0.1:{infra.s3_port}/{BUCKET}"
    for prefix in ("lake/", "mlflow/"):
        listing = httpx.get(s3, params={"list-type": "2", "prefix": prefix}).text
        assert "<Key>" in listing, (prefix, listing[:500])

    # Retraining on new data with automatic promotion, and scoring on new data.
    api = httpx.Client(headers={"Authorization": f"Bearer {token()}"}, timeout=120)
    dataset_id = result.dataset.id
    published = api.post(
        f"{deployment.url('serving')}/serving/v1/services",
        json={
            "name": "retail-auto",
            "source": {"model_id": result.model.id, "policy": "latest"},
            "promotion": {"metric": "mape", "direction": "min"},
            "retraining_schedule": {"on_new_data": True, "hyperparameters": FIXED},
            "scoring_schedule": {
                "on_new_data": True,
                "input_dataset_id": dataset_id,
                "output": {"name": "retail-auto-scores"},
            },
        },
    )
    assert published.status_code == 201, published.text
    activity = f"{deployment.url('training')}/training/v1/datasets/{dataset_id}/activity"
    poll(
        lambda: api.get(activity).json().get("batches_succeeded") == 1,
        "training to hear of the first batch",
        deployment,
    )
    batch = client.datasets.ingest(
        dataset_id, retail_csv(), formats={"_retail.date": "%m/%d/%y"}, progress=False
    )
    assert batch.status == "success"

    def scheduled_run() -> dict[str, Any] | None:
        runs = api.get(
            f"{deployment.url('training')}/training/v1/models/{result.model.id}/runs"
        ).json()
        items = runs["items"] if isinstance(runs, dict) else runs
        return next((r for r in items if r.get("schedule_id") and r["state"] == "succeeded"), None)

    run = poll(scheduled_run, "the scheduled retraining to succeed", deployment)
    decisions_url = f"{deployment.url('serving')}/serving/v1/services/retail-auto/decisions"
    decision = poll(
        lambda: next(
            (d for d in api.get(decisions_url).json() if d["training_run_id"] == run["id"]), None
        ),
        "automatic promotion to judge the retrained run",
        deployment,
    )
    assert decision["action"], decision

    def scheduled_scoring() -> dict[str, Any] | None:
        runs = api.get(
            f"{deployment.url('scoring')}/scoring/v1/runs", params={"state": "succeeded"}
        ).json()
        items = runs["items"] if isinstance(runs, dict) else runs
        return next((r for r in items if r.get("schedule_id")), None)

    poll(scheduled_scoring, "the scoring schedule to score the new batch", deployment)
    # The console renders pages from every API it was told about.
    assert httpx.get(f"{deployment.url('console')}/readyz", timeout=10).status_code == 200
