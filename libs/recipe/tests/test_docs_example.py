"""docs/recipes.md's custom recipe, extracted and run as a package would be."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from dsw_recipe import (
    check_package,
    check_recipe_class,
    load_model,
    load_package_recipe,
    run_cli,
    run_local,
)
from dsw_recipe.datasets import load_retail, retail_training_path

DOC = Path(__file__).resolve().parents[3] / "docs" / "recipes.md"


def _block(language: str, first_line: str) -> str:
    pattern = re.compile(rf"```{language}\n({re.escape(first_line)}\n.*?)```", re.DOTALL)
    match = pattern.search(DOC.read_text(encoding="utf-8"))
    assert match is not None, f"no {language} block starting with {first_line!r} in {DOC}"
    return match.group(1)


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "retail-ridge"
    (root / "retail_ridge").mkdir(parents=True)
    (root / "recipe.toml").write_text(_block("toml", "# recipe.toml"))
    (root / "retail_ridge" / "__init__.py").write_text("")
    (root / "retail_ridge" / "recipe.py").write_text(_block("python", "# retail_ridge/recipe.py"))
    yield root
    # The example's modules were imported from this temporary path; forget them.
    for name in [name for name in sys.modules if name.split(".")[0] == "retail_ridge"]:
        del sys.modules[name]
    if str(root) in sys.path:
        sys.path.remove(str(root))


def test_documented_recipe_checks_loads_trains_and_reloads(package: Path, tmp_path: Path) -> None:
    check = check_package(package)
    assert check.ok, check.problems
    assert check.warnings == []
    recipe = load_package_recipe(package)
    assert recipe.name == "retail-ridge"
    assert check_recipe_class(recipe) == []

    result = run_local(recipe, retail_training_path(), {"alpha": 10.0}, output_dir=tmp_path)
    assert set(result.metrics) == {"mape", "mae", "rmse"}
    # A ridge on economic fields only is weak, as the docs say, but it is a model.
    assert 0 < result.metrics["mape"] < 2.0
    assert result.model_path is not None
    loaded = load_model(result.model_path)
    scored = loaded.score(load_retail().slice(0, 45))
    assert scored.column_names == ["date", "store", "prediction"]
    assert scored.num_rows == 45


def test_documented_recipe_runs_from_the_cli(
    package: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["check", str(package)]) == 0
    assert '"ok": true' in capsys.readouterr().out
    code = run_cli(["run", str(package), str(retail_training_path()), "-p", "alpha=2"])
    assert code == 0
    assert '"recipe": "retail-ridge"' in capsys.readouterr().out
