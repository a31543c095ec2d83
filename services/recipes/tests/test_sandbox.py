"""The smoke run's child process: limits, and the bwrap sandbox that recipe code cannot leave.

The escape tests run a package whose recipe tries something it must not do, inside the sandbox
(it must fail, or see the denial) and without it (it must succeed there: the probe really does
what the sandbox stops). The kit's test_sandbox.py tries every other way out, faster.
"""

from __future__ import annotations

import io
import socket
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsw_kit.sandbox import Sandbox, resolve_sandbox
from dsw_kit.testing.host import host_lacks
from dsw_recipes.settings import RecipesSettings
from dsw_recipes.smoke.sandbox import SmokeLimits, SmokeOutcome, run_child

from .helpers import package_files, tar_gz_bytes, upload, write_tree

Auth = Callable[..., dict[str, str]]

LIMITS = SmokeLimits(timeout_seconds=60, memory_bytes=3 * 1024**3, output_lines=20)
UNSANDBOXED = Sandbox(None, "the test's control run")


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    found = resolve_sandbox("auto", component="recipes.smoke.test", max_processes=64)
    if not found.enabled:
        host_lacks(f"bwrap does not work on this host: {found.reason}")
    return found


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on the host's loopback that answers (stands for a platform service)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def _probe_run(workdir: Path, probe: str, sandbox: Sandbox) -> SmokeOutcome:
    """Smoke-run a package whose features() first runs ``probe`` (module-level code)."""
    package = workdir / "package"
    files = package_files(
        features_body="from mean_recipe.probe import attempt; attempt()",
        extra={"mean_recipe/probe.py": "def attempt():\n" + _indent(probe)},
    )
    write_tree(package, files)
    request = {"kind": "package", "package_dir": str(package), "sample": "data/sample.csv"}
    return run_child(request, workdir, LIMITS, sandbox=sandbox)


def _indent(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.strip().splitlines())


def _workdir(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_builtin_smoke_run_on_its_packaged_sample(tmp_path: Path, sandbox: Sandbox) -> None:
    outcome = run_child(
        {"kind": "builtin", "name": "retail-sales", "params": {}}, tmp_path, LIMITS, sandbox=sandbox
    )
    assert outcome.ok, (outcome.error, outcome.output)
    assert outcome.mode == "sample"
    assert outcome.metrics["mape"] > 0
    assert outcome.describe["params"]["properties"]["n_estimators"]["type"] == "integer"


def test_memory_limit_turns_into_an_invalid_verdict(tmp_path: Path, sandbox: Sandbox) -> None:
    outcome = _probe_run(tmp_path, "blob = bytearray(6 * 1024**3)", sandbox)
    assert not outcome.ok
    assert outcome.error is not None
    assert "memory limit" in outcome.error


def test_another_tenants_lake_file_is_invisible(tmp_path: Path, sandbox: Sandbox) -> None:
    theirs = tmp_path / "home" / "lake" / "org-b" / "prod" / "batch" / "part-0.csv"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("secret,rows\n1,2\n")
    probe = f"print(open({str(theirs)!r}).read())"

    control = _probe_run(_workdir(tmp_path, "control"), probe, UNSANDBOXED)
    assert control.ok, control.error
    assert "secret,rows" in control.output
    outcome = _probe_run(_workdir(tmp_path, "sandboxed"), probe, sandbox)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.startswith("FileNotFoundError")
    assert "secret,rows" not in outcome.output


def test_no_network_to_the_database_or_the_services(
    tmp_path: Path, sandbox: Sandbox, listener: int
) -> None:
    probe = f"""
import socket
for port in ({listener}, 5432):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        print("reached", port)
    except OSError as error:
        print("refused", port, type(error).__name__)
"""
    outcome = _probe_run(tmp_path, probe, sandbox)
    assert outcome.ok, outcome.error  # the recipe sees the denial and carries on
    assert f"refused {listener} ConnectionRefusedError" in outcome.output
    assert "refused 5432 ConnectionRefusedError" in outcome.output
    assert "reached" not in outcome.output


# -- uploads: what reaches the sandbox at all (the gaps test_recipes.py leaves) ---------------


def _tar_with_special(kind: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in package_files().items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        special = tarfile.TarInfo("mean_recipe/device")
        special.type = kind
        archive.addfile(special)
    return buffer.getvalue()


def test_uploads_refuse_devices_fifos_and_tar_bombs(client: TestClient, auth: Auth) -> None:
    headers = auth()
    for kind in (tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE):
        refused = upload(client, headers, _tar_with_special(kind))
        assert refused.status_code == 422, kind
        assert refused.json()["code"] == "special_file"
    # A tar.gz bomb: a few KiB compressed, over the 1 MiB unpacked limit.
    bomb = tar_gz_bytes({**package_files(), "data/zeros.csv": "0" * (4 * 1024 * 1024)})
    assert len(bomb) < 64 * 1024
    refused_bomb = upload(client, headers, bomb)
    assert refused_bomb.status_code == 422
    assert refused_bomb.json()["code"] == "package_too_large"
    listed = client.get("/recipes/v1/recipes?builtin=false", headers=headers).json()
    assert listed["items"] == []


def test_git_import_refuses_private_and_metadata_addresses_even_for_any_host(
    recipes_settings: RecipesSettings, auth: Auth
) -> None:
    from dsw_recipes.app import create_app

    settings = recipes_settings.model_copy(
        update={"embedded_workers": False, "git_allowed_hosts": ["*"]}
    )
    with TestClient(create_app(settings)) as client:
        for host in ("169.254.169.254", "10.0.0.1", "192.168.1.1", "[::1]", "0.0.0.0"):
            response = client.post(
                "/recipes/v1/recipes/git",
                json={"url": f"https://{host}/acme/recipe.git", "ref": "main"},
                headers=auth(),
            )
            assert response.status_code == 422, host
            assert response.json()["code"] == "git_host_not_allowed", (host, response.json())
            assert "internal address" in response.json()["detail"]
