"""CLI verbs for models and runs: ``dsw models``, ``train``, ``runs``, ``sweep``, ``score``."""

from __future__ import annotations

from typing import Any

import typer

from dsw._output import (
    JSON_OPTION,
    bars,
    client,
    console,
    dataset_id,
    friendly,
    model_id,
    parse_params,
    print_json,
    show,
    table,
)
from dsw.models import Run

models = typer.Typer(
    help="Models (MLInstances): a recipe, hyperparameters, a dataset.", no_args_is_help=True
)
_TOP_FEATURES = 15
runs = typer.Typer(help="Training runs: list, compare, logs, cancel.", no_args_is_help=True)
score = typer.Typer(help="Batch scoring into a new dataset.", no_args_is_help=True)

MODEL_COLUMNS = ("id", "name", "recipe_name", "recipe_version", "dataset_id", "created")
RUN_COLUMNS = ("id", "state", "progress.percent", "trigger", "created", "finished_at", "error")
SCORING_COLUMNS = (
    "id",
    "state",
    "progress.percent",
    "input_dataset_id",
    "output_dataset_id",
    "error",
)


@models.command("create")
@friendly
def models_create(
    name: str,
    recipe: str = typer.Option(..., help="Recipe id (dsw recipes list)"),
    version: str = typer.Option(..., help="Recipe version id"),
    dataset: str = typer.Option(..., help="Training dataset id or name"),
    param: list[str] = typer.Option([], "--param", "-p", help="name=value hyperparameter"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a model."""
    api = client()
    created = api.models.create(
        name,
        recipe_id=recipe,
        version_id=version,
        dataset_id=dataset_id(api, dataset),
        hyperparameters=parse_params(param),
    )
    show(created, (*MODEL_COLUMNS, "hyperparameters"), as_json)


@models.command("list")
@friendly
def models_list(as_json: bool = JSON_OPTION) -> None:
    """List models."""
    show(list(client().models.list()), MODEL_COLUMNS, as_json)


@models.command("show")
@friendly
def models_show(model: str, as_json: bool = JSON_OPTION) -> None:
    """Show a model (by id or name)."""
    api = client()
    show(
        api.models.get(model_id(api, model)),
        (*MODEL_COLUMNS, "hyperparameters", "aliases"),
        as_json,
    )


def follow_run(run: Run, *, quiet: bool) -> Run:
    """Follow a run with a live progress bar; the final run."""
    api = client()
    final = api.runs.wait(run.id, progress=bars(quiet), poll=0.5)
    if not quiet:
        rows = [{"metric": name, "value": value} for name, value in sorted(final.metrics.items())]
        if rows:
            table(rows, ("metric", "value"), title=f"run {final.id} {final.state}")
        else:
            console.print(f"run {final.id} {final.state}: {final.get('error') or ''}")
    return final


@friendly
def train(
    model: str = typer.Argument(..., help="Model id or name"),
    param: list[str] = typer.Option([], "--param", "-p", help="name=value override"),
    follow: bool = typer.Option(True, help="Follow the run's progress until it ends"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Start a training run and follow its live progress."""
    api = client()
    run = api.runs.start(model_id(api, model), hyperparameters=parse_params(param))
    if follow:
        run = follow_run(run, quiet=as_json)
    if as_json:
        print_json(run)
    elif not follow:
        console.print(f"run {run.id} {run.state}")
    if run.state in ("failed", "cancelled"):
        raise typer.Exit(1)


@runs.command("list")
@friendly
def runs_list(model: str, as_json: bool = JSON_OPTION) -> None:
    """The runs of a model."""
    api = client()
    show(list(api.runs.list(model_id(api, model))), RUN_COLUMNS, as_json)


@runs.command("show")
@friendly
def runs_show(run_id: str, as_json: bool = JSON_OPTION) -> None:
    """One run: its metrics beside the recipe's baseline, and the features' importance."""
    run = client().runs.get(run_id)
    if as_json:
        print_json(run)
        return
    show(run, (*RUN_COLUMNS, "params", "mlflow.run_id"), False)
    metrics = run.metrics
    baseline = dict(run.get("baseline_metrics") or {})
    if metrics or baseline:
        rows = [
            {"metric": name, "model": metrics.get(name), "baseline": baseline.get(name)}
            for name in sorted(set(metrics) | set(baseline))
        ]
        table(rows, ("metric", "model", "baseline"), title="metrics (baseline: same split)")
    importance = dict(run.get("feature_importance") or {})
    if importance:
        total = sum(importance.values()) or 1.0
        rows = [
            {"feature": name, "gain": round(gain, 3), "share": f"{gain / total:.1%}"}
            for name, gain in list(importance.items())[:_TOP_FEATURES]
        ]
        title = f"feature importance (gain, top {min(len(importance), _TOP_FEATURES)})"
        table(rows, ("feature", "gain", "share"), title=title)


@runs.command("compare")
@friendly
def runs_compare(
    model: str,
    metric: str | None = typer.Option(None, help="Pick the best run by this metric"),
    direction: str | None = typer.Option(None, help="min or max"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Compare a model's runs: differing parameters and metrics side by side."""
    api = client()
    comparison = api.models.compare(model_id(api, model), metric=metric, direction=direction)
    if as_json:
        print_json(comparison)
        return
    print_comparison(comparison)


def print_comparison(comparison: dict[str, Any]) -> None:
    """Runs as rows, differing params and metrics as columns, the best one starred."""
    params = list(comparison.get("differing_params") or [])
    compared = comparison.get("runs") or []
    metrics = sorted({name for run in compared for name in run.get("metrics", {})})
    best = (comparison.get("best") or {}).get("run_id")
    chosen = comparison.get("metric")
    # The baseline of the compared metric (or of the first one) beside the runs' values.
    reference = chosen or (metrics[0] if metrics else None)
    baseline_column = f"baseline {reference}" if reference else None
    rows = [
        {
            "run": ("* " if run["id"] == best else "  ") + run["id"][:8],
            "state": run["state"],
            **{name: run.get("params", {}).get(name) for name in params},
            **{name: run.get("metrics", {}).get(name) for name in metrics},
            **(
                {baseline_column: (run.get("baseline_metrics") or {}).get(str(reference))}
                if baseline_column
                else {}
            ),
        }
        for run in compared
    ]
    shown_baseline = baseline_column and any(row[baseline_column] is not None for row in rows)
    columns = ("run", "state", *params, *metrics, *([baseline_column] if shown_baseline else []))
    better = "lower" if comparison.get("direction") == "min" else "higher"
    title = f"best by {chosen} ({better} is better)" if best else None
    table(rows, tuple(str(column) for column in columns), title=title)


@runs.command("logs")
@friendly
def runs_logs(run_id: str, tail: int | None = typer.Option(None, help="Last lines only")) -> None:
    """A run's log lines."""
    for line in client().runs.logs(run_id, tail=tail):
        print(line)


@runs.command("cancel")
@friendly
def runs_cancel(run_id: str, as_json: bool = JSON_OPTION) -> None:
    """Ask a run to stop."""
    show(client().runs.cancel(run_id), RUN_COLUMNS, as_json)


@friendly
def sweep(
    model: str = typer.Argument(..., help="Model id or name"),
    space: list[str] = typer.Option(
        ..., "--range", "-r", help="name=low:high (float), name=low:high:int, or name=a,b,c"
    ),
    metric: str = typer.Option(..., help="Objective metric"),
    direction: str | None = typer.Option(
        None, help="min or max (default: as the recipe says for the metric)"
    ),
    strategy: str = typer.Option("random", help="grid, random or tpe"),
    trials: int = typer.Option(10, help="Trial budget"),
    parallelism: int = typer.Option(1, help="Trials at once"),
    param: list[str] = typer.Option([], "--param", "-p", help="Fixed name=value"),
    follow: bool = typer.Option(True, help="Follow until the sweep ends"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Search hyperparameters: many runs of a model, the best one reported."""
    api = client()
    started = api.sweeps.start(
        model_id(api, model),
        space=dict(parse_range(item) for item in space),
        metric=metric,
        direction=direction,
        strategy=strategy,
        max_trials=trials,
        parallelism=parallelism,
        hyperparameters=parse_params(param),
    )
    final = api.sweeps.wait(started.id, progress=bars(as_json)) if follow else started
    if as_json:
        print_json(final)
        return
    console.print(f"sweep {final.id} {final.state}: {final.get('trials')}")
    if final.get("best"):
        console.print(
            f"best run {final['best']['run_id']}: {metric} = {final['best']['value']:.4g}"
        )


def parse_range(text: str) -> tuple[str, dict[str, Any]]:
    """``name=low:high[:int|:log]`` or ``name=a,b,c`` as a sweep parameter range."""
    name, sep, spec = text.partition("=")
    if not sep:
        raise ValueError(f"expected name=low:high or name=a,b,c, got {text!r}")
    if ":" in spec:
        low, high, *kind = spec.split(":")
        is_int = "int" in kind
        return name, {
            "type": "int" if is_int else "float",
            "low": int(low) if is_int else float(low),
            "high": int(high) if is_int else float(high),
            "log": "log" in kind,
        }
    values = [parse_params([f"v={value}"])["v"] for value in spec.split(",")]
    return name, {"type": "choice", "values": values}


@score.command("start")
@friendly
def score_start(
    dataset: str = typer.Option(..., help="Input dataset id or name"),
    run: str | None = typer.Option(None, help="Training run whose model scores"),
    model: str | None = typer.Option(None, help="Model id or name (with --alias or latest)"),
    alias: str | None = typer.Option(None, help="Model alias, e.g. champion"),
    output: str = typer.Option(..., help="Output dataset name (created if new)"),
    follow: bool = typer.Option(True, help="Follow until scoring ends"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Score a dataset with a model into an output dataset."""
    api = client()
    started = api.scoring.start(
        input_dataset_id=dataset_id(api, dataset),
        training_run_id=run,
        model_id=model_id(api, model) if model else None,
        alias=alias,
        output_name=output,
    )
    final = api.scoring.wait(started.id, progress=bars(as_json)) if follow else started
    show(final, (*SCORING_COLUMNS, "progress.rows_scored"), as_json)
    if final.state in ("failed", "cancelled"):
        raise typer.Exit(1)


@score.command("list")
@friendly
def score_list(as_json: bool = JSON_OPTION) -> None:
    """Scoring runs."""
    show(list(client().scoring.list()), SCORING_COLUMNS, as_json)


@score.command("show")
@friendly
def score_show(run_id: str, as_json: bool = JSON_OPTION) -> None:
    """One scoring run."""
    show(
        client().scoring.get(run_id),
        (*SCORING_COLUMNS, "model.uri", "progress.rows_scored"),
        as_json,
    )


@score.command("cancel")
@friendly
def score_cancel(run_id: str, as_json: bool = JSON_OPTION) -> None:
    """Ask a scoring run to stop."""
    show(client().scoring.cancel(run_id), SCORING_COLUMNS, as_json)
