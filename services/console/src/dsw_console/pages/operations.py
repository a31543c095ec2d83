"""Scoring runs, services (publish, revisions, keys, metrics) and schedules.

Scoring and serving are younger than the other APIs: when one is not deployed (or down) the page
says so with the API's own problem instead of failing.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dsw_console.charts import Series, line_chart_svg
from dsw_console.live import (
    Sample,
    accuracy_series,
    decode_samples,
    drift_series,
    encode_samples,
    rate_series,
    read_counters,
)
from dsw_console.session import api_for, current_session
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
    base = re.sub(r"[^a-z0-9-]+", "-", (model_name or "service").lower()).strip("-") or "service"
    body = {"name": f"{base[:40]}-{run_id[:8]}", "source": {"training_run_id": run_id}}
    # The same click twice publishes once (the serving API honours Idempotency-Key).
    service = api.post(
        "serving",
        f"{SERVING}/services",
        body,
        headers={"Idempotency-Key": f"console-publish-{run_id}"},
    )
    return RedirectResponse(f"/services/{service['name']}", status_code=303)


def _service_page(
    request: Request,
    api: Api,
    name: str,
    *,
    new_key: dict[str, Any] | None = None,
    prediction: str | None = None,
    records: str = "",
    problem: Problem | None = None,
    status_code: int = 200,
) -> Response:
    service = api.get("serving", f"{SERVING}/services/{name}")
    revisions, revisions_problem = attempt(
        lambda: api.get("serving", f"{SERVING}/services/{name}/revisions")
    )
    keys, keys_problem = attempt(lambda: api.get("serving", f"{SERVING}/services/{name}/keys"))
    revision_items = _items(revisions)
    if not records and revision_items:
        records = _example_records(revision_items[0])
    return render(
        request,
        "service.html",
        status_code=status_code,
        section="services",
        service=service,
        revisions=revision_items,
        revisions_problem=revisions_problem,
        keys=_items(keys),
        keys_problem=keys_problem,
        new_key=new_key,
        prediction=prediction,
        records=records,
        problem=problem,
    )


def _items(answer: Any) -> list[Any]:
    """The items of a list answer, paged (``{items, next}``) or plain."""
    if isinstance(answer, list):
        return answer
    items = (answer or {}).get("items", [])
    return items if isinstance(items, list) else []


def _example_records(revision: dict[str, Any]) -> str:
    """A one-record request body naming the revision's inputs, for the try-it form."""
    placeholders: dict[str, Any] = {
        "number": 0.0,
        "integer": 0,
        "boolean": False,
        "date": date.today().isoformat(),
        "date-time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    example = {
        str(item.get("name")): placeholders.get(str(item.get("type", "")), "")
        for item in revision.get("inputs", [])
    }
    return json.dumps({"records": [example]}, indent=2)


@router.get("/services/{name}")
def service_detail(request: Request, name: str, api: Api = Depends(api_for)) -> Response:
    return _service_page(request, api, name)


# Period of the live accuracy charts: (window length in seconds, windows back from now).
SPANS: dict[str, tuple[int, int]] = {"hour": (300, 12), "day": (3600, 24), "week": (6 * 3600, 28)}


@router.get("/services/{name}/metrics")
def service_metrics(
    request: Request,
    name: str,
    span: Literal["hour", "day", "week"] = "hour",
    samples: str = "",
    api: Api = Depends(api_for),
) -> Response:
    """The live metrics panel: charts of traffic, latency, errors, accuracy and drift."""
    session = current_session(request)
    history = decode_samples(samples)
    window_seconds, windows = SPANS[span]
    accuracy, accuracy_problem = attempt(
        lambda: api.get(
            "serving",
            f"{SERVING}/services/{name}/metrics",
            window_seconds=window_seconds,
            windows=windows,
        )
    )
    health, health_problem = attempt(
        lambda: api.get("serving", f"{SERVING}/services/{name}/health")
    )
    counters_problem = accuracy_problem or health_problem
    if counters_problem is None:
        # Only once serving accepted this user's token for this service: the counters are read
        # for the token's own organisation and sandbox, never anybody else's.
        counters, counters_problem = attempt(lambda: api.request("serving", "GET", "/metrics").text)
        if counters is not None:
            sample = read_counters(counters, session.org, session.sandbox, name, time.time())
            sample.psi = ((health or {}).get("drift") or {}).get("predictions")
            history.append(sample)
    return render(
        request,
        "_service_metrics.html",
        name=name,
        span=span,
        spans=SPANS,
        samples=encode_samples(history),
        sample_count=len(history),
        charts=_metric_charts(history, accuracy or []),
        health=health,
        accuracy_problem=accuracy_problem,
        health_problem=health_problem,
        counters_problem=counters_problem,
    )


def _metric_charts(history: list[Sample], accuracy: list[dict[str, Any]]) -> dict[str, Any]:
    """SVG charts by panel; an absent key means there is nothing to draw yet."""
    rates = rate_series(history)
    charts: dict[str, Any] = {}
    titled = (
        ("requests", "Requests per second", " req/s"),
        ("latency", "Mean latency (ms)", " ms"),
        ("errors", "Refused or failed requests per minute", " /min"),
    )
    for key, title, unit in titled:
        if rates[key]:
            charts[key] = _chart(title, rates[key], unit)
    drift = drift_series(history)
    if drift:
        charts["drift"] = _chart("Prediction drift (PSI) of the live revision", drift)
    charts["accuracy"] = {
        metric: _chart(f"Live {metric}", lines)
        for metric, lines in accuracy_series(accuracy).items()
    }
    return charts


def _chart(title: str, lines: list[Series], unit: str = "") -> dict[str, str]:
    """A chart and its visible caption."""
    return {"title": title, "svg": line_chart_svg(title, lines, unit)}


@router.post("/services/{name}/predict")
def try_predict(
    request: Request, name: str, records: str = Form(""), api: Api = Depends(api_for)
) -> Response:
    try:
        body = json.loads(records)
    except ValueError as error:
        problem = Problem(400, "Bad Request", f"the request is not valid JSON: {error}")
        return _service_page(request, api, name, records=records, problem=problem, status_code=400)
    try:
        response = api.request("serving", "POST", f"{SERVING}/services/{name}/predict", json=body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        return _service_page(
            request,
            api,
            name,
            records=records,
            problem=error.problem,
            status_code=error.problem.status,
        )
    prediction = json.dumps(response.json(), indent=2)
    return _service_page(request, api, name, prediction=prediction, records=records)


@router.post("/services/{name}/keys")
def create_key(
    request: Request, name: str, key_name: str = Form(""), api: Api = Depends(api_for)
) -> Response:
    created = api.post("serving", f"{SERVING}/services/{name}/keys", {"name": key_name.strip()})
    # The secret is shown once, in this answer, and never stored by the console.
    response = _service_page(request, api, name, new_key=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/services/{name}/keys/{key_id}/revoke")
def revoke_key(name: str, key_id: str, api: Api = Depends(api_for)) -> Response:
    api.request("serving", "DELETE", f"{SERVING}/services/{name}/keys/{key_id}")
    return RedirectResponse(f"/services/{name}", status_code=303)


@router.post("/services/{name}/promote")
def promote(name: str, revision: int = Form(...), api: Api = Depends(api_for)) -> Response:
    api.post("serving", f"{SERVING}/services/{name}/promote", {"revision": revision})
    return RedirectResponse(f"/services/{name}", status_code=303)


@router.post("/services/{name}/revisions")
def add_revision(
    request: Request,
    name: str,
    training_run_id: str = Form(""),
    promote_now: str | None = Form(None),
    api: Api = Depends(api_for),
) -> Response:
    """A new revision from a training run (empty: the service's own source resolved again)."""
    run_id = training_run_id.strip()
    body = {
        "source": {"training_run_id": run_id} if run_id else None,
        "promote": promote_now == "on",
    }
    try:
        api.post("serving", f"{SERVING}/services/{name}/revisions", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        return _service_page(
            request, api, name, problem=error.problem, status_code=error.problem.status
        )
    return RedirectResponse(f"/services/{name}", status_code=303)


@router.post("/services/{name}/rollback")
def rollback(name: str, api: Api = Depends(api_for)) -> Response:
    api.post("serving", f"{SERVING}/services/{name}/rollback")
    return RedirectResponse(f"/services/{name}", status_code=303)


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
