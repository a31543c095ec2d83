"""The smoke run's child process: ``python -m dsw_recipes.smoke.child REQUEST RESULT``.

Runs recipe code, so it only ever runs in a child of the smoke worker: limits are set here first
(before anything else is imported), the environment arrives scrubbed, and the only output that
counts is the JSON result file (plus stdout/stderr, whose last lines the worker keeps).
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
from pathlib import Path
from typing import Any


def _limit(memory_bytes: int, cpu_seconds: int) -> None:
    # Soft and hard limits alike: the recipe cannot raise them back.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _builtin_sample(name: str) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc
    from dsw_recipe import read_table
    from dsw_recipe.datasets import retail_training_path
    from dsw_recipe.generators import events_to_interactions, generate_events

    if name == "retail-sales":
        table = read_table(retail_training_path())
        return table.filter(pc.is_in(table["store"], value_set=pa.array([1, 2])))
    events = generate_events(300, 60, seed=1)
    if name == "product-purchase-prediction":
        return events
    if name == "product-recommendations":
        return events_to_interactions(events)
    raise LookupError(f"no smoke sample for built-in recipe {name!r}")


def _smoke_params(recipe: Any, given: dict[str, Any]) -> dict[str, Any]:
    params = dict(given)
    names = recipe.params.names()
    # Keep a smoke run small: few boosting rounds and one thread unless the package says so.
    if "n_estimators" in names and "n_estimators" not in params:
        params["n_estimators"] = min(20, int(recipe.params["n_estimators"].default))
    if "num_threads" in names and "num_threads" not in params:
        params["num_threads"] = 1
    return params


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Load the recipe, then train, evaluate and score it on the sample (or check the contract)."""
    from dsw_recipe import get_recipe, load_package_recipe, read_table, run_local

    if request["kind"] == "builtin":
        recipe = get_recipe(request["name"])
        data = _builtin_sample(request["name"])
    else:
        package = Path(request["package_dir"])
        recipe = load_package_recipe(package)
        sample = request.get("sample")
        data = read_table(package / sample) if sample else None
    describe = recipe.describe()
    params = _smoke_params(recipe, request.get("params") or {})
    if data is None:
        recipe.validate_params(request.get("params") or {})
        recipe()
        return {"ok": True, "mode": "contract", "describe": describe, "metrics": {}}
    result = run_local(recipe, data, params, baseline=False, score_holdout=True, coerce_params=True)
    if result.predictions is None or result.predictions.num_rows == 0:
        raise ValueError("score returned no predictions for the holdout rows")
    metrics = {
        key: float(value) for key, value in result.metrics.items() if isinstance(value, int | float)
    }
    return {
        "ok": True,
        "mode": "sample",
        "describe": describe,
        "metrics": metrics,
        "rows": result.rows,
    }


def main() -> None:
    """Entry point: ``child REQUEST RESULT MEMORY_BYTES CPU_SECONDS``."""
    request_path, result_path = Path(sys.argv[1]), Path(sys.argv[2])
    _limit(int(sys.argv[3]), int(sys.argv[4]))
    request = json.loads(request_path.read_text())
    try:
        outcome = run(request)
        code = 0
    except BaseException as error:
        traceback.print_exc()
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if isinstance(error, MemoryError):
            message = "MemoryError: the recipe exceeded the smoke run's memory limit"
        outcome = {"ok": False, "error": message[:4000]}
        code = 1
    result_path.write_text(json.dumps(outcome, default=str))
    sys.stdout.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
