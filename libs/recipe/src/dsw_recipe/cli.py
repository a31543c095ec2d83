"""`dsw-recipe` command line: list, describe, run a recipe locally, check a package.

`run_cli(argv)` is the function other CLIs (e.g. `dsw recipe ...`) call; it returns the exit code.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from ._packages import check_package, load_package_recipe
from ._params import ParamValidationError
from ._registry import BUILTIN_RECIPES, get_recipe, installed_recipes
from ._runner import run_local

__all__ = ["main", "run_cli"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dsw-recipe", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="list built-in and installed recipes")
    describe = commands.add_parser("describe", help="a recipe's declarations and params schema")
    describe.add_argument("recipe", help="built-in name, entry-point name or module:Class")
    run = commands.add_parser("run", help="train and evaluate a recipe on a CSV/Parquet file")
    run.add_argument("recipe", help="built-in name, module:Class, or a package directory")
    run.add_argument("data", help="CSV (.csv, .csv.gz) or Parquet file or directory")
    run.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--tracking-uri", help="MLflow tracking URI or directory (default: none)")
    run.add_argument("--experiment", default="dsw-local", help="MLflow experiment name")
    run.add_argument("--output", help="directory to save the MLflow model in")
    run.add_argument("--no-baseline", action="store_true", help="skip the baseline model")
    check = commands.add_parser("check", help="statically check a custom recipe package")
    check.add_argument("package", help="package directory (an unpacked zip, tar.gz or wheel)")
    return parser


def _params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise SystemExit(f"--param expects NAME=VALUE, got {pair!r}")
        params[name.strip()] = value
    return params


def _print(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def run_cli(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (0 ok, 1 failed checks, 2 usage)."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "list":
        _print({"builtin": BUILTIN_RECIPES, "installed": installed_recipes()})
        return 0
    if arguments.command == "describe":
        _print(get_recipe(arguments.recipe).describe())
        return 0
    if arguments.command == "check":
        result = check_package(arguments.package)
        _print(
            {
                "ok": result.ok,
                "manifest": None if result.manifest is None else result.manifest.to_dict(),
                "problems": result.problems,
                "warnings": result.warnings,
            }
        )
        return 0 if result.ok else 1
    from pathlib import Path

    recipe_reference: str = arguments.recipe
    recipe = (
        load_package_recipe(recipe_reference)
        if Path(recipe_reference).is_dir()
        else get_recipe(recipe_reference)
    )
    try:
        result_run = run_local(
            recipe,
            arguments.data,
            _params(arguments.param),
            tracking_uri=arguments.tracking_uri,
            experiment_name=arguments.experiment,
            output_dir=arguments.output,
            baseline=not arguments.no_baseline,
            score_holdout=False,
            coerce_params=True,
        )
    except ParamValidationError as error:
        _print({"ok": False, "errors": [problem.to_dict() for problem in error.errors]})
        return 2
    _print(result_run.summary())
    return 0


def main() -> None:
    """Console-script entry point."""
    raise SystemExit(run_cli())
