"""The prediction hot path: ``/predict``, MLflow-style ``/invocations`` and Open Inference v2.

These routes take the raw body (no pydantic model): orjson parses it, the inputs become NumPy
columns in the model's order, the booster predicts with one thread, orjson writes the answer.
Authentication is cheap: an API key is one SHA-256 and a dictionary look-up in the registry (kept
fresh by its poller); a verified bearer token is remembered for ``auth_cache_seconds``.
Small requests are predicted on the event loop: a thread hop would cost more than the booster.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

import numpy as np
import orjson
from dsw_recipe import RecipeDataError
from fastapi import APIRouter, Request, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from dsw_kit.app import ServiceRuntime
from dsw_kit.auth import Authenticator, Principal
from dsw_kit.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unauthorized,
    UnprocessableEntity,
    problem_responses,
)
from dsw_kit.logging import current_request_id
from dsw_serving.monitoring.invocation_log import InvocationLog
from dsw_serving.predict.batching import MicroBatcher
from dsw_serving.predict.inputs import rows_of, to_arrays, top_k_of
from dsw_serving.predict.models import Predictor, Ranking
from dsw_serving.predict.registry import ERRORS, LiveService, Registry, RevisionRef, registry_of
from dsw_serving.settings import ServingSettings

_P = ParamSpec("_P")
_T = TypeVar("_T")
router = APIRouter(tags=["predictions"])
PREDICT_LOGGER = logging.getLogger("dsw.serving.predict")
PREDICT_SCOPES = ("serving:predict", "serving:read")
_JSON = "application/json"
_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
_K_SCHEMA: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "description": "Ranking models: items per group (default: the model's k parameter, else "
    "10; at most predict_max_top_k); other models ignore it",
}

_PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _JSON: {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "properties": {
                                "records": {"type": "array", "items": {"type": "object"}},
                                "k": _K_SCHEMA,
                            },
                            "required": ["records"],
                        },
                        {
                            "type": "object",
                            "properties": {"columns": {"type": "object"}, "k": _K_SCHEMA},
                            "required": ["columns"],
                        },
                    ]
                },
                "examples": {
                    "regression": {"value": {"records": [{"store": 1, "storeType": "A"}]}},
                    "ranking": {"value": {"records": [{"userId": "u1"}], "k": 3}},
                },
            }
        },
    },
    "responses": {
        "200": {
            "description": "Predictions, the revision that answered and the request id",
            "content": {
                _JSON: {
                    "schema": {
                        "type": "object",
                        "required": ["service", "revision", "request_id", "predictions"],
                        "properties": {
                            "service": {"type": "string"},
                            "revision": {"type": "integer"},
                            "request_id": {"type": "string"},
                            "predictions": {
                                "type": "array",
                                "description": "One per record; for a ranking model, the "
                                "scores of the items in top_k, group after group",
                            },
                            "probabilities": {
                                "type": "array",
                                "description": "Classifiers: the positive class's probability "
                                "per record (binary) or one list of class probabilities each",
                            },
                            "top_k": {
                                "type": "array",
                                "description": "Ranking models: per group (e.g. user) in "
                                "request order, its key fields, items best first, their scores",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "items": {"type": "array", "items": {"type": "string"}},
                                        "scores": {
                                            "type": "array",
                                            "items": {"type": "number"},
                                        },
                                    },
                                    "additionalProperties": True,
                                },
                            },
                        },
                    },
                    "examples": {
                        "ranking": {
                            "value": {
                                "service": "recs",
                                "revision": 1,
                                "request_id": "5f0c",
                                "predictions": [0.91, 0.42],
                                "top_k": [
                                    {"userId": "u1", "items": ["a", "b"], "scores": [0.91, 0.42]}
                                ],
                            }
                        }
                    },
                }
            },
        }
    },
}


@dataclass
class HotPath:
    """What the prediction routes share in one process."""

    runtime: ServiceRuntime
    settings: ServingSettings
    registry: Registry
    log: InvocationLog
    authenticator: Authenticator
    tokens: dict[str, tuple[Principal, float]]
    batchers: dict[tuple[Any, ...], MicroBatcher] = field(default_factory=dict)

    def batcher(
        self, live: LiveService, revision: RevisionRef, predictor: Predictor
    ) -> MicroBatcher:
        """The micro-batcher of one revision's model under the service's current policy."""
        assert live.batching is not None
        key = (live.id, revision.number, revision.model_uri, live.batching)
        batcher = self.batchers.get(key)
        if batcher is None:
            # A policy or model change makes a new batcher; the old one empties and is dropped.
            for old in [k for k in self.batchers if k[:2] == key[:2]]:
                del self.batchers[old]
            batcher = MicroBatcher(
                predictor.predict, live.batching, revision.labels, self.settings.inline_predict_rows
            )
            self.batchers[key] = batcher
        return batcher


def hot_path_of(runtime: ServiceRuntime) -> HotPath:
    """This process's hot-path state (built and started on first use)."""
    hot: HotPath | None = getattr(runtime, "hot_path", None)
    if hot is None:
        settings = runtime.settings
        assert isinstance(settings, ServingSettings)
        log = InvocationLog(settings)
        log.start()
        runtime.background.append(log)
        hot = HotPath(runtime, settings, registry_of(runtime), log, runtime.authenticator, {})
        runtime.hot_path = hot  # type: ignore[attr-defined]
    return hot


def _hot(request: Request) -> HotPath:
    hot: HotPath | None = getattr(request.app.state.runtime, "hot_path", None)
    return hot if hot is not None else hot_path_of(request.app.state.runtime)


# -- authentication ---------------------------------------------------------------------------


async def _service_for(request: Request, hot: HotPath, name: str) -> LiveService:
    """The service ``name`` as the caller may use it (API key or bearer token)."""
    api_key = request.headers.get("x-api-key")
    if api_key is not None:
        return await _by_api_key(hot, api_key, name)
    principal = _principal(request, hot)
    if not any(principal.has_scope(scope) for scope in PREDICT_SCOPES):
        raise Forbidden("the token lacks the scope 'serving:predict'", code="insufficient_scope")
    tenant = Authenticator.resolve_tenant(principal, request)
    live = hot.registry.services.get((tenant.org_id, tenant.sandbox, name))
    if live is None:
        live = await run_in_threadpool(hot.registry.find_service, tenant, name)
    if live is None:
        raise NotFound(f"service {name!r} not found", code="service_not_found")
    return live


async def _by_api_key(hot: HotPath, api_key: str, name: str) -> LiveService:
    digest = hashlib.sha256(api_key.encode()).hexdigest()
    owner = hot.registry.keys.get(digest)
    if owner is None and api_key.startswith("dsk_") and len(api_key) < 100:
        owner = await run_in_threadpool(hot.registry.find_key, digest)
    # The same answer whether the key is unknown or opens another service: nothing to probe.
    if owner is None or owner.name != name:
        raise Unauthorized("the API key is not valid for this service", code="invalid_api_key")
    live = hot.registry.services.get((owner.tenant.org_id, owner.tenant.sandbox, name))
    if live is None or digest not in live.key_hashes:
        raise Unauthorized("the API key is not valid for this service", code="invalid_api_key")
    return live


def _principal(request: Request, hot: HotPath) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("an API key (x-api-key) or a bearer token is required")
    token = token.strip()
    now = time.monotonic()
    cached = hot.tokens.get(token)
    if cached is not None and cached[1] > now:
        return cached[0]
    principal = hot.authenticator.verify(token)
    if len(hot.tokens) > 10_000:
        hot.tokens.clear()
    hot.tokens[token] = (principal, now + hot.settings.auth_cache_seconds)
    return principal


# -- the prediction -----------------------------------------------------------------------------


async def _body(request: Request, hot: HotPath) -> Any:
    limit = hot.settings.predict_max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error}", code="invalid_json") from error


@dataclass
class Outcome:
    """A prediction's answer and what the invocation log needs."""

    revision: RevisionRef
    predictor: Predictor
    predictions: np.ndarray
    probabilities: np.ndarray | None
    columns: dict[str, list[Any]]
    count: int
    ranking: Ranking | None = None


async def _predict(
    hot: HotPath,
    live: LiveService,
    columns: dict[str, list[Any]],
    count: int,
    form: str,
    k: int | None = None,
) -> tuple[Outcome, RevisionRef | None]:
    answer, shadow = live.route()
    predictor = hot.registry.predictor(answer)
    if predictor is None:  # evicted from the cache since: load again, off the event loop
        predictor = await run_in_threadpool(hot.registry.models.load, answer.model_uri)
    arrays = to_arrays(columns, count, answer.fields, form)
    if predictor.is_ranking:
        top_k = k or min(predictor.default_k, hot.settings.predict_max_top_k)
        ranking = await run_in_threadpool(_slow_path, predictor.rank, arrays, top_k)
        outcome = Outcome(answer, predictor, ranking.scores, None, columns, count, ranking)
        return outcome, shadow
    if count == 1 and live.batching is not None and predictor.fast_path is not None:
        predictions, probabilities = await hot.batcher(live, answer, predictor).submit(arrays)
    elif count <= hot.settings.inline_predict_rows and predictor.fast_path is not None:
        predictions, probabilities = predictor.predict(arrays)
    elif predictor.fast_path is not None:
        predictions, probabilities = await run_in_threadpool(predictor.predict, arrays)
    else:
        predictions, probabilities = await run_in_threadpool(_slow_path, predictor.predict, arrays)
    outcome = Outcome(answer, predictor, predictions, probabilities, columns, count)
    return outcome, shadow


def _slow_path(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """A recipe's own scoring: data it cannot use (e.g. no valid row) is a 422, not a 500."""
    try:
        return call(*args, **kwargs)
    except RecipeDataError as error:
        raise UnprocessableEntity(str(error), code="unusable_input") from error


def _log(
    hot: HotPath,
    live: LiveService,
    request_id: str,
    outcome: Outcome,
    started: float,
    shadow: bool = False,
) -> None:
    elapsed = time.perf_counter() - started
    revision = outcome.revision
    if not shadow:
        revision.ok.inc()
        revision.latency.observe(elapsed)
        revision.rows.observe(outcome.count)
    if hot.log.sampled():
        hot.log.record(
            {
                "org": live.tenant.org_id,
                "sandbox": live.tenant.sandbox,
                "service": live.name,
                "request_id": request_id,
                "revision": revision.number,
                "shadow": shadow,
                "inputs": outcome.columns,
                # Classifiers log probabilities: live AUC and drift need them, labels follow.
                "outputs": (
                    outcome.probabilities
                    if outcome.probabilities is not None
                    else outcome.predictions
                ),
                "latency_ms": round(elapsed * 1000.0, 3),
                "at": time.time(),
            }
        )


def _shadow_task(
    hot: HotPath,
    live: LiveService,
    shadow: RevisionRef,
    outcome: Outcome,
    request_id: str,
    form: str,
) -> BackgroundTask:
    def run() -> None:
        started = time.perf_counter()
        try:
            predictor = hot.registry.models.load(shadow.model_uri)
            arrays = to_arrays(outcome.columns, outcome.count, shadow.fields, form)
            predictions, probabilities = predictor.predict(arrays)
        except Exception as error:  # a shadow's failure is recorded, never the caller's problem
            ERRORS.labels(*shadow.labels[:3], "shadow").inc()
            PREDICT_LOGGER.warning("shadow revision %d failed: %s", shadow.number, error)
            return
        copy = Outcome(
            shadow, predictor, predictions, probabilities, outcome.columns, outcome.count
        )
        _log(hot, live, request_id, copy, started, shadow=True)

    return BackgroundTask(run)


async def _serve(
    request: Request,
    name: str,
    parse: Callable[[Any, int], tuple[dict[str, list[Any]], int, str]],
    render: Callable[[LiveService, Outcome, str], Any],
    *,
    takes_k: bool = False,
) -> Response:
    started = time.perf_counter()
    hot = _hot(request)
    live = await _service_for(request, hot, name)
    try:
        body = await _body(request, hot)
        columns, count, form = parse(body, hot.settings.predict_max_records)
        k = top_k_of(body, hot.settings.predict_max_top_k) if takes_k else None
        outcome, shadow = await _predict(hot, live, columns, count, form, k)
    except ProblemError as error:
        ERRORS.labels(live.tenant.org_id, live.tenant.sandbox, live.name, str(error.status)).inc()
        raise
    request_id = current_request_id() or ""
    _log(hot, live, request_id, outcome, started)
    background = (
        _shadow_task(hot, live, shadow, outcome, request_id, form) if shadow is not None else None
    )
    content = orjson.dumps(render(live, outcome, request_id), option=_DUMP_OPTIONS)
    return Response(content, media_type=_JSON, background=background)


def _render_predict(live: LiveService, outcome: Outcome, request_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "service": live.name,
        "revision": outcome.revision.number,
        "request_id": request_id,
        "predictions": outcome.predictions,
    }
    if outcome.probabilities is not None:
        answer["probabilities"] = outcome.probabilities
    if outcome.ranking is not None:
        answer["top_k"] = outcome.ranking.groups
    return answer


@router.post(
    "/serving/v1/services/{name}/predict",
    summary="Predict from records ({feature: value}) or columns; API key or bearer token",
    responses=problem_responses(400, 401, 403, 404, 413, 422),
    openapi_extra=_PREDICT_BODY,
)
async def predict(name: str, request: Request) -> Response:
    return await _serve(request, name, rows_of, _render_predict, takes_k=True)


async def _raw_predict(request: Request) -> Response:
    name = request.path_params["name"]
    return await _serve(request, name, rows_of, _render_predict, takes_k=True)


# The same endpoint as a plain Starlette route, matched first: it skips FastAPI's dependency
# and parameter solving on the hottest path (the route above stays for the OpenAPI document).
router.routes.insert(
    0,
    Route(
        "/serving/v1/services/{name}/predict",
        _raw_predict,
        methods=["POST"],
        include_in_schema=False,
    ),
)


# -- MLflow scoring server compatibility ----------------------------------------------------------


def _mlflow_rows(body: Any, max_records: int) -> tuple[dict[str, list[Any]], int, str]:
    if isinstance(body, dict):
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            if not isinstance(split, dict) or not isinstance(split.get("data"), list):
                raise BadRequest("dataframe_split needs columns and data", code="invalid_body")
            names = list(split.get("columns") or [])
            records = [dict(zip(names, row, strict=False)) for row in split["data"]]
            return rows_of({"records": records}, max_records)
        if "dataframe_records" in body:
            return rows_of({"records": body["dataframe_records"]}, max_records)
        if "inputs" in body:
            inputs = body["inputs"]
            if isinstance(inputs, dict):
                columns = {k: v if isinstance(v, list) else [v] for k, v in inputs.items()}
                return rows_of({"columns": columns}, max_records)
            return rows_of({"records": inputs}, max_records)
    raise BadRequest(
        "send dataframe_split, dataframe_records or inputs (MLflow scoring server formats)",
        code="invalid_body",
    )


def _render_mlflow(live: LiveService, outcome: Outcome, request_id: str) -> dict[str, Any]:
    return {"predictions": outcome.predictions}


@router.post(
    "/serving/v1/services/{name}/invocations",
    summary="Predict in MLflow scoring server formats (dataframe_split, dataframe_records, inputs)",
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def invocations(name: str, request: Request) -> Response:
    return await _serve(request, name, _mlflow_rows, _render_mlflow)


# -- Open Inference Protocol v2 ------------------------------------------------------------

_OIP_TYPES = {"number": "FP64", "integer": "INT64", "boolean": "BOOL"}


def _oip_rows(body: Any, max_records: int) -> tuple[dict[str, list[Any]], int, str]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(item, dict) for item in inputs):
        raise BadRequest("inputs must be a list of tensors {name, shape, datatype, data}")
    columns: dict[str, list[Any]] = {}
    for item in inputs:
        data = item.get("data")
        if not isinstance(item.get("name"), str) or not isinstance(data, list):
            raise BadRequest("every input needs a name and a data list", code="invalid_body")
        columns[item["name"]] = data
    return rows_of({"columns": columns}, max_records)


def _render_oip(live: LiveService, outcome: Outcome, request_id: str) -> dict[str, Any]:
    predictions = outcome.predictions
    outputs = [
        {
            "name": "predictions",
            "shape": list(predictions.shape),
            "datatype": "INT64" if predictions.dtype.kind == "i" else "FP64",
            "data": predictions.ravel(),
        }
    ]
    if outcome.probabilities is not None:
        probabilities = outcome.probabilities
        outputs.append(
            {
                "name": "probabilities",
                "shape": list(probabilities.shape),
                "datatype": "FP64",
                "data": probabilities.ravel(),
            }
        )
    return {
        "model_name": live.name,
        "model_version": str(outcome.revision.number),
        "id": request_id,
        "outputs": outputs,
    }


@router.post(
    "/v2/models/{name}/infer",
    summary="Open Inference Protocol v2: one input tensor per column",
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def oip_infer(name: str, request: Request) -> Response:
    return await _serve(request, name, _oip_rows, _render_oip)


@router.get("/v2/health/live", summary="Open Inference Protocol v2: the server is alive")
def oip_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", summary="Open Inference Protocol v2: the server is ready")
def oip_ready(request: Request) -> dict[str, bool]:
    _hot(request)
    return {"ready": True}


@router.get(
    "/v2/models/{name}",
    summary="Open Inference Protocol v2: the model's metadata (inputs in order)",
    responses=problem_responses(401, 403, 404),
)
async def oip_metadata(name: str, request: Request) -> dict[str, Any]:
    hot = _hot(request)
    live = await _service_for(request, hot, name)
    revision = live.primary
    return {
        "name": live.name,
        "versions": [str(ref.number) for ref in live.revisions()],
        "platform": "lightgbm",
        "inputs": [
            {"name": field.name, "datatype": _OIP_TYPES.get(field.kind, "BYTES"), "shape": [-1]}
            for field in revision.fields
        ],
        "outputs": [{"name": "predictions", "datatype": "FP64", "shape": [-1]}],
    }


@router.get(
    "/v2/models/{name}/ready",
    summary="Open Inference Protocol v2: whether the model is loaded and answering",
    responses=problem_responses(401, 403, 404),
)
async def oip_model_ready(name: str, request: Request) -> dict[str, Any]:
    hot = _hot(request)
    live = await _service_for(request, hot, name)
    ready = all(hot.registry.predictor(ref) is not None for ref in live.revisions())
    return {"name": live.name, "ready": ready}
