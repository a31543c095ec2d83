"""Custom recipe packages: manifest, static checks, loading, and the contract checker."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dsw_recipe import (
    ManifestError,
    PackageError,
    Recipe,
    TaskType,
    builtin_recipes,
    check_package,
    check_recipe_class,
    get_recipe,
    load_package_recipe,
    read_manifest,
)

MANIFEST = """\
[recipe]
name = "tiny"
version = "1.0.0"
entry_point = "tiny_recipe.main:TinyRecipe"
task_type = "custom"
python_path = "src"
"""

SOURCE = """\
import pyarrow as pa
from dsw_recipe import Recipe, Split, TaskType


class Base(Recipe[int]):
    task_type = TaskType.CUSTOM

    def features(self, table, params, ctx, *, scoring=False):
        return table

    def split(self, features, params, ctx):
        return Split(features, features)


class TinyRecipe(Base):
    name = "tiny"
    version = "1.0.0"

    def train(self, train, params, ctx):
        return train.num_rows

    def evaluate(self, model, holdout, params, ctx):
        return {"rows": float(model)}

    def score(self, model, features, params, ctx):
        return pa.table({"n": [model]})
"""


def _package(root: Path, manifest: str = MANIFEST, source: str = SOURCE) -> Path:
    module = root / "src" / "tiny_recipe"
    module.mkdir(parents=True)
    (module / "__init__.py").write_text("")
    (module / "main.py").write_text(source)
    (root / "recipe.toml").write_text(manifest)
    return root


@pytest.fixture(autouse=True)
def _forget_tiny() -> Iterator[None]:
    yield
    for name in [name for name in sys.modules if name.startswith("tiny_recipe")]:
        del sys.modules[name]
    sys.path[:] = [entry for entry in sys.path if "tiny" not in entry]


def test_valid_package_checks_and_loads(tmp_path: Path) -> None:
    root = _package(tmp_path / "tiny")
    check = check_package(root)
    assert check.ok, check.problems
    assert check.manifest is not None
    assert check.manifest.to_dict()["entry_point"] == "tiny_recipe.main:TinyRecipe"
    assert check.module_file == root / "src" / "tiny_recipe" / "main.py"
    recipe = load_package_recipe(root)
    assert recipe.name == "tiny"
    assert recipe.task_type is TaskType.CUSTOM


def test_manifest_in_a_top_level_folder_and_json(tmp_path: Path) -> None:
    # A wheel keeps the manifest in its package folder; a git archive wraps everything in one.
    root = tmp_path / "wheel"
    package = root / "tiny_recipe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "main.py").write_text(SOURCE)
    (package / "recipe.json").write_text(
        json.dumps(
            {"name": "tiny", "version": "1.0.0", "entry_point": "tiny_recipe.main:TinyRecipe"}
        )
    )
    (root / "tiny-1.0.0.dist-info").mkdir()
    check = check_package(root)
    assert check.ok, check.problems
    assert check.source_root == root.resolve()


def test_manifest_errors_are_listed() -> None:
    bad = Path(__file__).parent / "does-not-exist.toml"
    with pytest.raises(FileNotFoundError):
        read_manifest(bad)


def test_invalid_manifest_reports_each_problem(tmp_path: Path) -> None:
    (tmp_path / "recipe.toml").write_text(
        '[recipe]\nname = "Bad Name"\nversion = "one"\nentry_point = "x"\n'
        'task_type = "clustering"\npython_path = "../out"\nextra = 1\n'
    )
    with pytest.raises(ManifestError) as caught:
        read_manifest(tmp_path)
    text = " | ".join(caught.value.problems)
    for expected in (
        "unknown key(s): extra",
        "name:",
        "version:",
        "entry_point:",
        "task_type:",
        "python_path:",
    ):
        assert expected in text
    assert check_package(tmp_path).problems == caught.value.problems
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no recipe.toml or recipe.json" in check_package(empty).problems[0]


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def broken(:\n", "not valid Python"),
        ("class Other: pass\n", "class 'TinyRecipe' is not defined"),
        (
            "from dsw_recipe import Recipe\nclass TinyRecipe(Recipe):\n"
            "    def features(self): ...\n",
            "lacks split, train, evaluate, score",
        ),
        ("class TinyRecipe:\n    pass\n", "does not derive from dsw_recipe.Recipe"),
        (SOURCE.replace('version = "1.0.0"', 'version = "2.0.0"'), "version='2.0.0' differs"),
    ],
)
def test_static_problems(tmp_path: Path, source: str, problem: str) -> None:
    root = _package(tmp_path / "tiny", source=source)
    check = check_package(root)
    assert not check.ok
    assert any(problem in item for item in check.problems), check.problems
    with pytest.raises(PackageError):
        load_package_recipe(root)


def test_imported_base_is_a_warning_and_symlinks_are_refused(tmp_path: Path) -> None:
    source = (
        "from dsw_recipe.recipes import RetailSalesRecipe\n"
        "class TinyRecipe(RetailSalesRecipe):\n    name = 'tiny'\n    version = '1.0.0'\n"
    )
    root = _package(tmp_path / "tiny", source=source)
    check = check_package(root)
    assert check.ok
    assert "assumed inherited from RetailSalesRecipe" in check.warnings[0]
    (root / "link").symlink_to("/etc/passwd")
    assert "symbolic links are not allowed: link" in check_package(root).problems


def test_live_contract_problems_after_import(tmp_path: Path) -> None:
    # Passes the static check (names are not literals) but fails once imported.
    source = SOURCE.replace('name = "tiny"', 'name = "ti" + "ny!"')
    root = _package(tmp_path / "tiny", source=source)
    assert check_package(root).ok
    with pytest.raises(PackageError) as caught:
        load_package_recipe(root)
    assert any("must be lower-case words" in item for item in caught.value.problems)


def test_check_recipe_class_on_builtins_and_junk() -> None:
    for recipe in builtin_recipes().values():
        assert check_recipe_class(recipe) == []
        assert recipe.describe()["params"]["type"] == "object"
    assert check_recipe_class(object) == ["<class 'object'> is not a subclass of dsw_recipe.Recipe"]

    class Half(Recipe[int]):
        name = "half"
        version = "1"
        input_features = ("missing",)

    problems = check_recipe_class(Half)
    assert any("MAJOR.MINOR.PATCH" in problem for problem in problems)
    assert any("input_features not among input_fields: missing" in p for p in problems)
    assert any("methods not implemented" in problem for problem in problems)


def test_get_recipe_by_name_and_reference() -> None:
    assert get_recipe("retail-sales").name == "retail-sales"
    assert get_recipe("dsw_recipe.recipes.retail:RetailSalesRecipe").version == "1.0.0"
    with pytest.raises(LookupError, match="unknown recipe 'nope'"):
        get_recipe("nope")
