"""The Helm chart: lint, render with Helm's engine, validate against Kubernetes 1.30 and check
the invariants an operator relies on, for the default values and every example values set."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.deploy.conftest import (
    CHART,
    EXAMPLES,
    NAMESPACE,
    RELEASE,
    SERVICES,
    VALUES_SETS,
    Rendered,
    documented_settings,
    service_calls,
)

KUBERNETES_VERSION = "1.30"
# Custom resources kubernetes-validate has no schema for; checked structurally below.
CUSTOM_API_GROUPS = ("keda.sh/",)
WORKLOADS = ("Deployment", "Job")
SETS = sorted(VALUES_SETS)


def pod_specs(rendered: Rendered) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload, pod spec) of every Deployment and Job."""
    for doc in rendered.docs:
        if doc["kind"] in WORKLOADS:
            yield doc, doc["spec"]["template"]["spec"]


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a label selector (matchLabels / matchExpressions, or a plain map) selects labels."""
    match_labels = (
        selector.get("matchLabels", {})
        if "matchLabels" in selector or ("matchExpressions" in selector)
        else selector
    )
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    for expression in selector.get("matchExpressions", []):
        value = labels.get(expression["key"])
        if expression["operator"] == "In" and value not in expression["values"]:
            return False
        if expression["operator"] == "NotIn" and value in expression["values"]:
            return False
        if expression["operator"] == "Exists" and value is None:
            return False
    return True


def container_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def is_hook(doc: dict[str, Any]) -> bool:
    return "helm.sh/hook" in doc["metadata"]["annotations"]


def hook_weight(doc: dict[str, Any]) -> int:
    return int(doc["metadata"]["annotations"].get("helm.sh/hook-weight", "0"))


# ---- Helm's own checks ----


@pytest.mark.parametrize("values_set", SETS)
def test_chart_lints_clean(helm: Any, values_set: str) -> None:
    report = helm.lint(
        CHART, VALUES_SETS[values_set], strict=True, kube_version=f"v{KUBERNETES_VERSION}.0"
    )
    assert report["errors"] == []
    problems = [message for message in report["messages"] if message["severity"] >= 2]
    assert problems == []


def test_every_example_values_file_is_rendered() -> None:
    assert {path.stem for path in EXAMPLES.glob("*.yaml")} >= {"minimal", "production"}
    assert {path.stem for path in EXAMPLES.glob("*.yaml")} <= set(VALUES_SETS)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"auth": {"algorithm": "ES256"}}}, "algorithm"),
        ({"securityContext": {"readOnlyRootFilesystem": False}}, "readOnlyRootFilesystem"),
        ({"podSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"services": {"catalog": {"api": {"replicas": 0}}}}, "replicas"),
        ({"services": {"search": {"enabled": True}}}, "search"),
        ({"apiDefaults": {"resources": {"requests": {"memory": None}}}}, "memory"),
        ({"secrets": {"databaseUrls": {"catalog": "mysql://x"}}}, "catalog"),
        ({"config": {"kafka": {"bootstrap": ""}}}, "bootstrap"),
    ],
)
def test_schema_rejects_unsafe_or_wrong_values(
    helm: Any, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        helm.Chart.load(CHART).render(values=values, name=RELEASE)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"secrets": {"authSecret": "too-short"}}, "at least 32 characters"),
        ({"config": {"auth": {"algorithm": "RS256"}}}, "jwksUrl or config.auth.publicKey"),
    ],
)
def test_templates_refuse_insecure_auth(helm: Any, values: dict[str, Any], message: str) -> None:
    with pytest.raises(Exception, match=message):
        helm.Chart.load(CHART).render(values=values, name=RELEASE)


# ---- every manifest is valid Kubernetes ----


@pytest.mark.parametrize("values_set", SETS)
def test_manifests_validate_against_kubernetes_schemas(
    renders: dict[str, Rendered], values_set: str
) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    rendered = renders[values_set]
    assert rendered.docs
    for doc in rendered.docs:
        if doc["apiVersion"].startswith(CUSTOM_API_GROUPS):
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("values_set", SETS)
def test_names_are_unique_per_kind(renders: dict[str, Rendered], values_set: str) -> None:
    seen = [(doc["kind"], doc["metadata"]["name"]) for doc in renders[values_set].docs]
    assert len(seen) == len(set(seen))
    for _, name in seen:
        assert len(name) <= 63


# ---- pods: resources, probes, security ----


@pytest.mark.parametrize("values_set", SETS)
def test_every_container_has_resources_and_a_locked_down_security_context(
    renders: dict[str, Rendered], values_set: str
) -> None:
    checked = 0
    for workload, pod in pod_specs(renders[values_set]):
        where = f"{values_set}: {workload['kind']} {workload['metadata']['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert pod["securityContext"]["runAsUser"] != 0, where
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "add" not in security["capabilities"], where
            mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
            # The only writable places: /tmp and the data home, both emptyDir.
            assert "emptyDir" in volumes[mounts["/tmp"]], where
            assert "emptyDir" in volumes[mounts["/var/lib/dsw"]], where
            assert container["image"].split("/")[-1].startswith(("dsw-", "training@")), where
            checked += 1
    assert checked


@pytest.mark.parametrize("values_set", SETS)
def test_apis_have_liveness_readiness_and_startup_probes(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    apis = [
        doc
        for doc in rendered.of_kind("Deployment")
        if pod_labels(doc)["app.kubernetes.io/component"] == "api"
    ]
    assert apis
    for api in apis:
        (container,) = api["spec"]["template"]["spec"]["containers"]
        ports = {port["name"]: port["containerPort"] for port in container["ports"]}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        service = pod_labels(api)["dsw.io/service"]
        assert ports["http"] == SERVICES[service]
        assert container["args"][:1] == ["api"]
        assert container["args"][-1] == str(SERVICES[service])


@pytest.mark.parametrize("values_set", SETS)
def test_processes_are_configured_for_production(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    config = rendered.named("ConfigMap", rendered.of_kind("ConfigMap")[0]["metadata"]["name"])
    assert config["data"]["DSW_ENVIRONMENT"] == "production"
    assert config["data"]["DSW_HOME"] == "/var/lib/dsw"
    documented = documented_settings()
    for workload, pod in pod_specs(rendered):
        (container,) = pod["containers"]
        env = container_env(container)
        if pod_labels(workload)["app.kubernetes.io/component"] == "console":
            # No database: the console reads nothing but the APIs (test_the_console_...).
            assert not [name for name in env if name.endswith("_DATABASE_URL")]
            assert {name for name in env if name.startswith("DSW_")} <= documented
            continue
        service = next(name for name in SERVICES if f"DSW_{name.upper()}_DATABASE_URL" in env)
        prefix = f"DSW_{service.upper()}_"
        assert env[prefix + "HOST"]["value"] == "0.0.0.0"
        assert env[prefix + "MIGRATE_ON_START"]["value"] == "false"
        assert env[prefix + "EMBEDDED_WORKERS"]["value"] == "false"
        assert "secretKeyRef" in env[prefix + "DATABASE_URL"]["valueFrom"]
        # Each process sees its own database only.
        assert [name for name in env if name.endswith("_DATABASE_URL")] == [prefix + "DATABASE_URL"]
        settings = {name for name in env if name.startswith("DSW_")} | {
            name for name in config["data"] if name.startswith("DSW_")
        }
        assert settings <= documented, settings - documented


# ---- workloads and what points at them ----


@pytest.mark.parametrize("values_set", SETS)
def test_every_deployment_has_exactly_one_pod_disruption_budget(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    budgets = rendered.of_kind("PodDisruptionBudget")
    for deployment in rendered.of_kind("Deployment"):
        assert (
            deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels(deployment).items()
        )
        covering = [
            pdb for pdb in budgets if selects(pdb["spec"]["selector"], pod_labels(deployment))
        ]
        assert len(covering) == 1, deployment["metadata"]["name"]
    assert len(budgets) == len(rendered.of_kind("Deployment"))


@pytest.mark.parametrize("values_set", SETS)
def test_every_service_selects_pods_that_exist(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    deployments = rendered.of_kind("Deployment")
    assert rendered.of_kind("Service")
    for service in rendered.of_kind("Service"):
        targets = [d for d in deployments if selects(service["spec"]["selector"], pod_labels(d))]
        assert len(targets) == 1, service["metadata"]["name"]
        (container,) = targets[0]["spec"]["template"]["spec"]["containers"]
        named_ports = {port["name"] for port in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in named_ports


@pytest.mark.parametrize("values_set", SETS)
def test_autoscalers_target_deployments_that_leave_replicas_to_them(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    scaled = []
    for hpa in rendered.of_kind("HorizontalPodAutoscaler"):
        target = rendered.named("Deployment", hpa["spec"]["scaleTargetRef"]["name"])
        assert pod_labels(target)["app.kubernetes.io/component"] in {"api", "console"}
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        scaled.append(target["metadata"]["name"])
    for scaled_object in rendered.of_kind("ScaledObject"):
        target = rendered.named("Deployment", scaled_object["spec"]["scaleTargetRef"]["name"])
        assert pod_labels(target)["app.kubernetes.io/component"] == "worker"
        (trigger,) = scaled_object["spec"]["triggers"]
        # Which trigger fits which worker: tests/deploy/test_roles.py, from the code's roles.
        assert trigger["type"] in {"kafka", "postgresql"}
        scaled.append(target["metadata"]["name"])
    assert len(scaled) == len(set(scaled))
    for deployment in rendered.of_kind("Deployment"):
        assert ("replicas" in deployment["spec"]) != (deployment["metadata"]["name"] in scaled)


def test_default_values_scale_apis_on_cpu_and_keep_keda_off(renders: dict[str, Rendered]) -> None:
    rendered = renders["default"]
    assert len(rendered.of_kind("HorizontalPodAutoscaler")) == len(SERVICES) + 1  # + the console
    assert rendered.of_kind("ScaledObject") == []
    worker = rendered.named("Deployment", "dsw-training-worker-catalog-events")
    assert worker["spec"]["replicas"] == 1
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "worker",
        "catalog-events",
    ]


def test_production_scales_workers_on_kafka_lag(renders: dict[str, Rendered]) -> None:
    rendered = renders["production"]
    scaled = rendered.named("ScaledObject", "dsw-training-worker-catalog-events")
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    assert metadata["consumerGroup"] == "prod.training.catalog-events"
    assert metadata["topic"] == "dsw.catalog.events"
    assert metadata["bootstrapServers"].startswith("b-1.kafka.internal:9092")
    assert scaled["spec"]["maxReplicaCount"] <= 12  # the topic's partitions
    runs = rendered.named("ScaledObject", "dsw-training-worker-runs")
    (trigger,) = runs["spec"]["triggers"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["connectionFromEnv"] == "DSW_TRAINING_DATABASE_URL"
    assert trigger["metadata"]["targetQueryValue"] == "1"
    # Schedule tickers have no backlog: a fixed replica count even with KEDA on.
    ticker = rendered.named("Deployment", "dsw-training-worker-schedules")
    assert ticker["spec"]["replicas"] == 2
    assert "dsw-training-worker-schedules" not in {
        doc["metadata"]["name"] for doc in rendered.of_kind("ScaledObject")
    }


@pytest.mark.parametrize(
    ("keda", "message"),
    [
        ({"trigger": "kafka", "topic": "dsw.training.events"}, "keda.consumerGroup is required"),
        ({"trigger": "postgresql"}, "keda.query is required"),
    ],
)
def test_a_scaled_worker_needs_what_its_trigger_reads(
    helm: Any, keda: dict[str, Any], message: str
) -> None:
    values = {
        "workerDefaults": {"keda": {"enabled": True}},
        "services": {"recipes": {"workers": {"usage": {"keda": keda | {"consumerGroup": None}}}}},
    }
    with pytest.raises(Exception, match=message):
        helm.Chart.load(CHART).render(values=values, name=RELEASE)


def test_overrides_pin_digests_run_relays_and_drop_disabled_parts(
    renders: dict[str, Rendered],
) -> None:
    rendered = renders["overrides"]
    names = {doc["metadata"]["name"] for doc in rendered.docs}
    assert not any("recipes" in name for name in names)
    training = rendered.named("Deployment", "ws-training")
    image = training["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.local/training@sha256:" + "ab" * 32
    relay = rendered.named("Deployment", "ws-training-relay")
    assert relay["spec"]["replicas"] == 2
    assert relay["spec"]["template"]["spec"]["containers"][0]["args"] == ["relay"]
    env = container_env(training["spec"]["template"]["spec"]["containers"][0])
    assert env["DSW_TRAINING_EMBEDDED_RELAY"]["value"] == "false"
    runs = rendered.named("Deployment", "ws-training-worker-runs")
    assert runs["spec"]["replicas"] == 3
    serving = rendered.named("Deployment", "ws-serving")
    assert serving["spec"]["replicas"] == 3
    assert rendered.of_kind("Ingress") == []
    assert rendered.of_kind("NetworkPolicy") == []
    assert rendered.named("ConfigMap", "ws")["data"]["DSW_LOG_JSON"] == "false"


def test_a_worker_set_to_null_is_not_deployed(helm: Any) -> None:
    values = {"services": {"training": {"workers": {"catalog-events": None}}}}
    templates = helm.Chart.load(CHART).render(values=values, name=RELEASE)
    assert "worker-catalog-events" not in templates["dsw/templates/services/training.yaml"]


def test_the_console_is_deployed_and_calls_every_enabled_api(renders: dict[str, Rendered]) -> None:
    for name, rendered in renders.items():
        prefix = "ws" if name == "overrides" else RELEASE
        console = rendered.named("Deployment", f"{prefix}-console")
        (container,) = console["spec"]["template"]["spec"]["containers"]
        assert container["image"].split("/")[-1].startswith("dsw-console")
        assert container["args"] == ["api", "--host", "0.0.0.0", "--port", "8106"]
        env = container_env(container)
        enabled = [s for s in SERVICES if not (name == "overrides" and s == "recipes")]
        for service in enabled:
            url = env[f"DSW_CONSOLE_{service.upper()}_URL"]["value"]
            assert url == f"http://{prefix}-{service}:{SERVICES[service]}"
            assert rendered.named("Service", f"{prefix}-{service}")
        assert json.loads(env["DSW_CONSOLE_READY_REQUIRES"]["value"]) == sorted(enabled)
        assert env["DSW_CONSOLE_COOKIE_SECURE"]["value"] == str(name == "production").lower()
        if name == "production":
            mlflow_ui = env["DSW_CONSOLE_MLFLOW_URL"]["value"]
            assert mlflow_ui == "https://mlflow.internal.example.com"
        else:
            assert "DSW_CONSOLE_MLFLOW_URL" not in env
        assert rendered.named("Service", f"{prefix}-console")["spec"]["ports"][0]["port"] == 8106


# ---- traffic ----


@pytest.mark.parametrize("values_set", ["default", "minimal", "production"])
def test_ingress_routes_each_api_prefix_and_v2_to_its_service(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    (ingress,) = rendered.of_kind("Ingress")
    routes = {
        path["path"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    expected = {f"/{name}": f"{RELEASE}-{name}" for name in SERVICES} | {
        "/v2": "dsw-serving",
        "/": "dsw-console",
    }
    assert routes == expected
    for service_name in routes.values():
        service = rendered.named("Service", service_name)
        assert service["spec"]["ports"][0]["name"] == "http"
    if values_set == "production":
        assert ingress["spec"]["tls"][0]["hosts"] == ["dsw.example.com"]
        assert ingress["spec"]["rules"][0]["host"] == "dsw.example.com"


@pytest.mark.parametrize("values_set", ["default", "production"])
def test_network_policies_cover_every_pod(renders: dict[str, Rendered], values_set: str) -> None:
    rendered = renders[values_set]
    policies = rendered.of_kind("NetworkPolicy")
    for workload, _ in pod_specs(rendered):
        labels = pod_labels(workload)
        covering = [p for p in policies if selects(p["spec"]["podSelector"], labels)]
        assert len(covering) == 1, workload["metadata"]["name"]
        (policy,) = covering
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        egress_ports = {
            port["port"] for rule in policy["spec"]["egress"] for port in rule.get("ports", [])
        }
        assert 53 in egress_ports
        if labels["app.kubernetes.io/component"] == "console":
            (rule,) = policy["spec"]["ingress"]
            assert {port["port"] for port in rule["ports"]} == {8106}
            assert {"podSelector"} not in [set(peer) for peer in rule["from"]], "ingress only"
        elif labels["app.kubernetes.io/component"] != "api":
            assert not policy["spec"].get("ingress"), "only APIs accept connections"
        else:
            (rule,) = policy["spec"]["ingress"]
            assert {port["port"] for port in rule["ports"]} == set(SERVICES.values())


# ---- secrets and hooks ----


def test_default_secret_holds_a_generated_auth_secret_and_each_database_url(
    renders: dict[str, Rendered],
) -> None:
    rendered = renders["default"]
    secret = rendered.named("Secret", "dsw")
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert len(data["DSW_AUTH_SECRET"]) >= 32
    for name in SERVICES:
        url = data[f"DSW_{name.upper()}_DATABASE_URL"]
        assert url == f"postgresql://{name}@postgresql:5432/{name}?sslmode=prefer"
    assert not any(key.startswith("AWS_") for key in data)


def test_production_uses_the_existing_secret_and_rs256(renders: dict[str, Rendered]) -> None:
    rendered = renders["production"]
    assert [s["metadata"]["name"] for s in rendered.of_kind("Secret")] == []
    for workload, pod in pod_specs(rendered):
        env = container_env(pod["containers"][0])
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env.values() if "valueFrom" in e}
        # The console reads no secret with RS256 (it has no database).
        console = pod_labels(workload)["app.kubernetes.io/component"] == "console"
        assert refs == (set() if console else {"dsw-secrets"})
        assert "DSW_AUTH_SECRET" not in env
    config = rendered.named("ConfigMap", "dsw")["data"]
    assert config["DSW_AUTH_ALGORITHM"] == "RS256"
    assert config["DSW_AUTH_JWKS_URL"].startswith("https://")


@pytest.mark.parametrize("values_set", SETS)
def test_migrations_run_as_hooks_before_install_and_upgrade(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    jobs = rendered.of_kind("Job")
    enabled = {
        name
        for name in SERVICES
        if VALUES_SETS[values_set].get("services", {}).get(name, {}).get("enabled", True)
    }
    assert {pod_labels(job)["dsw.io/service"] for job in jobs} == enabled
    hooks = {(doc["kind"], doc["metadata"]["name"]): doc for doc in rendered.docs if is_hook(doc)}
    for job in jobs:
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["args"] == ["migrate"]
        # Pre-install hooks run before the release's own resources exist: whatever the job uses
        # must be a hook of a lower weight, or the operator's existing Secret.
        assert "envFrom" not in container
        account = hooks[("ServiceAccount", pod["serviceAccountName"])]
        assert hook_weight(account) < hook_weight(job)
        env = container_env(container)
        assert env["DSW_ENVIRONMENT"]["value"] == "production"
        for entry in env.values():
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref is None:
                continue
            existing = VALUES_SETS[values_set].get("secrets", {}).get("existingSecret")
            if existing:
                assert ref["name"] == existing
            else:
                assert hook_weight(hooks[("Secret", ref["name"])]) < hook_weight(job)
    for kind, _ in hooks:
        assert kind in {"Job", "ServiceAccount", "Secret", "NetworkPolicy"}


def test_notes_render_the_service_urls(renders: dict[str, Rendered]) -> None:
    notes = renders["default"].templates["dsw/templates/NOTES.txt"]
    for name, port in SERVICES.items():
        assert f"http://dsw-{name}.{NAMESPACE}.svc:{port}/{name}/v1" in notes
    assert "docs/operations.md" in notes


@pytest.mark.parametrize("values_set", SETS)
def test_services_call_each_other_through_their_api_services(
    renders: dict[str, Rendered], values_set: str
) -> None:
    rendered = renders[values_set]
    config = rendered.of_kind("ConfigMap")[0]["data"]
    services = {doc["metadata"]["name"]: doc for doc in rendered.of_kind("Service")}
    enabled = {name for name in SERVICES if any(svc.endswith(f"-{name}") for svc in services)}
    for caller, callees in service_calls().items():
        for callee in callees:
            key = f"DSW_{caller.upper()}_{callee.upper()}_URL"
            if callee not in enabled:
                assert key not in config
                continue
            host, port = config[key].removeprefix("http://").split(":")
            assert host in services, key
            assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}, key
