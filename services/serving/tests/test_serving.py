"""End to end: publish from real training runs, predict through every protocol, traffic, keys,
automatic promotion from real training events, feedback and health (real broker, real MLflow)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from dsw_recipe import RunContext, load_model
from dsw_recipe.datasets import load_luma_interactions

from dsw_serving.monitoring.live import psi
from dsw_serving.predict.batching import MICROBATCH_SIZE
from dsw_serving.publishing.promotion import judge

from .conftest import World
from .helpers import create_model, ingest_luma, retail_records, train, wait_for

SERVICES = "/serving/v1/services"


def _records(count: int) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k != "_actual"} for row in retail_records(count)]


def _publish(world: World, name: str, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"name": name, "source": source, **extra}
    response = world.serving.post(SERVICES, json=body, headers=world.headers())
    assert response.status_code == 201, response.text
    return dict(response.json())


def _key(world: World, name: str) -> str:
    created = world.serving.post(
        f"{SERVICES}/{name}/keys", json={"name": "app"}, headers=world.headers()
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def _predict(world: World, name: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = world.serving.post(
        f"{SERVICES}/{name}/predict", json=body, headers={"x-api-key": key}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_publish_and_predict_by_key_and_token_in_every_format(world: World) -> None:
    service = _publish(world, "sales", {"training_run_id": world.run["id"]})
    assert service["traffic"] == {
        "mode": "single",
        "revision": 1,
        "secondary_revision": None,
        "percent": 0,
        "previous_revision": None,
    }
    revisions = world.serving.get(f"{SERVICES}/sales/revisions", headers=world.headers()).json()
    assert [r["training_run_id"] for r in revisions] == [world.run["id"]]
    assert revisions[0]["metrics"] == world.run["metrics"]
    again = world.serving.post(
        SERVICES,
        json={"name": "sales", "source": {"training_run_id": world.run["id"]}},
        headers=world.headers(),
    )
    assert again.status_code == 409
    key = _key(world, "sales")
    listed = world.serving.get(f"{SERVICES}/sales/keys", headers=world.headers()).json()
    assert len(listed) == 1
    assert "key" not in listed[0]
    assert key.startswith(listed[0]["prefix"])

    records = _records(5)
    answer = world.serving.post(
        f"{SERVICES}/sales/predict", json={"records": records}, headers={"x-api-key": key}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["revision"] == 1
    assert body["service"] == "sales"
    assert body["request_id"] == answer.headers["x-request-id"]
    # The same numbers as the model's own fast path on the same rows.
    fast_path = load_model(
        world.run["mlflow"]["model_uri"],
        tracking_uri=world.platform.resolved_mlflow_tracking_uri,
    ).fast_path
    assert fast_path is not None
    columns = {
        "date": np.array([r["date"] for r in records], dtype="datetime64[us]"),
        **{
            name: np.array(
                [r[name] for r in records], dtype=object if name == "storeType" else None
            )
            for name in records[0]
            if name != "date"
        },
    }
    np.testing.assert_allclose(body["predictions"], fast_path.predict(columns), rtol=1e-9)

    columnar = {name: [r[name] for r in records] for name in records[0]}
    by_token = world.serving.post(
        f"{SERVICES}/sales/predict",
        json={"columns": columnar},
        headers=world.headers(scopes=["serving:read"]),
    )
    assert by_token.status_code == 200, by_token.text
    assert by_token.json()["predictions"] == body["predictions"]

    split = {"columns": list(records[0]), "data": [list(r.values()) for r in records]}
    for mlflow_body in (
        {"dataframe_split": split},
        {"dataframe_records": records},
        {"inputs": columnar},
    ):
        mlflow = world.serving.post(
            f"{SERVICES}/sales/invocations", json=mlflow_body, headers={"x-api-key": key}
        )
        assert mlflow.status_code == 200, mlflow.text
        assert mlflow.json() == {"predictions": body["predictions"]}

    assert world.serving.get("/v2/health/live").json() == {"live": True}
    metadata = world.serving.get("/v2/models/sales", headers={"x-api-key": key}).json()
    assert [item["name"] for item in metadata["inputs"]][:2] == ["date", "store"]
    ready = world.serving.get("/v2/models/sales/ready", headers={"x-api-key": key}).json()
    assert ready == {"name": "sales", "ready": True}
    tensors = [
        {"name": name, "shape": [len(values)], "datatype": "BYTES", "data": values}
        for name, values in columnar.items()
    ]
    infer = world.serving.post(
        "/v2/models/sales/infer", json={"inputs": tensors}, headers={"x-api-key": key}
    )
    assert infer.status_code == 200, infer.text
    outputs = infer.json()["outputs"]
    assert outputs[0]["name"] == "predictions"
    assert outputs[0]["data"] == body["predictions"]


def test_bad_input_is_refused_naming_the_field(world: World) -> None:
    _publish(world, "checked", {"training_run_id": world.run["id"]})
    key = _key(world, "checked")
    url = f"{SERVICES}/checked/predict"
    record = _records(1)[0]

    def refused(body: Any, status: int) -> dict[str, Any]:
        response = world.serving.post(url, json=body, headers={"x-api-key": key})
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        return dict(response.json())

    missing = refused({"records": [{k: v for k, v in record.items() if k != "store"}]}, 422)
    assert [e["pointer"] for e in missing["errors"]] == ["/body/records/store"]
    assert "store" in missing["detail"]
    mistyped = refused({"records": [record | {"temperature": "hot", "date": "soon"}]}, 422)
    assert sorted(e["pointer"] for e in mistyped["errors"]) == [
        "/body/records/date",
        "/body/records/temperature",
    ]
    refused({"records": [record] * 51}, 413)
    refused({"rows": []}, 422)
    refused({"records": []}, 422)
    refused({"columns": {"store": [1, 2], "date": ["2012-01-06"]}}, 422)
    bad_json = world.serving.post(url, content=b"{not json", headers={"x-api-key": key})
    assert bad_json.status_code == 400
    unknown = world.serving.post(
        f"{SERVICES}/nowhere/predict", json={"records": [record]}, headers=world.headers()
    )
    assert unknown.status_code == 404
    assert world.serving.post(url, json={"records": [record]}).status_code == 401
    no_scope = world.serving.post(
        url, json={"records": [record]}, headers=world.headers(scopes=["catalog:read"])
    )
    assert no_scope.status_code == 403
    # Another tenant sees nothing of it; a key opens only its own service.
    other = world.headers(org_id="org-b")
    assert world.serving.get(f"{SERVICES}/checked", headers=other).status_code == 404
    assert world.serving.post(url, json={"records": [record]}, headers=other).status_code == 404
    wrong = world.serving.post(
        f"{SERVICES}/sales/predict", json={"records": [record]}, headers={"x-api-key": key}
    )
    assert wrong.status_code == 401
    # A revoked key is refused from then on.
    key_id = world.serving.get(f"{SERVICES}/checked/keys", headers=world.headers()).json()[0]["id"]
    revoked = world.serving.delete(f"{SERVICES}/checked/keys/{key_id}", headers=world.headers())
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert (
        world.serving.post(url, json={"records": [record]}, headers={"x-api-key": key}).status_code
        == 401
    )


def test_a_ranking_service_answers_the_top_k_items_per_user(world: World) -> None:
    dataset_id = ingest_luma(world.catalog, world.headers())
    model_id = create_model(
        world.training, world.headers(), dataset_id, "product-recommendations", "luma-recs"
    )
    run = train(world.training, world.headers(), model_id)
    _publish(world, "recs", {"training_run_id": run["id"]})
    key = _key(world, "recs")
    known = str(load_luma_interactions()["userId"][0])
    users = ["someone-new", known]

    body = _predict(world, "recs", key, {"records": [{"userId": u} for u in users], "k": 3})
    # Groups in the order the request named them, each with the same items, order and
    # scores as the recipe's own recommendation from the same model.
    loaded = load_model(
        run["mlflow"]["model_uri"], tracking_uri=world.platform.resolved_mlflow_tracking_uri
    )
    params = {**loaded.params, "k": 3}
    asked = pa.table(
        {
            "userId": users,
            "itemId": pa.nulls(len(users), pa.string()),
            "timestamp": pa.nulls(len(users), pa.timestamp("us")),
        }
    )
    features = loaded.recipe.prepare(asked, params, RunContext(), scoring=True)
    expected = loaded.recipe.recommend(loaded.model, features, params)  # type: ignore[attr-defined]
    assert [group["userId"] for group in body["top_k"]] == users
    for group in body["top_k"]:
        ranked = expected[group["userId"]]
        assert len(ranked) == 3
        assert group["items"] == [item for item, _ in ranked]
        np.testing.assert_allclose(group["scores"], [score for _, score in ranked], rtol=1e-9)
        assert group["scores"] == sorted(group["scores"], reverse=True)
    assert body["predictions"] == [s for group in body["top_k"] for s in group["scores"]]
    assert "probabilities" not in body

    # Without k: the model's own k (the recipe's default, 10); the columnar form works too.
    default = _predict(world, "recs", key, {"columns": {"userId": [known]}})
    assert len(default["top_k"][0]["items"]) == loaded.params["k"] == 10
    for bad_k in (0, 101, "3", 2.5):
        refused = world.serving.post(
            f"{SERVICES}/recs/predict",
            json={"records": [{"userId": known}], "k": bad_k},
            headers={"x-api-key": key},
        )
        assert refused.status_code == 422, refused.text
        assert [e["pointer"] for e in refused.json()["errors"]] == ["/body/k"]


def _revisions_live(world: World, name: str, versions: list[str]) -> bool:
    metadata = world.serving.get(f"/v2/models/{name}", headers=world.headers()).json()
    return bool(metadata.get("versions") == versions)


def test_canary_split_shadow_promote_and_rollback(world: World) -> None:
    service = _publish(
        world,
        "traffic",
        {"model_id": world.model_id, "policy": "latest"},
        promotion={"auto_promote": False},
    )
    assert service["training_model_id"] == world.model_id
    second = world.serving.post(f"{SERVICES}/traffic/revisions", json={}, headers=world.headers())
    assert second.status_code == 201
    assert second.json()["number"] == 2
    key = _key(world, "traffic")
    record = {"records": _records(1)}
    etag = world.serving.get(f"{SERVICES}/traffic", headers=world.headers()).headers["etag"]
    canary = {"mode": "canary", "revision": 1, "secondary_revision": 2, "percent": 25}
    stale = world.serving.put(
        f"{SERVICES}/traffic/traffic", json=canary, headers=world.headers() | {"If-Match": '"0"'}
    )
    assert stale.status_code == 412
    routed = world.serving.put(
        f"{SERVICES}/traffic/traffic", json=canary, headers=world.headers() | {"If-Match": etag}
    )
    assert routed.status_code == 200, routed.text
    wait_for(lambda: _revisions_live(world, "traffic", ["1", "2"]), "the canary to be live")
    answered = [_predict(world, "traffic", key, record)["revision"] for _ in range(100)]
    assert answered.count(2) == 25
    assert answered.count(1) == 75

    shadow = {"mode": "shadow", "revision": 1, "secondary_revision": 2}
    assert (
        world.serving.put(
            f"{SERVICES}/traffic/traffic", json=shadow, headers=world.headers()
        ).status_code
        == 200
    )
    wait_for(
        lambda: (
            world.serving.get(f"{SERVICES}/traffic", headers=world.headers()).json()["traffic"][
                "mode"
            ]
            == "shadow"
        ),
        "shadow",
    )
    wait_for(
        lambda: (
            _predict(world, "traffic", key, record)["revision"] == 1
            and _all_primary(world, key, record)
        ),
        "shadow routing",
    )
    # The shadow's answers are logged (stored by the invocation consumer), never returned.
    health = wait_for(
        lambda: _health_with(world, "traffic", "2 (shadow)"), "shadow invocations stored"
    )
    assert health["traffic"]["2 (shadow)"] >= 1

    promoted = world.serving.post(
        f"{SERVICES}/traffic/promote", json={"revision": 2}, headers=world.headers()
    )
    assert promoted.status_code == 200
    assert promoted.json()["traffic"]["previous_revision"] == 1
    wait_for(lambda: _predict(world, "traffic", key, record)["revision"] == 2, "promotion")
    rolled = world.serving.post(f"{SERVICES}/traffic/rollback", headers=world.headers())
    assert rolled.status_code == 200
    assert rolled.json()["traffic"]["revision"] == 1
    wait_for(lambda: _predict(world, "traffic", key, record)["revision"] == 1, "rollback")
    missing = world.serving.post(
        f"{SERVICES}/traffic/promote", json={"revision": 9}, headers=world.headers()
    )
    assert missing.status_code == 422


def _all_primary(world: World, key: str, record: dict[str, Any]) -> bool:
    return all(_predict(world, "traffic", key, record)["revision"] == 1 for _ in range(5))


def _health_with(world: World, name: str, traffic_key: str) -> dict[str, Any] | None:
    health = world.serving.get(f"{SERVICES}/{name}/health", headers=world.headers()).json()
    return dict(health) if traffic_key in health["traffic"] else None


def test_a_better_training_run_is_promoted_automatically(world: World) -> None:
    source = {"model_id": world.model_id, "policy": "latest"}
    _publish(world, "auto-min", source, promotion={"metric": "rmse", "direction": "min"})
    _publish(
        world,
        "auto-max",
        source,
        promotion={"metric": "rmse", "direction": "max", "mode": "canary", "canary_percent": 20},
    )
    _publish(world, "auto-pinned", source)
    pinned = world.serving.patch(
        f"{SERVICES}/auto-pinned", json={"pinned": True}, headers=world.headers()
    )
    assert pinned.status_code == 200
    assert pinned.json()["pinned"] is True

    run = train(
        world.training, world.headers(), world.model_id, {"n_estimators": 40, "num_leaves": 15}
    )
    old, new = world.run["metrics"]["rmse"], run["metrics"]["rmse"]
    assert old != new

    def decided(name: str) -> dict[str, Any] | None:
        items = world.serving.get(f"{SERVICES}/{name}/decisions", headers=world.headers()).json()
        return dict(items[0]) if items else None

    lower = wait_for(lambda: decided("auto-min"), "a decision for auto-min")
    higher = wait_for(lambda: decided("auto-max"), "a decision for auto-max")
    skipped = wait_for(lambda: decided("auto-pinned"), "a decision for auto-pinned")
    assert lower["training_run_id"] == run["id"]
    assert lower["revision"] == 2
    assert math.isclose(lower["candidate_value"], new)
    assert math.isclose(lower["live_value"], old)
    assert skipped["action"] == "skipped"
    assert "pinned" in skipped["reason"]
    min_service = world.serving.get(f"{SERVICES}/auto-min", headers=world.headers()).json()
    max_service = world.serving.get(f"{SERVICES}/auto-max", headers=world.headers()).json()
    if new < old:
        assert (lower["action"], higher["action"]) == ("promoted", "kept")
        assert min_service["traffic"]["revision"] == 2
        assert max_service["traffic"] == {
            "mode": "single",
            "revision": 1,
            "secondary_revision": None,
            "percent": 0,
            "previous_revision": None,
        }
    else:
        assert (lower["action"], higher["action"]) == ("kept", "canary")
        assert min_service["traffic"]["revision"] == 1
        assert max_service["traffic"]["mode"] == "canary"
        assert max_service["traffic"]["secondary_revision"] == 2
        assert max_service["traffic"]["percent"] == 20


def test_feedback_gives_live_metrics_per_revision(world: World) -> None:
    _publish(world, "loop", {"training_run_id": world.run["id"]})
    key = _key(world, "loop")
    rows = retail_records(12)
    answers = [_predict(world, "loop", key, {"records": [_records(12)[i]]}) for i in range(12)]
    sent = world.serving.post(
        f"{SERVICES}/loop/feedback",
        json={
            "items": [
                {"request_id": answer["request_id"], "actual": row["_actual"]}
                for answer, row in zip(answers, rows, strict=True)
            ]
        },
        headers=world.headers(),
    )
    assert sent.status_code == 200
    assert sent.json() == {"accepted": 12}
    windows = wait_for(
        lambda: [
            w
            for w in world.serving.get(f"{SERVICES}/loop/metrics", headers=world.headers()).json()
            if w["rows"] == 12
        ],
        "live metrics over the 12 requests",
    )
    predicted = np.array([answer["predictions"][0] for answer in answers])
    actual = np.array([row["_actual"] for row in rows])
    assert windows[0]["revision"] == 1
    assert math.isclose(
        windows[0]["metrics"]["rmse"],
        float(np.sqrt(np.mean((actual - predicted) ** 2))),
        rel_tol=1e-9,
    )
    health = world.serving.get(f"{SERVICES}/loop/health", headers=world.headers()).json()
    assert health["traffic"]["1"] == 12
    assert health["live_metrics"][0]["rows"] == 12
    assert health["drift"]["predictions"] == pytest.approx(0.0, abs=1e-9)


def _microbatched_requests(labels: tuple[str, ...]) -> float:
    for metric in MICROBATCH_SIZE.collect():
        for sample in metric.samples:
            wanted = tuple(sample.labels.get(k) for k in ("org", "sandbox", "service", "revision"))
            if sample.name.endswith("_sum") and wanted == labels:
                return float(sample.value)
    return 0.0


def test_micro_batching_answers_concurrent_requests_as_unbatched(world: World) -> None:
    service = _publish(
        world,
        "batched",
        {"training_run_id": world.run["id"]},
        batching={"max_rows": 4, "max_wait_ms": 20},
    )
    assert service["batching"] == {"max_rows": 4, "max_wait_ms": 20.0}
    key = _key(world, "batched")
    records = _records(12)
    # One request with every record is not batched: the reference answers.
    expected = _predict(world, "batched", key, {"records": records})["predictions"]
    labels = ("org-a", "prod", "batched", "1")
    before = _microbatched_requests(labels)

    def one(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
        response = world.serving.post(
            f"{SERVICES}/batched/predict", json={"records": [record]}, headers={"x-api-key": key}
        )
        assert response.status_code == 200, response.text
        return dict(response.json()), response.headers["x-request-id"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(one, records))
    assert [body["predictions"][0] for body, _ in answers] == pytest.approx(expected, rel=1e-12)
    ids = [body["request_id"] for body, _ in answers]
    assert ids == [header for _, header in answers]
    assert len(set(ids)) == len(records)
    # Every single-record request went through a batch; each has its own log record.
    assert _microbatched_requests(labels) - before == len(records)

    def all_logged() -> bool:
        health = _health_with(world, "batched", "1")
        return health is not None and health["traffic"]["1"] == len(records) + 1

    wait_for(all_logged, "every request in the invocation log")

    # An explicit null turns it off; a PATCH without the field leaves it as it is.
    url = f"{SERVICES}/batched"
    off = world.serving.patch(url, json={"batching": None}, headers=world.headers())
    assert off.status_code == 200, off.text
    assert off.json()["batching"] is None
    on = world.serving.patch(
        url, json={"batching": {"max_rows": 8, "max_wait_ms": 1}}, headers=world.headers()
    )
    assert on.json()["batching"] == {"max_rows": 8, "max_wait_ms": 1.0}
    kept = world.serving.patch(url, json={"pinned": True}, headers=world.headers())
    assert kept.json()["batching"] == {"max_rows": 8, "max_wait_ms": 1.0}
    refused = world.serving.patch(url, json={"batching": {"max_rows": 1}}, headers=world.headers())
    assert refused.status_code == 422


def test_promotion_policy_and_drift_arithmetic() -> None:
    assert judge(90.0, 100.0, "rmse", "min", 0.05).better
    assert not judge(96.0, 100.0, "rmse", "min", 0.05).better
    assert not judge(100.0, 100.0, "rmse", "min", 0.0).better
    assert judge(0.8, 0.7, "auc", "max", 0.1).better
    assert not judge(None, 0.7, "auc", "max", 0.0).better
    assert judge(0.5, None, "auc", "max", 0.0).better
    rng = np.random.default_rng(7)
    baseline = rng.normal(0, 1, 5000)
    assert psi(baseline, rng.normal(0, 1, 5000)) < 0.05
    assert psi(baseline, rng.normal(1.5, 1, 5000)) > 0.2
    assert psi(baseline, baseline[:5]) is None


def _alias_version(world: World, registered_model: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=world.platform.resolved_mlflow_tracking_uri)
    try:
        return str(client.get_model_version_by_alias(registered_model, alias).version)
    except MlflowException:
        return None


def _training_schedules(world: World, name: str) -> list[dict[str, Any]]:
    listed = world.training.get(
        "/training/v1/schedules", params={"model_id": world.model_id}, headers=world.headers()
    )
    assert listed.status_code == 200, listed.text
    return [item for item in listed.json()["items"] if item["name"] == name]


def test_publishing_makes_retraining_and_scoring_schedules_that_follow_the_live_revision(
    world: World,
) -> None:
    body = {
        "name": "planned",
        "source": {"training_run_id": world.run["id"]},
        "promotion": {"auto_promote": False},
        "retraining_schedule": {
            "cron": "0 6 * * 1",
            "timezone": "Europe/Paris",
            "on_new_data": True,
            "hyperparameters": {"n_estimators": 10},
        },
        "scoring_schedule": {
            "input_dataset_id": world.dataset_id,
            "output": {"name": "planned-predictions"},
            "cron": "0 7 * * *",
        },
    }
    headers = world.headers() | {"Idempotency-Key": "publish-planned"}
    published = world.serving.post(SERVICES, json=body, headers=headers)
    assert published.status_code == 201, published.text
    schedules = published.json()["schedules"]
    assert schedules["scoring_alias"] == "serving-planned"
    # A retry with the same key makes nothing twice.
    again = world.serving.post(SERVICES, json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["schedules"] == schedules
    assert [s["id"] for s in _training_schedules(world, "serving-planned")] == [
        schedules["retraining"]
    ]

    retraining = world.training.get(
        f"/training/v1/schedules/{schedules['retraining']}", headers=world.headers()
    ).json()
    assert (retraining["model_id"], retraining["cron"], retraining["timezone"]) == (
        world.model_id,
        "0 6 * * 1",
        "Europe/Paris",
    )
    assert retraining["on_new_data"] is True
    scoring = world.scoring.get(
        f"/scoring/v1/schedules/{schedules['scoring']}", headers=world.headers()
    ).json()
    assert (scoring["model_id"], scoring["alias"], scoring["input_dataset_id"]) == (
        world.model_id,
        "serving-planned",
        world.dataset_id,
    )
    # The alias the scoring schedule resolves at each run names the live revision's version.
    registered = world.run["mlflow"]["registered_model"]
    first_version = world.run["mlflow"]["model_version"]
    assert _alias_version(world, registered, "serving-planned") == str(first_version)

    newer = train(world.training, world.headers(), world.model_id, {"n_estimators": 5})
    revision = world.serving.post(
        f"{SERVICES}/planned/revisions",
        json={"source": {"training_run_id": newer["id"]}, "promote": True},
        headers=world.headers(),
    )
    assert revision.status_code == 201, revision.text
    wait_for(
        lambda: (
            _alias_version(world, registered, "serving-planned")
            == str(newer["mlflow"]["model_version"])
        ),
        "the alias to follow the promotion",
    )
    rolled = world.serving.post(f"{SERVICES}/planned/rollback", headers=world.headers())
    assert rolled.status_code == 200, rolled.text
    wait_for(
        lambda: _alias_version(world, registered, "serving-planned") == str(first_version),
        "the alias to follow the rollback",
    )

    # Unpublishing deletes both schedules and the alias.
    assert world.serving.delete(f"{SERVICES}/planned", headers=world.headers()).status_code == 204
    gone = world.training.get(
        f"/training/v1/schedules/{schedules['retraining']}", headers=world.headers()
    )
    assert gone.status_code == 404
    gone = world.scoring.get(
        f"/scoring/v1/schedules/{schedules['scoring']}", headers=world.headers()
    )
    assert gone.status_code == 404
    assert _alias_version(world, registered, "serving-planned") is None


def test_a_schedule_refused_upstream_is_a_422_under_the_publish_field(world: World) -> None:
    source = {"training_run_id": world.run["id"]}
    bad_cron = world.serving.post(
        SERVICES,
        json={"name": "badplan", "source": source, "retraining_schedule": {"cron": "soon"}},
        headers=world.headers(),
    )
    assert bad_cron.status_code == 422, bad_cron.text
    assert [e["pointer"] for e in bad_cron.json()["errors"]] == ["/body/retraining_schedule/cron"]
    assert world.serving.get(f"{SERVICES}/badplan", headers=world.headers()).status_code == 404
    # Schedules are made as the caller: a token that may not write training schedules is a 403.
    no_scope = world.serving.post(
        SERVICES,
        json={"name": "badplan", "source": source, "retraining_schedule": {"on_new_data": True}},
        headers=world.headers(scopes=["serving:write", "training:read"]),
    )
    assert no_scope.status_code == 403, no_scope.text
    assert world.serving.get(f"{SERVICES}/badplan", headers=world.headers()).status_code == 404

    # The retraining schedule is made, then scoring refuses its input: nothing is left behind.
    bad_input = world.serving.post(
        SERVICES,
        json={
            "name": "badplan",
            "source": source,
            "retraining_schedule": {"on_new_data": True},
            "scoring_schedule": {
                "input_dataset_id": "00000000-0000-4000-8000-000000000000",
                "output": {"name": "nowhere"},
                "on_new_data": True,
            },
        },
        headers=world.headers(),
    )
    assert bad_input.status_code == 422, bad_input.text
    pointers = [e["pointer"] for e in bad_input.json()["errors"]]
    assert pointers == ["/body/scoring_schedule/input_dataset_id"]
    assert world.serving.get(f"{SERVICES}/badplan", headers=world.headers()).status_code == 404
    assert _training_schedules(world, "serving-badplan") == []
