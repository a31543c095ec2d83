"""Custom recipe packages: the manifest format, a static checker and a loader.

A package is a directory tree (an unpacked zip, tar.gz or wheel) holding a manifest and Python
source. The manifest is `recipe.toml` (or `recipe.json` with the same keys), at the package root
or in one top-level directory (a wheel's package folder, or the folder a git archive wraps
everything in):

    [recipe]
    name = "churn"                          # lower-case words joined by - or _
    version = "1.0.0"                       # MAJOR.MINOR.PATCH[-suffix]
    entry_point = "churn.recipe:ChurnRecipe"
    description = "Churn propensity"        # optional
    task_type = "classification"            # optional; must match the class when loaded
    python_path = "src"                     # optional; relative to the manifest, default "."
    requires = ["scikit-learn>=1.5"]        # optional; what the worker's environment must have

`check_package` reads the manifest and the entry module's syntax tree without running any code
(what a registry does at upload time); `load_package_recipe` imports the class (what a sandboxed
worker does) and checks the contract on the live class.
"""

from __future__ import annotations

import ast
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._contract import _NAME, _VERSION, REQUIRED_METHODS, Recipe, TaskType, check_recipe_class
from ._models import resolve_entry_point

__all__ = [
    "MANIFEST_NAMES",
    "Manifest",
    "ManifestError",
    "PackageCheck",
    "PackageError",
    "check_package",
    "find_manifest",
    "load_package_recipe",
    "read_manifest",
]

MANIFEST_NAMES = ("recipe.toml", "recipe.json")
_ENTRY = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
_KEYS = {"name", "version", "entry_point", "description", "task_type", "python_path", "requires"}


class ManifestError(ValueError):
    """The manifest is missing or invalid; `problems` lists each issue."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class PackageError(ValueError):
    """The package fails its checks; `problems` lists each issue."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Manifest:
    """A recipe package's manifest."""

    name: str
    version: str
    entry_point: str
    description: str = ""
    task_type: TaskType | None = None
    python_path: str = "."
    requires: tuple[str, ...] = ()
    path: Path | None = None  # the manifest file read

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the local path)."""
        return {
            "name": self.name,
            "version": self.version,
            "entry_point": self.entry_point,
            "description": self.description,
            "task_type": None if self.task_type is None else str(self.task_type),
            "python_path": self.python_path,
            "requires": list(self.requires),
        }


@dataclass
class PackageCheck:
    """Result of `check_package`: the manifest, problems (fatal) and warnings."""

    manifest: Manifest | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    source_root: Path | None = None
    module_file: Path | None = None

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.problems


def find_manifest(root: str | Path) -> Path:
    """The manifest file of a package directory (root, or exactly one top-level directory)."""
    root = Path(root)
    for name in MANIFEST_NAMES:
        if (root / name).is_file():
            return root / name
    nested = [
        child / name
        for child in sorted(root.iterdir())
        if child.is_dir() and not child.name.endswith((".dist-info", ".data"))
        for name in MANIFEST_NAMES
        if (child / name).is_file()
    ]
    if len(nested) == 1:
        return nested[0]
    if len(nested) > 1:
        found = ", ".join(str(path.relative_to(root)) for path in nested)
        raise ManifestError([f"more than one manifest: {found}"])
    raise ManifestError([f"no {' or '.join(MANIFEST_NAMES)} at the package root or one level down"])


def read_manifest(path: str | Path) -> Manifest:
    """Read and validate a manifest (a file, or a package directory to search)."""
    path = Path(path)
    if path.is_dir():
        path = find_manifest(path)
    try:
        if path.suffix == ".toml":
            document: Any = tomllib.loads(path.read_text(encoding="utf-8"))
        else:
            document = json.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ManifestError([f"{path.name}: cannot parse: {error}"]) from error
    if isinstance(document, dict) and isinstance(document.get("recipe"), dict):
        document = document["recipe"]
    if not isinstance(document, dict):
        raise ManifestError([f"{path.name}: expected a table of keys"])
    return _manifest_from(document, path)


def _manifest_from(document: dict[str, Any], path: Path) -> Manifest:
    import re

    problems: list[str] = []
    unknown = sorted(set(document) - _KEYS)
    if unknown:
        problems.append(f"unknown key(s): {', '.join(unknown)}")
    for key in ("name", "version", "entry_point"):
        if not isinstance(document.get(key), str) or not document[key]:
            problems.append(f"{key}: required, a non-empty string")
    name, version = document.get("name"), document.get("version")
    entry = document.get("entry_point")
    if isinstance(name, str) and name and not _NAME.match(name):
        problems.append(f"name: {name!r} must be lower-case words joined by '-' or '_'")
    if isinstance(version, str) and version and not _VERSION.match(version):
        problems.append(f"version: {version!r} must look like MAJOR.MINOR.PATCH")
    if isinstance(entry, str) and entry and not re.match(_ENTRY, entry):
        problems.append(f"entry_point: {entry!r} must look like 'package.module:ClassName'")
    task_type: TaskType | None = None
    if "task_type" in document:
        try:
            task_type = TaskType(document["task_type"])
        except ValueError:
            allowed = ", ".join(str(item) for item in TaskType)
            problems.append(f"task_type: must be one of {allowed}")
    python_path = document.get("python_path", ".")
    if (
        not isinstance(python_path, str)
        or Path(python_path).is_absolute()
        or ".." in Path(python_path).parts
    ):
        problems.append("python_path: a relative path inside the package")
        python_path = "."
    requires = document.get("requires", [])
    if not isinstance(requires, list) or not all(isinstance(item, str) for item in requires):
        problems.append("requires: a list of requirement strings")
        requires = []
    description = document.get("description", "")
    if not isinstance(description, str):
        problems.append("description: a string")
        description = ""
    if problems:
        raise ManifestError([f"{path.name}: {problem}" for problem in problems])
    return Manifest(
        name=str(name),
        version=str(version),
        entry_point=str(entry),
        description=description,
        task_type=task_type,
        python_path=python_path,
        requires=tuple(requires),
        path=path,
    )


def _module_file(source_root: Path, module: str) -> Path | None:
    base = source_root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _base_names(node: ast.ClassDef) -> list[str]:
    names = []
    for base in node.bases:
        target = base.value if isinstance(base, ast.Subscript) else base  # Recipe[Model]
        if isinstance(target, ast.Name):
            names.append(target.id)
        elif isinstance(target, ast.Attribute):
            names.append(target.attr)
    return names


def _literal_attributes(node: ast.ClassDef) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for statement in node.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(statement, ast.Assign):
            targets, value = list(statement.targets), statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        for target in targets:
            if isinstance(target, ast.Name) and value is not None:
                try:
                    values[target.id] = ast.literal_eval(value)
                except ValueError:
                    continue
    return values


def check_package(root: str | Path) -> PackageCheck:
    """Check a package directory without running its code.

    Fatal problems: no or invalid manifest, symlinks, entry module missing or not valid
    Python, entry class missing, a contract method missing from a class whose whole base chain
    is in the module, literal `name`/`version` that differ from the manifest. Warnings: what
    cannot be decided statically (a base class imported from elsewhere).
    """
    root = Path(root)
    try:
        manifest = read_manifest(root)
    except ManifestError as error:
        return PackageCheck(None, problems=list(error.problems))
    check = PackageCheck(manifest)
    links = [path for path in root.rglob("*") if path.is_symlink()]
    if links:
        check.problems.append(
            "symbolic links are not allowed: "
            + ", ".join(str(path.relative_to(root)) for path in links[:5])
        )
    module, _, class_name = manifest.entry_point.partition(":")
    assert manifest.path is not None
    candidates = [(manifest.path.parent / manifest.python_path).resolve(), root.resolve()]
    for source_root in dict.fromkeys(candidates):
        if not source_root.is_relative_to(root.resolve()):
            continue
        module_file = _module_file(source_root, module)
        if module_file is not None:
            check.source_root, check.module_file = source_root, module_file
            break
    if check.module_file is None:
        check.problems.append(f"entry module {module!r} not found under {manifest.python_path!r}")
        return check
    try:
        tree = ast.parse(check.module_file.read_text(encoding="utf-8"), str(check.module_file))
    except (SyntaxError, UnicodeDecodeError) as error:
        check.problems.append(f"{check.module_file.name}: not valid Python: {error}")
        return check
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    target = classes.get(class_name)
    if target is None:
        check.problems.append(f"class {class_name!r} is not defined at the top of {module}")
        return check
    _check_class(check, manifest, target, classes)
    return check


def _check_class(
    check: PackageCheck, manifest: Manifest, target: ast.ClassDef, classes: dict[str, ast.ClassDef]
) -> None:
    # Walk the bases defined in the same module; stop at Recipe or at anything imported.
    methods: set[str] = set()
    attributes: dict[str, Any] = {}
    chain, seen, reaches_recipe, opaque = [target], set(), False, []
    while chain:
        node = chain.pop()
        if node.name in seen:
            continue
        seen.add(node.name)
        methods |= {
            item.name
            for item in node.body
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        for key, value in _literal_attributes(node).items():
            attributes.setdefault(key, value)
        for base in _base_names(node):
            if base == "Recipe":
                reaches_recipe = True
            elif base in classes:
                chain.append(classes[base])
            elif base not in ("object", "Generic", "ABC"):
                opaque.append(base)
    if not reaches_recipe and not opaque:
        check.problems.append(f"class {target.name} does not derive from dsw_recipe.Recipe")
    missing = [name for name in REQUIRED_METHODS if name not in methods]
    if missing and not opaque:
        check.problems.append(f"class {target.name} lacks {', '.join(missing)}")
    elif missing:
        check.warnings.append(
            f"{', '.join(missing)} not defined in the module; assumed inherited from "
            f"{', '.join(opaque)}"
        )
    for key in ("name", "version"):
        value = attributes.get(key)
        if value is not None and value != getattr(manifest, key):
            check.problems.append(
                f"class attribute {key}={value!r} differs from the manifest's {key}="
                f"{getattr(manifest, key)!r}"
            )


def load_package_recipe(root: str | Path) -> type[Recipe[Any]]:
    """Statically check, then import the package's recipe class and check it live.

    The package's source root is put at the front of `sys.path`. Modules stay imported, so a
    process should load one version of a given package (the registry's worker runs one package
    per process). Raises `PackageError` listing every problem.
    """
    check = check_package(root)
    if not check.ok or check.manifest is None or check.source_root is None:
        raise PackageError(check.problems)
    manifest = check.manifest
    source = str(check.source_root)
    if source not in sys.path:
        sys.path.insert(0, source)
    try:
        recipe = resolve_entry_point(manifest.entry_point)
    except (ImportError, AttributeError, TypeError, ValueError) as error:
        raise PackageError([f"cannot import {manifest.entry_point}: {error}"]) from error
    problems = check_recipe_class(recipe)
    if recipe.name != manifest.name:
        problems.append(
            f"recipe name {recipe.name!r} differs from the manifest's {manifest.name!r}"
        )
    if recipe.version != manifest.version:
        problems.append(
            f"recipe version {recipe.version!r} differs from the manifest's {manifest.version!r}"
        )
    if manifest.task_type is not None and recipe.task_type != manifest.task_type:
        problems.append(
            f"recipe task_type {recipe.task_type!s} differs from the manifest's "
            f"{manifest.task_type!s}"
        )
    if problems:
        raise PackageError(problems)
    return recipe
