"""Smoke runs in child processes, git import, and the 409 while models use a version."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsw_contracts import TrainingModelChanged
from dsw_kit.broker import TansuBroker
from dsw_kit.db import Database, Tenant
from dsw_kit.events import create_producer, ensure_topics, new_event
from dsw_recipes.models import OutboxEvent, RecipeUsage
from dsw_recipes.settings import RecipesSettings
from dsw_recipes.usage.events import apply_model_event

from .helpers import (
    package_files,
    register,
    upload,
    version_url,
    wait_validated,
    write_tree,
    zip_bytes,
)

Auth = Callable[..., dict[str, str]]
TENANT = Tenant("org-a", "prod")


def test_smoke_runs_valid_invalid_and_time_limited(worker_client: TestClient, auth: Auth) -> None:
    headers = auth()
    good = register(worker_client, headers)
    raises = register(
        worker_client,
        headers,
        name="raising-recipe",
        features_body='raise RuntimeError("broken features")',
    )
    slow = register(
        worker_client, headers, name="slow-recipe", features_body="import time; time.sleep(60)"
    )
    secrets = register(
        worker_client,
        headers,
        name="peeking-recipe",
        sample=False,
        features_body="pass",
        extra={
            "peeking_recipe/__init__.py": (
                "import os\n"
                "leaked = sorted(k for k in os.environ if k.startswith(('DSW_', 'AWS_')))\n"
                "assert not leaked, leaked\n"
            )
        },
    )

    valid = wait_validated(worker_client, headers, good)
    assert valid["validation"]["status"] == "valid", valid["validation"]
    assert valid["validation"]["mode"] == "sample"
    assert "mae" in valid["validation"]["metrics"]
    # The spec comes from the smoke run's import of the recipe: schema and validation work now.
    schema = worker_client.get(f"{version_url(good)}/params-schema", headers=headers).json()
    assert set(schema["properties"]) == {"shrink", "rounds"}
    checked = worker_client.post(
        f"{version_url(good)}/validate", json={"params": {"shrink": 2}}, headers=headers
    )
    assert checked.status_code == 422
    assert checked.json()["errors"][0]["pointer"] == "/params/shrink"

    invalid = wait_validated(worker_client, headers, raises)
    assert invalid["validation"]["status"] == "invalid"
    assert invalid["validation"]["error"] == "RuntimeError: broken features"
    assert "broken features" in invalid["validation"]["output"]

    contract = wait_validated(worker_client, headers, secrets)
    assert contract["validation"]["status"] == "valid", contract["validation"]
    assert contract["validation"]["mode"] == "contract"

    timed_out = wait_validated(worker_client, headers, slow, timeout=90)
    assert timed_out["validation"]["status"] == "invalid"
    assert "time limit" in timed_out["validation"]["error"]

    runtime = worker_client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.database.system_session() as session:
        types = [row.envelope["type"] for row in session.scalars(select(OutboxEvent))]
    assert types.count("dsw.recipes.version.registered") == 4
    assert types.count("dsw.recipes.version.requested") == 4
    assert types.count("dsw.recipes.version.validated") == 4


def _git_repository(root: Path, files: dict[str, str]) -> str:
    write_tree(root, files)
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for command in (
        ["git", "init", "--quiet", "--initial-branch=main"],
        ["git", "add", "."],
        ["git", "commit", "--quiet", "-m", "recipe"],
        ["git", "tag", "v1.0.0"],
    ):
        subprocess.run(command, cwd=root, env=env, check=True)
    return f"file://{root}"


def test_git_import_from_a_file_repository(client: TestClient, auth: Auth, tmp_path: Path) -> None:
    url = _git_repository(tmp_path / "repo", package_files())
    headers = auth()
    imported = client.post(
        "/recipes/v1/recipes/git", json={"url": url, "ref": "v1.0.0"}, headers=headers
    )
    assert imported.status_code == 201, imported.text
    version = imported.json()
    assert version["source"] == "git"
    assert version["git_ref"] == "v1.0.0"
    assert len(version["git_commit"]) == 40
    # The same tree uploaded as a zip is the same content, hence the same version.
    same = upload(client, headers, zip_bytes(package_files()))
    assert same.status_code == 200
    assert same.json()["id"] == version["id"]
    again = client.post(
        "/recipes/v1/recipes/git", json={"url": url, "ref": "main"}, headers=headers
    )
    assert again.status_code == 200

    missing = client.post(
        "/recipes/v1/recipes/git", json={"url": url, "ref": "no-such-branch"}, headers=headers
    )
    assert missing.status_code == 422
    assert missing.json()["code"] == "git_fetch_failed"


def test_git_import_refuses_schemes_hosts_and_refs(
    recipes_settings: RecipesSettings, auth: Auth, tmp_path: Path
) -> None:
    from dsw_recipes.app import create_app

    settings = recipes_settings.model_copy(
        update={"embedded_workers": False, "git_allowed_schemes": ["https"]}
    )
    url = _git_repository(tmp_path / "repo", package_files())
    cases = {
        url: "git_scheme_not_allowed",  # file:// is off unless a setting allows it
        "ssh://git@github.com/acme/recipe.git": "git_scheme_not_allowed",
        "https://evil.example.com/acme/recipe.git": "git_host_not_allowed",
        "https://user:token@github.com/acme/recipe.git": "git_url_invalid",
    }
    with TestClient(create_app(settings)) as client:
        for candidate, code in cases.items():
            response = client.post(
                "/recipes/v1/recipes/git", json={"url": candidate, "ref": "main"}, headers=auth()
            )
            assert response.status_code == 422, candidate
            assert response.json()["code"] == code, (candidate, response.json())
        bad_ref = client.post(
            "/recipes/v1/recipes/git",
            json={"url": "https://github.com/acme/recipe.git", "ref": "--upload-pack=touch"},
            headers=auth(),
        )
        assert bad_ref.json()["code"] == "git_ref_invalid"
    internal = settings.model_copy(update={"git_allowed_hosts": ["localhost", "127.0.0.1"]})
    with TestClient(create_app(internal)) as client:
        for host in ("localhost", "127.0.0.1"):
            response = client.post(
                "/recipes/v1/recipes/git",
                json={"url": f"https://{host}/acme/recipe.git", "ref": "main"},
                headers=auth(),
            )
            assert response.status_code == 422
            assert response.json()["code"] == "git_host_not_allowed"
            assert "internal address" in response.json()["detail"]


def test_git_import_refuses_symlinks(client: TestClient, auth: Auth, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "leak.py").symlink_to("/etc/passwd")
    url = _git_repository(root, package_files())
    response = client.post(
        "/recipes/v1/recipes/git", json={"url": url, "ref": "main"}, headers=auth()
    )
    assert response.status_code == 422
    assert response.json()["code"] == "link_in_archive"


def _model_event(change: str, version: dict[str, Any], model_id: str) -> Any:
    payload = TrainingModelChanged(
        model_id=model_id,
        name="churn model",
        recipe_id=version["recipe_id"],
        version_id=version["id"],
        change=change,  # type: ignore[arg-type]
    )
    return new_event(
        service="training",
        event_type=f"dsw.training.model.{change}",
        tenant=TENANT,
        subject=model_id,
        data=payload.model_dump(mode="json"),
    )


def test_usage_handler_blocks_deprecate_and_delete(client: TestClient, auth: Auth) -> None:
    headers = auth()
    version = register(client, headers)
    model_id = str(uuid.uuid4())
    database: Database = client.app.state.runtime.database  # type: ignore[attr-defined]
    with database.session(TENANT) as session:
        apply_model_event(session, _model_event("created", version, model_id))

    for attempt in (
        client.post(f"{version_url(version)}/deprecate", headers=headers),
        client.delete(version_url(version), headers=headers),
    ):
        assert attempt.status_code == 409
        assert attempt.json()["code"] == "version_in_use"
        assert model_id in attempt.json()["detail"]
    # Another tenant's models do not count, and the version is still there.
    assert client.get(version_url(version), headers=headers).json()["status"] == "active"

    with database.session(TENANT) as session:
        apply_model_event(session, _model_event("deleted", version, model_id))
    stale = client.post(
        f"{version_url(version)}/deprecate", headers={**headers, "If-Match": '"999"'}
    )
    assert stale.status_code == 412
    current = client.get(version_url(version), headers=headers)
    deprecated = client.post(
        f"{version_url(version)}/deprecate",
        headers={**headers, "If-Match": current.headers["ETag"]},
    )
    assert deprecated.status_code == 200, deprecated.text
    assert deprecated.json()["status"] == "deprecated"
    assert client.delete(version_url(version), headers=headers).status_code == 204
    assert client.get(version_url(version), headers=headers).status_code == 404
    # Re-registering the same content after deletion makes a fresh version.
    assert upload(client, headers, zip_bytes(package_files())).status_code == 201


@pytest.mark.broker
def test_model_events_through_the_broker_block_deletion(
    worker_client: TestClient, auth: Auth, tansu: TansuBroker
) -> None:
    headers = auth()
    version = register(worker_client, headers, sample=False)
    model_id = str(uuid.uuid4())
    ensure_topics(tansu.bootstrap, {"dsw.training.events": 4})
    producer = create_producer(tansu.bootstrap, "test-training")
    try:
        event = _model_event("created", version, model_id)
        producer.send(
            "dsw.training.events",
            key=model_id.encode(),
            value=json.dumps(event.model_dump(mode="json")).encode(),
        ).get(timeout=10)
    finally:
        producer.close()

    database: Database = worker_client.app.state.runtime.database  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with database.session(TENANT) as session:
            if session.scalar(select(RecipeUsage).where(RecipeUsage.model_id == model_id)):
                break
        time.sleep(0.2)
    else:
        raise AssertionError("the model event was not consumed")
    refused = worker_client.delete(version_url(version), headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "version_in_use"
