"""From an archive or a git checkout to a checked, normalised, hashed package ready to store."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dsw_recipe import Manifest, check_package

from dsw_recipes.packages import git
from dsw_recipes.packages.archive import ArchiveError, Limits, safe_relative_path, unpack
from dsw_recipes.packages.tree import Tree, normalise, pack

SAMPLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")


class PackageRejected(ValueError):
    """The package fails its static checks; ``problems`` lists each."""

    def __init__(self, problems: list[str], code: str = "package_invalid") -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.code = code


@dataclass
class PreparedPackage:
    """A package that passed the static checks."""

    tree: Tree
    manifest: Manifest
    packed: bytes
    smoke: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    git_commit: str | None = None


def from_archive(content: bytes, workdir: Path, limits: Limits) -> PreparedPackage:
    """Unpack an uploaded archive safely, then :func:`prepare` it."""
    root = workdir / "package"
    root.mkdir()
    try:
        unpack(content, root, limits)
    except ArchiveError as error:
        raise PackageRejected([str(error)], code=error.code) from error
    return prepare(root, limits)


def from_git(
    url: str, ref: str, workdir: Path, policy: git.GitPolicy, limits: Limits
) -> PreparedPackage:
    """Fetch ``ref`` of ``url``, then :func:`prepare` the checkout."""
    root = workdir / "package"
    root.mkdir()
    commit = git.fetch(url, ref, root, policy)
    prepared = prepare(root, limits)
    prepared.git_commit = commit
    return prepared


def prepare(root: Path, limits: Limits) -> PreparedPackage:
    """Normalise and hash the tree, check manifest and contract statically, read ``[smoke]``."""
    try:
        tree = normalise(root, limits)
    except ArchiveError as error:
        raise PackageRejected([str(error)], code=error.code) from error
    check = check_package(tree.root)
    if not check.ok or check.manifest is None:
        raise PackageRejected(check.problems)
    manifest = check.manifest
    smoke = read_smoke(manifest, tree.root)
    return PreparedPackage(tree, manifest, pack(tree), smoke, list(check.warnings))


def read_smoke(manifest: Manifest, root: Path) -> dict[str, Any]:
    """The manifest's optional ``[smoke]`` table: ``sample`` (a data file in the package, path
    relative to the manifest) and ``params`` (hyperparameters for the smoke run)."""
    assert manifest.path is not None
    text = manifest.path.read_text(encoding="utf-8")
    document: Any = tomllib.loads(text) if manifest.path.suffix == ".toml" else json.loads(text)
    table = document.get("smoke") if isinstance(document, dict) else None
    if table is None:
        return {}
    problems: list[str] = []
    if not isinstance(table, dict):
        raise PackageRejected(["smoke: expected a table with 'sample' and/or 'params'"])
    unknown = sorted(set(table) - {"sample", "params"})
    if unknown:
        problems.append(f"smoke: unknown key(s): {', '.join(unknown)}")
    result: dict[str, Any] = {}
    sample = table.get("sample")
    if sample is not None:
        try:
            relative = safe_relative_path(sample) if isinstance(sample, str) else None
        except ArchiveError:
            relative = None
        manifest_dir = manifest.path.parent.relative_to(root)
        target = root / manifest_dir / str(relative) if relative is not None else None
        if relative is None or target is None:
            problems.append("smoke.sample: a relative path inside the package")
        elif not target.is_file():
            problems.append(f"smoke.sample: {sample!r} is not a file of the package")
        elif not target.name.lower().endswith(SAMPLE_SUFFIXES):
            problems.append("smoke.sample: a .csv, .csv.gz, .tsv or .parquet file")
        else:
            result["sample"] = PurePosixPath(manifest_dir.as_posix(), relative).as_posix()
    params = table.get("params")
    if params is not None:
        if not isinstance(params, dict):
            problems.append("smoke.params: a table of hyperparameter values")
        else:
            result["params"] = params
    if problems:
        raise PackageRejected(problems)
    return result
