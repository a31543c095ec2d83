"""Every background role the code declares has a process in compose and in every rendered chart.

The roles come from the services' own specs (``ServiceSpec.background``: what ``dsw-<service>
worker NAME`` accepts); building each role (no thread started, nothing connected) shows what it
consumes: a work table it claims jobs from (``LeasedWorker``), the Kafka groups it joins
(``EventConsumer``).
A role the deployment does not run would leave its work waiting forever, which no syntax check sees.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dsw_kit.app import ServiceSpec, build_runtime
from dsw_kit.events import EventConsumer
from dsw_kit.work import LeasedWorker
from tests.deploy.conftest import SERVICES, VALUES_SETS, Rendered

SETS = sorted(VALUES_SETS)


@dataclass
class Role:
    """What one background role consumes."""

    service: str
    name: str
    tables: set[str] = field(default_factory=set)
    groups: dict[str, list[str]] = field(default_factory=dict)  # consumer group -> topics
    # A schedule ticker: it fires due schedules (optimistically, so several may run) and has no
    # backlog to scale on; it runs a fixed number of replicas.
    ticker: bool = False


def _walk(component: object, role: Role, seen: set[int]) -> None:
    if id(component) in seen:
        return
    seen.add(id(component))
    if isinstance(component, EventConsumer):
        role.groups[component.group_id] = list(component.topics)
        return
    if type(component).__name__.endswith("Ticker"):
        role.ticker = True
    if isinstance(component, LeasedWorker):
        role.tables.add(component.queue.model.__tablename__)
        return
    for value in vars(component).values() if hasattr(component, "__dict__") else ():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if type(item).__module__.startswith("dsw_"):
                _walk(item, role, seen)


def declared_roles(home: Path) -> dict[tuple[str, str], Role]:
    """(service, role) -> what it consumes, for every role every service's spec declares."""
    roles = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DSW_HOME", str(home))
        patch.setenv("DSW_KAFKA_GROUP_PREFIX", "")
        for service in SERVICES:
            spec: ServiceSpec = importlib.import_module(f"dsw_{service}.app").spec()
            runtime = build_runtime(spec)
            for name, factory in spec.background.items():
                role = Role(service, name)
                _walk(factory(runtime), role, set())
                roles[service, name] = role
            runtime.database.dispose()
    return roles


@pytest.fixture(scope="module")
def roles(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Role]:
    found = declared_roles(tmp_path_factory.mktemp("roles"))
    assert found, "the services declare background roles"
    return found


def chart_processes(rendered: Rendered) -> dict[tuple[str, str], dict[str, Any]]:
    """(service, worker) -> its Deployment, from the pods' labels and command lines."""
    processes = {}
    for deployment in rendered.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        if labels.get("app.kubernetes.io/component") != "worker":
            continue
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"][0] == "worker", deployment["metadata"]["name"]
        assert container["args"][1] == labels["dsw.io/worker"]
        processes[labels["dsw.io/service"], container["args"][1]] = deployment
    return processes


def compose_processes(compose: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(service, worker) -> the compose container running ``worker NAME`` of the service's image."""
    processes = {}
    for name, spec in compose["services"].items():
        command = spec.get("command") or []
        image = spec.get("image", "")
        if command[:1] == ["worker"] and image.startswith("dsw-"):
            service = image.removeprefix("dsw-").split(":")[0]
            processes[service, command[1]] = name
    return processes


@pytest.mark.parametrize("values_set", [s for s in SETS if s != "overrides"])
def test_every_declared_role_runs_in_the_chart(
    roles: dict[tuple[str, str], Role], renders: dict[str, Rendered], values_set: str
) -> None:
    deployed = chart_processes(renders[values_set])
    missing = sorted(f"{service} {name}" for service, name in set(roles) - set(deployed))
    assert not missing, f"{values_set}: roles without a Deployment: {missing}"
    unknown = sorted(f"{s} {n}" for s, n in deployed if (s, n) not in roles)
    assert not unknown, f"{values_set}: Deployments of roles the code does not declare: {unknown}"


def test_every_declared_role_runs_in_compose(
    roles: dict[tuple[str, str], Role], compose: dict[str, Any]
) -> None:
    deployed = compose_processes(compose)
    missing = sorted(f"{service} {name}" for service, name in set(roles) - set(deployed))
    assert not missing, f"roles without a container: {missing}"
    assert set(deployed) <= set(roles)


@pytest.mark.parametrize("values_set", SETS)
def test_keda_scales_each_role_on_what_it_consumes(
    roles: dict[tuple[str, str], Role], renders: dict[str, Rendered], values_set: str
) -> None:
    """A work-table role scales on its open jobs (PostgreSQL trigger on its own database), an event
    consumer on its group's lag; a role that consumes neither (a schedule ticker) is not scaled."""
    rendered = renders[values_set]
    prefix = VALUES_SETS[values_set].get("config", {}).get("kafka", {}).get("groupPrefix", "")
    deployed = chart_processes(rendered)
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d for d in rendered.of_kind("ScaledObject")}
    for key, deployment in deployed.items():
        role = roles[key]
        scaled_object = scaled.get(deployment["metadata"]["name"])
        if scaled_object is None:
            continue
        assert not role.ticker, f"{key} is a schedule ticker: it has no backlog to scale on"
        (trigger,) = scaled_object["spec"]["triggers"]
        metadata = trigger["metadata"]
        if role.tables:
            assert trigger["type"] == "postgresql", key
            (table,) = role.tables
            assert f" FROM {table} " in metadata["query"], (key, metadata["query"])
            assert metadata["connectionFromEnv"] == f"DSW_{role.service.upper()}_DATABASE_URL"
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert metadata["connectionFromEnv"] in {env["name"] for env in container["env"]}
        else:
            assert role.groups, f"{key} consumes nothing and cannot be scaled on load"
            assert trigger["type"] == "kafka", key
            group = metadata["consumerGroup"].removeprefix(prefix)
            assert group in role.groups, (key, group, role.groups)
            assert metadata["topic"] in role.groups[group]


def test_production_scales_every_role_that_consumes_something(
    roles: dict[tuple[str, str], Role], renders: dict[str, Rendered]
) -> None:
    rendered = renders["production"]
    scaled = {doc["spec"]["scaleTargetRef"]["name"] for doc in rendered.of_kind("ScaledObject")}
    for key, deployment in chart_processes(rendered).items():
        role = roles[key]
        assert (deployment["metadata"]["name"] in scaled) == (not role.ticker), key
