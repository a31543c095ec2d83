"""Scoring runs, services (publish, revisions, keys, metrics) and schedules.

Scoring and serving are younger than the other APIs: when one is not deployed (or down) the page
says so with the API's own problem instead of failing.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dsw_console.session import api_for
from dsw_console.upstream import Api, ApiError, Problem
from dsw_console.views import FINAL_RUN_STATES, attempt, render

router = APIRouter(include_in_schema=False)
SCORING = "/scoring/v1"
SERVING = "/serving/v1"


@router.get("/scoring")
def list_scoring_runs(
    request: Request, cursor: str | None = None, api: Api = Depends(api_for)
) -> Response:
    page, list_problem = attempt(lambda: api.get("scoring", f"{SCORING}/runs", cursor=cursor))
    items = (page or {}).get("items", [])
    return render(
        request,
        "scoring.html",
        section="scoring",
        page=page,
        list_problem=list_problem,
        live=any(run.get("state") not in FINAL_RUN_STATES for run in items),
    )


@router.get("/scoring/new")
def new_scoring_run(request: Request, run_id: str = "", api: Api = Depends(api_for)) -> Response:
    datasets, datasets_problem = attempt(
        lambda: api.get("catalog", "/catalog/v1/datasets", limit=100)
    )
    return render(
        request,
        "scoring_new.html",
        section="scoring",
        run_id=run_id,
        datasets=(datasets or {}).get("items", []),
        datasets_problem=datasets_problem,
        problem=None,
    )


@router.post("/scoring")
def start_scoring_run(
    request: Request,
    run_id: str = Form(""),
    input_dataset_id: str = Form(""),
    output_name: str = Form(""),
    api: Api = Depends(api_for),
) -> Response:
    body = {
        "model": {"training_run_id": run_id.strip() or None},
        "input_dataset_id": input_dataset_id or None,
        "output": {"name": output_name.strip() or None},
    }
    try:
        run = api.post("scoring", f"{SCORING}/runs", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        datasets, _ = attempt(lambda: api.get("catalog", "/catalog/v1/datasets", limit=100))
        return render(
            request,
            "scoring_new.html",
            status_code=error.problem.status,
            section="scoring",
            run_id=run_id,
            datasets=(datasets or {}).get("items", []),
            datasets_problem=None,
            problem=error.problem,
        )
    return RedirectResponse(f"/scoring/{run['id']}", status_code=303)


@router.get("/scoring/{run_id}")
def scoring_run(request: Request, run_id: str, api: Api = Depends(api_for)) -> Response:
    run = api.get("scoring", f"{SCORING}/runs/{run_id}")
    logs, logs_problem = attempt(lambda: api.get("scoring", f"{SCORING}/runs/{run_id}/logs"))
    return render(
        request,
        "scoring_run.html",
        section="scoring",
        run=run,
        logs=logs,
        logs_problem=logs_problem,
        live=run["state"] not in FINAL_RUN_STATES,
    )


@router.post("/scoring/{run_id}/cancel")
def cancel_scoring_run(run_id: str, api: Api = Depends(api_for)) -> Response:
    api.post("scoring", f"{SCORING}/runs/{run_id}/cancel")
    return RedirectResponse(f"/scoring/{run_id}", status_code=303)


@router.get("/services")
def list_services(request: Request, api: Api = Depends(api_for)) -> Response:
    page, list_problem = attempt(lambda: api.get("serving", f"{SERVING}/services"))
    return render(
        request, "services.html", section="services", page=page, list_problem=list_problem
    )


@router.post("/services/publish")
def publish(
    request: Request,
    run_id: str = Form(...),
    model_name: str = Form(""),
    api: Api = Depends(api_for),
) -> Response:
    """Publish a succeeded training run as a service in one click (named after its model)."""
    name = (model_name or "service").strip() or "service"
    body: dict[str, Any] = {"name": f"{name}-{run_id[:8]}", "training_run_id": run_id}
    service, problem = attempt(lambda: api.post("serving", f"{SERVING}/services", body))
    if problem is not None or not isinstance(service, dict):
        return render(
            request, "error.html", status_code=problem.status if problem else 502, problem=problem
        )
    return RedirectResponse(f"/services/{service['id']}", status_code=303)


@router.get("/services/{service_id}")
def service_detail(request: Request, service_id: str, api: Api = Depends(api_for)) -> Response:
    service = api.get("serving", f"{SERVING}/services/{service_id}")
    return render(request, "service.html", section="services", service=service)


def _schedules_page(
    request: Request, api: Api, problem: Problem | None = None, status_code: int = 200
) -> Response:
    training, training_problem = attempt(lambda: api.get("training", "/training/v1/schedules"))
    scoring, scoring_problem = attempt(lambda: api.get("scoring", f"{SCORING}/schedules"))
    models, _ = attempt(lambda: api.get("training", "/training/v1/models", limit=100))
    return render(
        request,
        "schedules.html",
        status_code=status_code,
        section="schedules",
        training=training,
        training_problem=training_problem,
        scoring=scoring,
        scoring_problem=scoring_problem,
        models=(models or {}).get("items", []),
        problem=problem,
    )


@router.get("/schedules")
def list_schedules(request: Request, api: Api = Depends(api_for)) -> Response:
    return _schedules_page(request, api)


@router.post("/schedules")
def create_schedule(
    request: Request,
    model_id: str = Form(""),
    name: str = Form(""),
    cron: str = Form(""),
    timezone: str = Form("UTC"),
    on_new_data: str | None = Form(None),
    api: Api = Depends(api_for),
) -> Response:
    body = {
        "model_id": model_id or None,
        "name": name.strip(),
        "cron": cron.strip() or None,
        "timezone": timezone.strip() or "UTC",
        "on_new_data": on_new_data == "on",
    }
    try:
        api.post("training", "/training/v1/schedules", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        return _schedules_page(request, api, error.problem, error.problem.status)
    return RedirectResponse("/schedules", status_code=303)


@router.post("/schedules/{schedule_id}/{action}")
def toggle_schedule(schedule_id: str, action: str, api: Api = Depends(api_for)) -> Response:
    if action not in ("enable", "disable"):
        raise ApiError(Problem(404, "Not Found", "no such action", code="not_found"))
    api.post("training", f"/training/v1/schedules/{schedule_id}/{action}")
    return RedirectResponse("/schedules", status_code=303)
