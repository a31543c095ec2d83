"""docker-compose.yml: every container's image or build, health checks, start order and settings,
checked on the parsed file (no Docker engine here)."""

from __future__ import annotations

import os
import re
from graphlib import CycleError, TopologicalSorter
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import (
    CHART,
    COMPOSE,
    ROOT,
    SERVICES,
    documented_settings,
    service_calls,
)

INFRASTRUCTURE = {"postgres", "kafka", "minio", "mlflow"}
ONE_SHOTS = {"minio-init"} | {f"{name}-migrate" for name in SERVICES}
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?:[:?-][^}]*)?\}")


def chart_workers() -> dict[str, set[str]]:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    return {name: set(svc.get("workers") or {}) for name, svc in values["services"].items()}


def platform_containers(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every container that runs a service image, by compose service name."""
    return {
        name: spec
        for name, spec in compose["services"].items()
        if spec.get("image", "").startswith("dsw-")
        and not name.startswith("mlflow")
        and name != "console"
    }


def service_of(container: str) -> str:
    return next(name for name in SERVICES if container == name or container.startswith(name + "-"))


def test_the_stack_has_the_production_components(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")
    assert "minio/minio:" in services["minio"]["image"]
    assert "server" in services["mlflow"]["command"]
    expected = set(ONE_SHOTS) | INFRASTRUCTURE | set(SERVICES) | {"console"}
    for name, workers in chart_workers().items():
        expected |= {f"{name}-{worker}" for worker in workers}
    assert set(services) == expected


def test_every_container_has_a_pinned_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        assert "image" in spec or "build" in spec, name
        image = spec.get("image", "")
        if "build" not in spec:
            repository, _, tag = image.rpartition(":")
            assert repository, f"{name}: {image} has no tag"
            assert tag not in {"", "latest"}, f"{name}: {image} is not pinned"
            assert re.search(r"\d", tag), f"{name}: {image} is not pinned to a version"


def test_service_images_build_from_the_service_dockerfile(compose: dict[str, Any]) -> None:
    for name, spec in platform_containers(compose).items():
        service = service_of(name)
        build = spec["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == "deploy/docker/Dockerfile"
        assert build["args"] == {"SERVICE": service}
        assert spec["image"] == f"dsw-{service}:${{DSW_IMAGE_TAG:-dev}}"
        assert (ROOT / build["dockerfile"]).is_file()
    mlflow = compose["services"]["mlflow"]["build"]
    assert (ROOT / mlflow["context"] / "Dockerfile").is_file()


def test_long_running_containers_have_health_checks(compose: dict[str, Any]) -> None:
    for name, spec in compose["services"].items():
        if name in ONE_SHOTS:
            assert spec["restart"] == "no", name
            continue
        check = spec["healthcheck"]
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert not check.get("disable"), name
        assert spec["restart"] == "unless-stopped", name


def test_dependencies_start_in_order_without_cycles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    graph = {name: set(spec.get("depends_on", {})) for name, spec in services.items()}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the assertion explains
        pytest.fail(f"dependency cycle: {error.args[1]}")
    for name, spec in services.items():
        depends_on = spec.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOTS else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {dependency}"
            assert order.index(dependency) < order.index(name)

    def ancestors(name: str) -> set[str]:
        found: set[str] = set()
        for dependency in graph[name]:
            found |= {dependency} | ancestors(dependency)
        return found

    for name in platform_containers(compose):
        service = service_of(name)
        if name == f"{service}-migrate":
            assert graph[name] == {"postgres"}
            continue
        # APIs and workers: after their migration and every piece of infrastructure.
        assert f"{service}-migrate" in graph[name], name
        assert {"kafka", "mlflow", "minio-init"} <= graph[name], name
        assert ancestors(name) >= INFRASTRUCTURE, name
    assert {"postgres", "minio-init"} <= graph["mlflow"]


def test_service_containers_are_locked_down(compose: dict[str, Any]) -> None:
    for name, spec in platform_containers(compose).items():
        assert spec["read_only"] is True, name
        assert {"/tmp", "/var/lib/dsw"} <= set(spec["tmpfs"]), name
        assert spec["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in spec["security_opt"], name
        assert "user" not in spec or spec["user"] not in {"root", "0"}, name


def test_service_containers_get_production_settings(compose: dict[str, Any]) -> None:
    documented = documented_settings()
    for name, spec in platform_containers(compose).items():
        service = service_of(name)
        prefix = f"DSW_{service.upper()}_"
        env = spec["environment"]
        assert env["DSW_ENVIRONMENT"] == "production"
        assert env["DSW_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["DSW_LAKE_URI"].startswith("s3://")
        assert env["DSW_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
        assert env[prefix + "HOST"] == "0.0.0.0"
        assert env[prefix + "MIGRATE_ON_START"] == "false"
        assert env[prefix + "EMBEDDED_WORKERS"] == "false"
        assert env[prefix + "DATABASE_URL"].endswith(f"@postgres:5432/{service}")
        assert env[prefix + "DATABASE_URL"].startswith(f"postgresql://{service}:")
        assert [key for key in env if key.endswith("_DATABASE_URL")] == [prefix + "DATABASE_URL"]
        assert {key for key in env if key.startswith("DSW_")} <= documented


def test_roles_match_the_service_command_line(compose: dict[str, Any]) -> None:
    workers = chart_workers()
    for name, spec in platform_containers(compose).items():
        service = service_of(name)
        command = spec["command"]
        if name == service:
            assert command == ["api", "--host", "0.0.0.0", "--port", str(SERVICES[service])]
            assert f"127.0.0.1:{SERVICES[service]}:{SERVICES[service]}" in spec["ports"]
        elif name == f"{service}-migrate":
            assert command == ["migrate"]
        else:
            role, worker = command
            assert role == "worker"
            assert name == f"{service}-{worker}"
            assert worker in workers[service], "compose and the chart run the same workers"


def test_every_variable_is_in_env_example(compose: dict[str, Any]) -> None:
    used = set(VARIABLE.findall(COMPOSE.read_text()))
    example = (ROOT / ".env.example").read_text()
    defined = set(re.findall(r"^([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert used == defined, (used - defined, defined - used)
    # Secrets have no default in compose: it refuses to start until .env sets them.
    for secret in (
        "DSW_AUTH_SECRET",
        "POSTGRES_PASSWORD",
        "DSW_DB_PASSWORD",
        "MINIO_ROOT_PASSWORD",
    ):
        assert re.search(rf"\${{{secret}:\?", COMPOSE.read_text()), secret
        assert re.search(rf"^{secret}=$", example, flags=re.MULTILINE), secret


def test_postgres_creates_one_database_per_service(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["environment"]["DSW_DATABASES"].split() == list(SERVICES)
    mounts = [volume.split(":") for volume in postgres["volumes"]]
    scripts = [source for source, target, *_ in mounts if "docker-entrypoint-initdb.d" in target]
    assert scripts == ["./deploy/compose/postgres/init-databases.sh"]
    script = ROOT / scripts[0]
    assert os.access(script, os.X_OK)
    mlflow_url = next(a for a in compose["services"]["mlflow"]["command"] if "backend-store" in a)
    assert mlflow_url.endswith("@postgres:5432/mlflow")
    assert postgres["environment"]["MLFLOW_DATABASE"] == "mlflow"


def test_minio_bucket_is_created_before_mlflow_and_the_services(compose: dict[str, Any]) -> None:
    init = compose["services"]["minio-init"]
    assert "mc mb --ignore-existing" in init["command"][0]
    assert init["depends_on"] == {"minio": {"condition": "service_healthy"}}
    mlflow = compose["services"]["mlflow"]
    assert "--serve-artifacts" in mlflow["command"]
    assert any(arg.startswith("--artifacts-destination=s3://") for arg in mlflow["command"])
    assert mlflow["environment"]["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_mlflow_server_matches_the_locked_client() -> None:
    lock = (ROOT / "uv.lock").read_text()
    client = re.search(r'name = "mlflow-skinny"\nversion = "([^"]+)"', lock)
    requirements = (ROOT / "deploy" / "compose" / "mlflow" / "requirements.txt").read_text()
    pins = dict(re.findall(r"^([a-z0-9_.-]+)==(\S+)", requirements, flags=re.MULTILINE))
    assert client is not None
    assert pins["mlflow"] == client.group(1)
    # SQLAlchemy 2.1 opens postgresql:// with psycopg 3: without it the server cannot start.
    assert {"psycopg", "psycopg-binary", "boto3"} <= set(pins)
    # Every requirement is pinned and hashed (pip --require-hashes).
    requirement_lines = [
        line for line in requirements.splitlines() if line and not line.startswith((" ", "#"))
    ]
    assert all("==" in line for line in requirement_lines)
    assert requirements.count("--hash=sha256:") >= len(requirement_lines)


def test_services_call_each_other_by_container_name(compose: dict[str, Any]) -> None:
    calls = service_calls()
    assert calls["training"] == ["catalog", "recipes"]  # the settings name their callees
    for name, spec in platform_containers(compose).items():
        caller = service_of(name)
        for callee in calls[caller]:
            url = spec["environment"][f"DSW_{caller.upper()}_{callee.upper()}_URL"]
            assert url == f"http://{callee}:{SERVICES[callee]}", (name, callee)
            assert callee in compose["services"]


def test_the_console_runs_after_the_apis_and_calls_them_by_container_name(
    compose: dict[str, Any],
) -> None:
    console = compose["services"]["console"]
    assert console["build"]["args"] == {"SERVICE": "console"}
    assert console["command"] == ["api", "--host", "0.0.0.0", "--port", "8106"]
    assert "127.0.0.1:8106:8106" in console["ports"]
    assert console["depends_on"] == {name: {"condition": "service_healthy"} for name in SERVICES}
    env = console["environment"]
    for name, port in SERVICES.items():
        assert env[f"DSW_CONSOLE_{name.upper()}_URL"] == f"http://{name}:{port}"
    assert env["DSW_ENVIRONMENT"] == "production"
    # Links to the MLflow UI go to the port compose publishes it on.
    assert env["DSW_CONSOLE_MLFLOW_URL"] == "http://127.0.0.1:${MLFLOW_PORT:-5000}"
    assert "127.0.0.1:${MLFLOW_PORT:-5000}:5000" in compose["services"]["mlflow"]["ports"]
    assert console["read_only"] is True
    assert console["cap_drop"] == ["ALL"]
