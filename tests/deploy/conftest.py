"""Fixtures of the deployment checks: the chart rendered once per values set, compose parsed once.

Nothing here needs a Docker engine or a cluster: the chart is rendered by Helm's own engine
(``helm-python-sdk``) and every manifest is validated against the Kubernetes schemas
(``kubernetes-validate``).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "dsw"
EXAMPLES = ROOT / "deploy" / "helm" / "values-examples"
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"catalog": 8101, "recipes": 8102, "training": 8103, "scoring": 8104, "serving": 8105}
RELEASE, NAMESPACE = "dsw", "dsw"

# Values beyond the examples: features the examples leave off (digest pins, a disabled service and
# worker, per-service overrides, existing secret with HS256, KEDA, no ingress / network policies).
OVERRIDES: dict[str, Any] = {
    "fullnameOverride": "ws",
    "config": {"kafka": {"groupPrefix": "team-a."}, "extraEnv": {"DSW_LOG_JSON": "false"}},
    "secrets": {"existingSecret": "ws-secrets"},
    "ingress": {"enabled": False},
    "networkPolicy": {"enabled": False},
    "workerDefaults": {"keda": {"enabled": True, "maxReplicas": 4}},
    "services": {
        "recipes": {"enabled": False},
        "training": {
            "image": {"repository": "registry.local/training", "digest": "sha256:" + "ab" * 32},
            "relay": {"enabled": True, "replicas": 2},
            "workers": {"runs": {"replicas": 3, "keda": {"enabled": False}}},
        },
        "serving": {"api": {"autoscaling": {"enabled": False}, "replicas": 3}},
    },
}


def _strict_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(key) for key, _ in node.value]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate keys {sorted(duplicates)}", node.start_mark
        )
    return loader.construct_mapping(node)


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (the API server rejects them too)."""


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


@dataclass(frozen=True)
class Rendered:
    """One rendering of the chart: the raw templates and the parsed manifests."""

    name: str
    templates: dict[str, str]
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [doc for doc in self.docs if doc["kind"] == kind]

    def named(self, kind: str, name: str) -> dict[str, Any]:
        matches = [doc for doc in self.of_kind(kind) if doc["metadata"]["name"] == name]
        assert len(matches) == 1, f"{self.name}: {len(matches)} {kind} named {name}"
        return matches[0]


def load_manifests(templates: dict[str, str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in sorted(templates.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.load_all(text, Loader=StrictLoader):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                docs.append(doc)
    return docs


def values_sets() -> dict[str, dict[str, Any]]:
    sets: dict[str, dict[str, Any]] = {"default": {}}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        sets[path.stem] = yaml.safe_load(path.read_text())
    sets["overrides"] = OVERRIDES
    return sets


VALUES_SETS = values_sets()


@pytest.fixture(scope="session")
def helm() -> Any:
    return pytest.importorskip("helm_python.chart", reason="helm-python-sdk (dev group) missing")


@pytest.fixture(scope="session")
def renders(helm: Any) -> dict[str, Rendered]:
    """Every values set rendered once for the session (install-time rendering)."""
    chart = helm.Chart.load(CHART)
    out = {}
    for name, values in VALUES_SETS.items():
        templates = chart.render(values=values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        out[name] = Rendered(name, templates, load_manifests(templates))
    return out


@pytest.fixture(scope="session")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def documented_settings() -> set[str]:
    """Every variable the settings reference in docs/configuration.md names."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    return set(re.findall(r"^\| `(DSW_[A-Z0-9_]+)` \|", text, flags=re.MULTILINE))


def service_calls() -> dict[str, list[str]]:
    """Caller -> the services it calls: the ``<callee>_url`` fields of its settings class."""
    calls = {}
    for caller in SERVICES:
        module = importlib.import_module(f"dsw_{caller}.settings")
        fields = getattr(module, f"{caller.capitalize()}Settings").model_fields
        calls[caller] = [callee for callee in SERVICES if f"{callee}_url" in fields]
    return calls
