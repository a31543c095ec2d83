"""Datasets: list, create, detail (schema tree, statistics, histograms, batches), uploads."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dsw_console.charts import histogram, histogram_svg
from dsw_console.session import api_for
from dsw_console.settings import ConsoleSettings
from dsw_console.upstream import Api, ApiError, Problem
from dsw_console.views import ACTIVE_BATCH_STATES, attempt, render

router = APIRouter(include_in_schema=False)
CATALOG = "/catalog/v1"
_CHUNK = 1024 * 1024
SAMPLE_SLICES = 5  # time windows a histogram sample is spread over


@router.get("/datasets")
def list_datasets(
    request: Request, cursor: str | None = None, api: Api = Depends(api_for)
) -> Response:
    return _list_page(request, api, cursor)


def _list_page(
    request: Request,
    api: Api,
    cursor: str | None = None,
    problem: Problem | None = None,
    form: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    page, list_problem = attempt(lambda: api.get("catalog", f"{CATALOG}/datasets", cursor=cursor))
    schemas, _ = attempt(lambda: api.get("catalog", f"{CATALOG}/schemas", limit=100))
    return render(
        request,
        "datasets.html",
        status_code=status_code,
        section="datasets",
        page=page,
        list_problem=list_problem,
        schemas=(schemas or {}).get("items", []),
        problem=problem,
        form=form or {},
    )


@router.post("/datasets")
def create_dataset(
    request: Request,
    name: str = Form(""),
    description: str = Form(""),
    schema_id: str = Form(""),
    allow_partial: str | None = Form(None),
    error_threshold_percent: str = Form(""),
    timestamp_field: str = Form(""),
    api: Api = Depends(api_for),
) -> Response:
    body: dict[str, Any] = {
        "name": name.strip(),
        "description": description,
        "schema_id": schema_id or None,
        "allow_partial": allow_partial == "on",
        "timestamp_field": timestamp_field.strip() or None,
    }
    if error_threshold_percent.strip():
        # Sent as typed by the user: the catalog's validation names the field if it is not a number.
        body["error_threshold_percent"] = error_threshold_percent.strip()
    try:
        created = api.post("catalog", f"{CATALOG}/datasets", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        form = {
            "name": name,
            "description": description,
            "schema_id": schema_id,
            "timestamp_field": timestamp_field,
        }
        return _list_page(
            request, api, problem=error.problem, form=form, status_code=error.problem.status
        )
    return RedirectResponse(f"/datasets/{created['id']}", status_code=303)


@router.get("/schemas")
def list_schemas(request: Request, api: Api = Depends(api_for)) -> Response:
    return _schemas_page(request, api)


def _schemas_page(
    request: Request,
    api: Api,
    problem: Problem | None = None,
    text: str = "",
    status_code: int = 200,
) -> Response:
    schemas, list_problem = attempt(lambda: api.get("catalog", f"{CATALOG}/schemas", limit=100))
    return render(
        request,
        "schemas.html",
        status_code=status_code,
        section="datasets",
        schemas=(schemas or {}).get("items", []),
        list_problem=list_problem,
        problem=problem,
        text=text,
    )


@router.post("/schemas")
def create_schema(
    request: Request, definition: str = Form(""), api: Api = Depends(api_for)
) -> Response:
    try:
        body = json.loads(definition)
    except ValueError as error:
        problem = Problem(
            400,
            "Bad Request",
            "the schema is not valid JSON",
            errors=[{"pointer": "/form/definition", "message": str(error)}],
        )
        return _schemas_page(request, api, problem, definition, status_code=400)
    try:
        api.post("catalog", f"{CATALOG}/schemas", body)
    except ApiError as error:
        if error.problem.status == 401:
            raise
        return _schemas_page(request, api, error.problem, definition, error.problem.status)
    return RedirectResponse("/schemas", status_code=303)


@router.get("/datasets/{dataset_id}")
def dataset_detail(request: Request, dataset_id: str, api: Api = Depends(api_for)) -> Response:
    settings: ConsoleSettings = request.app.state.settings
    dataset = api.get("catalog", f"{CATALOG}/datasets/{dataset_id}")
    tree, schema_problem = None, None
    if dataset.get("schema_id"):
        tree, schema_problem = attempt(
            lambda: api.get("catalog", f"{CATALOG}/schemas/{dataset['schema_id']}/jsonschema")
        )
    statistics, statistics_problem = attempt(
        lambda: api.get("catalog", f"{CATALOG}/datasets/{dataset_id}/statistics")
    )
    columns = (statistics or {}).get("columns", {})
    sample = _sample(api, dataset, columns, min(max(settings.histogram_sample_rows, 1), 1000))
    return render(
        request,
        "dataset.html",
        section="datasets",
        dataset=dataset,
        tree=tree,
        schema_problem=schema_problem,
        statistics=statistics,
        statistics_problem=statistics_problem,
        histograms=_histograms(columns, sample.rows),
        sample=sample,
        batches=_batches(api, dataset_id),
    )


@dataclass
class RowSample:
    """Rows read to draw histograms, and how they were chosen (said on the page)."""

    rows: list[dict[str, Any]]
    spread_over: str | None = None  # the timestamp field, when spread over its time range
    slices: int = 0
    problem: Problem | None = None


def _sample(
    api: Api, dataset: Mapping[str, Any], columns: Mapping[str, Any], limit: int
) -> RowSample:
    """At most ``limit`` rows: spread over the time range when the dataset has a timestamp field
    (the first rows of a dataset are often its oldest), otherwise the first rows."""
    field = dataset.get("timestamp_field")
    bounds = _time_bounds(columns.get(field) if field else None)
    if field and bounds is not None:
        rows: list[dict[str, Any]] = []
        slices = _slices(*bounds, count=min(SAMPLE_SLICES, limit))
        for since, until in slices:
            page, problem = attempt(
                functools.partial(
                    _rows_between, api, str(dataset["id"]), since, until, limit // len(slices)
                )
            )
            if problem is not None:
                break  # e.g. the field cannot be filtered on: fall back to the first rows
            rows.extend((page or {}).get("rows", []))
        else:
            return RowSample(rows, spread_over=str(field), slices=len(slices))
    preview, problem = attempt(
        lambda: api.get("catalog", f"{CATALOG}/datasets/{dataset['id']}/preview", limit=limit)
    )
    return RowSample((preview or {}).get("rows", []), problem=problem)


def _rows_between(api: Api, dataset_id: str, since: datetime, until: datetime, limit: int) -> Any:
    return api.get(
        "catalog",
        f"{CATALOG}/datasets/{dataset_id}/rows",
        since=since.isoformat(),
        until=until.isoformat(),
        limit=max(limit, 1),
    )


def _time_bounds(column: Mapping[str, Any] | None) -> tuple[datetime, datetime] | None:
    """The [first, last] time of a date or timestamp column's statistics (UTC when naive)."""
    if not column or column.get("type") not in ("date", "timestamp"):
        return None
    try:
        low, high = (_moment(column[key]) for key in ("min", "max"))
    except (KeyError, ValueError):
        return None
    low, high = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (low, high))
    # Dates are whole days and the window's end is exclusive: reach past the last day.
    end = high + (timedelta(days=1) if column["type"] == "date" else timedelta(seconds=1))
    return low, end


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _slices(start: datetime, end: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` consecutive equal windows from ``start`` to ``end``."""
    step = (end - start) / count
    edges = [start + step * index for index in range(count)] + [end]
    return list(itertools.pairwise(edges))


def _value_at(row: Mapping[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _histograms(columns: Mapping[str, Any], rows: list[dict[str, Any]]) -> dict[str, str]:
    """An SVG histogram per numeric column, drawn from the preview's sample of rows."""
    charts = {}
    for name, column in columns.items():
        if column.get("type") != "number":
            continue
        values = [_value_at(row, name) for row in rows]
        numbers = [
            float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        data = histogram(numbers)
        if data is not None:
            charts[name] = histogram_svg(name, data, described_by="histogram-sample")
    return charts


def _batches(api: Api, dataset_id: str) -> dict[str, Any]:
    page, problem = attempt(
        lambda: api.get("catalog", f"{CATALOG}/datasets/{dataset_id}/batches", orderby="-created")
    )
    if problem is not None and problem.code == "invalid_orderby":
        page, problem = attempt(
            lambda: api.get("catalog", f"{CATALOG}/datasets/{dataset_id}/batches")
        )
    items = (page or {}).get("items", [])
    active = any(batch.get("status") in ACTIVE_BATCH_STATES for batch in items)
    return {"items": items, "problem": problem, "active": active, "dataset_id": dataset_id}


@router.get("/datasets/{dataset_id}/batches")
def batches_fragment(request: Request, dataset_id: str, api: Api = Depends(api_for)) -> Response:
    return render(request, "_batches.html", batches=_batches(api, dataset_id))


@router.get("/batches/{batch_id}/errors")
def error_report(batch_id: str, api: Api = Depends(api_for)) -> Response:
    response = api.request("catalog", "GET", f"{CATALOG}/batches/{batch_id}/errors")
    return Response(
        response.content,
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="errors-{batch_id}.jsonl"'},
    )


def _formats(text: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    formats: dict[str, str] = {}
    errors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        field, separator, pattern = line.partition("=")
        if not separator or not field.strip() or not pattern.strip():
            errors.append(
                {"pointer": "/form/formats", "message": f"line {number}: write field=format"}
            )
            continue
        formats[field.strip()] = pattern.strip()
    return formats, errors


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    handle.seek(0)
    while chunk := handle.read(_CHUNK):
        yield chunk


def _size(handle: IO[bytes]) -> int:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    return size


@router.post("/uploads/datasets/{dataset_id}")
def upload(
    request: Request,
    dataset_id: str,
    file: UploadFile,
    format: str = Form("csv"),
    formats: str = Form(""),
    api: Api = Depends(api_for),
) -> Response:
    """Open a batch, send the file to the catalog, complete the batch (ingestion is async)."""
    settings: ConsoleSettings = request.app.state.settings
    wants_json = "json" in request.headers.get("accept", "")
    parsed_formats, errors = _formats(formats)
    filename = (file.filename or "upload").replace("/", "_").replace("\\", "_") or "upload"
    size = _size(file.file)
    if size > settings.max_upload_bytes:
        errors.append(
            {"pointer": "/form/file", "message": f"larger than {settings.max_upload_bytes} bytes"}
        )
    if size == 0:
        errors.append({"pointer": "/form/file", "message": "the file is empty"})
    if errors:
        raise ApiError(
            Problem(
                422, "Unprocessable Entity", "the upload was refused", "validation_failed", errors
            )
        )
    batch = api.post(
        "catalog",
        f"{CATALOG}/datasets/{dataset_id}/batches",
        {"format": format, "formats": parsed_formats},
    )
    try:
        api.request(
            "catalog",
            "PUT",
            f"{CATALOG}/batches/{batch['id']}/files/{filename}",
            content=_file_chunks(file.file),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
        )
        api.post("catalog", f"{CATALOG}/batches/{batch['id']}/complete")
    except ApiError:
        # A half-made batch would sit in `loading` forever: abort it, then report the problem.
        with contextlib.suppress(ApiError):
            api.post("catalog", f"{CATALOG}/batches/{batch['id']}/abort")
        raise
    if wants_json:
        return JSONResponse({"batch_id": batch["id"], "dataset_id": dataset_id}, status_code=201)
    return RedirectResponse(f"/datasets/{dataset_id}", status_code=303)
