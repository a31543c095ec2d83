"""Models, training runs (live status, logs), run comparison and its chart, sweeps."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from dsw_console.forms import fields_of, parse_values
from dsw_console.session import api_for
from dsw_console.upstream import Api, ApiError, Problem
from dsw_console.views import FINAL_RUN_STATES, attempt, render

router = APIRouter(include_in_schema=False)
TRAINING = "/training/v1"
RECIPES = "/recipes/v1/recipes"
SWEEP_SPACE_EXAMPLE = json.dumps(
    {
        "learning_rate": {"type": "float", "low": 0.02, "high": 0.2, "log": True},
        "num_leaves": {"type": "int", "low": 8, "high": 64},
    },
    indent=2,
)


def _reraise_unauthorized(error: ApiError) -> None:
    if error.problem.status == 401:
        raise error


@router.get("/models")
def list_models(
    request: Request, cursor: str | None = None, api: Api = Depends(api_for)
) -> Response:
    page, list_problem = attempt(lambda: api.get("training", f"{TRAINING}/models", cursor=cursor))
    recipes, _ = attempt(lambda: api.get("recipes", RECIPES, limit=100))
    return render(
        request,
        "models.html",
        section="models",
        page=page,
        list_problem=list_problem,
        recipes=(recipes or {}).get("items", []),
    )


def _new_model_page(
    request: Request,
    api: Api,
    recipe_id: str,
    version_id: str | None,
    submitted: Mapping[str, str] | None = None,
    problem: Problem | None = None,
    field_errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    recipe = api.get("recipes", f"{RECIPES}/{recipe_id}")
    version_id = version_id or recipe.get("latest_version_id")
    schema, schema_problem = attempt(
        lambda: api.get("recipes", f"{RECIPES}/{recipe_id}/versions/{version_id}/params-schema")
    )
    datasets, datasets_problem = attempt(
        lambda: api.get("catalog", "/catalog/v1/datasets", limit=100)
    )
    return render(
        request,
        "model_new.html",
        status_code=status_code,
        section="models",
        recipe=recipe,
        version_id=version_id,
        schema_problem=schema_problem,
        fields=fields_of(schema or {}, submitted, field_errors),
        datasets=(datasets or {}).get("items", []),
        datasets_problem=datasets_problem,
        form=submitted or {},
        problem=problem,
    )


@router.get("/models/new")
def new_model(
    request: Request, recipe_id: str, version_id: str | None = None, api: Api = Depends(api_for)
) -> Response:
    return _new_model_page(request, api, recipe_id, version_id)


@router.post("/models")
async def create_model(request: Request, api: Api = Depends(api_for)) -> Response:
    form = {key: str(value) for key, value in (await request.form()).items()}
    recipe_id, version_id = form.get("recipe_id", ""), form.get("version_id", "")
    schema = api.get("recipes", f"{RECIPES}/{recipe_id}/versions/{version_id}/params-schema")
    hyperparameters, errors = parse_values(schema, form)
    if errors:
        problem = Problem(
            422,
            "Unprocessable Entity",
            f"{len(errors)} invalid hyperparameter(s)",
            code="validation_failed",
            errors=[
                {"pointer": f"/body/hyperparameters/{k}", "message": v} for k, v in errors.items()
            ],
        )
        return _new_model_page(request, api, recipe_id, version_id, form, problem, errors, 422)
    body = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", ""),
        "recipe": {"recipe_id": recipe_id, "version_id": version_id},
        "hyperparameters": hyperparameters,
        "dataset_id": form.get("dataset_id") or None,
    }
    try:
        model = api.post("training", f"{TRAINING}/models", body)
    except ApiError as error:
        _reraise_unauthorized(error)
        field_errors = error.problem.field_errors("/body/hyperparameters/")
        return _new_model_page(
            request,
            api,
            recipe_id,
            version_id,
            form,
            error.problem,
            field_errors,
            error.problem.status,
        )
    return RedirectResponse(f"/models/{model['id']}", status_code=303)


def _runs(api: Api, model_id: str) -> dict[str, Any]:
    page, problem = attempt(
        lambda: api.get("training", f"{TRAINING}/models/{model_id}/runs", limit=50)
    )
    items = (page or {}).get("items", [])
    active = any(run.get("state") not in FINAL_RUN_STATES for run in items)
    return {"items": items, "problem": problem, "active": active, "model_id": model_id}


@router.get("/models/{model_id}")
def model_detail(
    request: Request,
    model_id: str,
    metric: str | None = None,
    direction: str | None = None,
    runs: list[str] = Query(default_factory=list),
    api: Api = Depends(api_for),
) -> Response:
    model = api.get("training", f"{TRAINING}/models/{model_id}")
    run_list = _runs(api, model_id)
    metrics = sorted({name for run in run_list["items"] for name in (run.get("metrics") or {})})
    metric = metric if metric in metrics else (metrics[0] if metrics else None)
    # No direction chosen: the training service answers with the recipe's for the metric.
    chosen_direction = direction if direction in ("min", "max") else None
    comparison, comparison_problem = None, None
    if metric:
        comparison, comparison_problem = attempt(
            lambda: api.get(
                "training",
                f"{TRAINING}/models/{model_id}/compare",
                metric=metric,
                direction=chosen_direction,
                runs=",".join(runs) or None,
            )
        )
    direction = (comparison or {}).get("direction") or chosen_direction or "min"
    sweeps, sweeps_problem = attempt(
        lambda: api.get("training", f"{TRAINING}/models/{model_id}/sweeps")
    )
    # People read the training dataset's name; without the catalog the id is shown instead.
    dataset, _ = attempt(lambda: api.get("catalog", f"/catalog/v1/datasets/{model['dataset_id']}"))
    return render(
        request,
        "model.html",
        section="models",
        model=model,
        dataset=dataset,
        runs=run_list,
        metrics=metrics,
        metric=metric,
        direction=direction,
        chosen_direction=chosen_direction,
        chosen_runs=runs,
        comparison=comparison,
        comparison_problem=comparison_problem,
        sweeps=(sweeps or {}).get("items", []),
        sweeps_problem=sweeps_problem,
        space_example=SWEEP_SPACE_EXAMPLE,
    )


@router.get("/models/{model_id}/runs")
def runs_fragment(request: Request, model_id: str, api: Api = Depends(api_for)) -> Response:
    return render(request, "_runs.html", runs=_runs(api, model_id))


@router.get("/models/{model_id}/chart.svg")
def chart(
    model_id: str,
    metric: str,
    direction: str = "min",
    runs: str | None = None,
    api: Api = Depends(api_for),
) -> Response:
    response = api.request(
        "training",
        "GET",
        f"{TRAINING}/models/{model_id}/chart.svg",
        params={
            key: value
            for key, value in {"metric": metric, "direction": direction, "runs": runs}.items()
            if value
        },
    )
    return Response(
        response.content, media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


@router.post("/models/{model_id}/runs")
def train(model_id: str, api: Api = Depends(api_for)) -> Response:
    run = api.post("training", f"{TRAINING}/models/{model_id}/runs", {})
    return RedirectResponse(f"/runs/{run['id']}", status_code=303)


@router.post("/models/{model_id}/sweeps")
def start_sweep(
    request: Request,
    model_id: str,
    strategy: str = Form("random"),
    metric: str = Form(""),
    direction: str = Form(""),
    max_trials: int = Form(4),
    parallelism: int = Form(1),
    space: str = Form(""),
    api: Api = Depends(api_for),
) -> Response:
    try:
        parsed_space = json.loads(space)
    except ValueError as error:
        raise ApiError(
            Problem(
                400,
                "Bad Request",
                "the search space is not valid JSON",
                errors=[{"pointer": "/form/space", "message": str(error)}],
            )
        ) from error
    body = {
        "strategy": strategy,
        "space": parsed_space,
        "objective": {
            "metric": metric.strip(),
            **({"direction": direction} if direction in ("min", "max") else {}),
        },
        "max_trials": max_trials,
        "parallelism": parallelism,
    }
    sweep = api.post("training", f"{TRAINING}/models/{model_id}/sweeps", body)
    return RedirectResponse(f"/sweeps/{sweep['id']}", status_code=303)


@router.get("/runs/{run_id}")
def run_detail(request: Request, run_id: str, api: Api = Depends(api_for)) -> Response:
    run = api.get("training", f"{TRAINING}/runs/{run_id}")
    model, _ = attempt(lambda: api.get("training", f"{TRAINING}/models/{run['model_id']}"))
    logs, logs_problem = attempt(lambda: api.get("training", f"{TRAINING}/runs/{run_id}/logs"))
    return render(
        request,
        "run.html",
        section="models",
        run=run,
        model=model,
        logs=logs,
        logs_problem=logs_problem,
    )


@router.get("/runs/{run_id}/status")
def run_status(request: Request, run_id: str, api: Api = Depends(api_for)) -> Response:
    run = api.get("training", f"{TRAINING}/runs/{run_id}")
    logs, logs_problem = attempt(lambda: api.get("training", f"{TRAINING}/runs/{run_id}/logs"))
    response = render(request, "_run_status.html", run=run, logs=logs, logs_problem=logs_problem)
    if run["state"] in FINAL_RUN_STATES:
        # The run ended: reload the page once so metrics, actions and publishing appear.
        response.headers["HX-Refresh"] = "true"
    return response


@router.post("/runs/{run_id}/cancel")
def cancel_run(run_id: str, api: Api = Depends(api_for)) -> Response:
    api.post("training", f"{TRAINING}/runs/{run_id}/cancel")
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.get("/sweeps/{sweep_id}")
def sweep_detail(request: Request, sweep_id: str, api: Api = Depends(api_for)) -> Response:
    sweep = api.get("training", f"{TRAINING}/sweeps/{sweep_id}")
    runs = _runs(api, str(sweep["model_id"]))
    trials = [run for run in runs["items"] if str(run.get("sweep_id")) == sweep_id]
    return render(
        request,
        "sweep.html",
        section="models",
        sweep=sweep,
        trials=trials,
        runs_problem=runs["problem"],
        live=sweep["state"] == "running",
    )


@router.post("/sweeps/{sweep_id}/cancel")
def cancel_sweep(sweep_id: str, api: Api = Depends(api_for)) -> Response:
    api.post("training", f"{TRAINING}/sweeps/{sweep_id}/cancel")
    return RedirectResponse(f"/sweeps/{sweep_id}", status_code=303)
