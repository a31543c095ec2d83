"""Recipes, a model made from the generated form, training with live status, comparison."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from html import unescape
from typing import Any

from dsw_console.app import create_app
from fastapi.testclient import TestClient

from dsw_kit.settings import PlatformSettings

from .conftest import Console, console_settings
from .helpers import FAST, first_link, wait_for
from .test_datasets import _create_retail_dataset, _upload


def _retail_recipe(console: Console) -> str:
    recipes = console.client.get("/recipes").text
    match = re.search(r'href="/recipes/([0-9a-f-]{36})">retail-sales<', recipes)
    assert match, "the built-in retail recipe is listed"
    return match.group(1)


def _ingested_dataset(console: Console) -> str:
    from .helpers import RETAIL_CSV

    dataset_id = _create_retail_dataset(console)
    _upload(console, dataset_id, RETAIL_CSV.read_bytes())
    wait_for(
        lambda: "state-success" in console.client.get(f"/datasets/{dataset_id}/batches").text,
        "the retail batch",
    )
    return dataset_id


def test_recipe_detail_shows_the_hyperparameter_spec(
    console: Console, issue_token: Callable[..., str]
) -> None:
    console.sign_in(issue_token())
    recipe_id = _retail_recipe(console)
    page = console.client.get(f"/recipes/{recipe_id}").text
    assert "Hyperparameters of version 1.0.0" in page
    assert "<code>num_leaves</code>" in page
    assert "2 to 4096" in page  # the range from the JSON Schema
    form = console.client.get(first_link(page, "/models/new")).text
    # One labelled control per hyperparameter, prefilled with the default.
    assert '<label for="hp-num_leaves">num_leaves</label>' in form
    assert re.search(r'id="hp-num_leaves" name="hp.num_leaves" type="number" value="31"', form)
    assert '<select id="hp-target_transform" name="hp.target_transform"' in form


def test_model_from_the_generated_form_trains_and_compares(
    console: Console, issue_token: Callable[..., str]
) -> None:
    console.sign_in(issue_token())
    dataset_id = _ingested_dataset(console)
    recipe_id = _retail_recipe(console)
    form_page = console.client.get(f"/models/new?recipe_id={recipe_id}").text
    version_id = re.search(r'name="version_id" value="([^"]+)"', form_page)
    assert version_id
    base = {
        "recipe_id": recipe_id,
        "version_id": version_id.group(1),
        "name": "retail-forecast",
        "dataset_id": dataset_id,
    }
    fields = {f"hp.{name}": value for name, value in FAST.items()}

    # Out of range: the recipes service's field error is shown beside the field.
    refused = console.client.post("/models", data={**base, **fields, "hp.num_leaves": "1"})
    assert refused.status_code == 422
    assert 'id="hp-num_leaves-error"' in refused.text
    assert 'aria-invalid="true"' in refused.text
    # Not a number at all: refused by the console before any call.
    typed = console.client.post("/models", data={**base, **fields, "hp.num_leaves": "many"})
    assert typed.status_code == 422
    assert "must be a whole number" in typed.text

    created = console.client.post("/models", data={**base, **fields}, follow_redirects=False)
    assert created.status_code == 303, created.text
    model_path = created.headers["location"]
    model_page = console.client.get(model_path).text
    assert "n_estimators=15" in model_page
    assert "No training runs yet" in model_page
    # The training dataset by its name (named "retail" above), its id a click away.
    assert f'<a href="/datasets/{dataset_id}" title="{dataset_id}">retail</a>' in model_page

    run_paths = []
    for _ in range(2):
        queued = console.client.post(f"{model_path}/runs", follow_redirects=False)
        assert queued.status_code == 303
        run_paths.append(queued.headers["location"])
    run_page = console.client.get(run_paths[0]).text
    assert 'hx-trigger="every 1s"' in run_page  # live status while the run is not final

    def finished(path: str) -> str | None:
        response = console.client.get(f"{path}/status", headers={"HX-Request": "true"})
        return response.text if response.headers.get("HX-Refresh") == "true" else None

    for path in run_paths:
        status = wait_for(lambda path=path: finished(path), "the training run", timeout=120)
        assert "state-succeeded" in status, status
        assert 'hx-trigger="every' not in status  # polling stops at the end
    done = console.client.get(run_paths[0]).text
    assert "Publish as a service" in done
    assert "mape" in done
    # The baseline beside the model's metrics, and the features' importance.
    assert '<th scope="col" class="num">Baseline</th>' in done
    assert "Feature importance" in done
    # The run and its model version link to their pages in the MLflow UI.
    assert re.search(r'href="http://mlflow\.test:5000/#/experiments/\d+/runs/[0-9a-f]{32}"', done)
    assert re.search(r'href="http://mlflow\.test:5000/#/models/[^"/]+/versions/\d+"', done)
    model_page = console.client.get(model_path).text
    assert 'href="http://mlflow.test:5000/#/models/' in model_page

    # No direction given: the recipe's (MAPE: lower is better).
    default = console.client.get(f"{model_path}?metric=mape").text
    assert f'src="{model_path}/chart.svg?metric=mape&amp;direction=min"' in default
    assert '<option value="" selected>as the recipe says (lower)</option>' in default
    compared = console.client.get(f"{model_path}?metric=mape&direction=min").text
    assert f'src="{model_path}/chart.svg?metric=mape&amp;direction=min"' in compared
    assert "★ best" in compared
    chart = console.client.get(f"{model_path}/chart.svg", params={"metric": "mape"})
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in chart.text

    # A retraining schedule from the schedules page.
    model_id = model_path.rsplit("/", 1)[1]
    scheduled = console.client.post(
        "/schedules",
        data={"model_id": model_id, "name": "weekly", "cron": "0 3 * * 1", "timezone": "UTC"},
        follow_redirects=False,
    )
    assert scheduled.status_code == 303, scheduled.text
    schedules = console.client.get("/schedules").text
    assert "<code>0 3 * * 1</code>" in schedules
    bad_cron = console.client.post("/schedules", data={"model_id": model_id, "cron": "every day"})
    assert bad_cron.status_code == 422

    # Publish the run in one click, then predict with the try-it form and make an API key.
    published = console.client.post(
        "/services/publish",
        data={"run_id": run_paths[0].rsplit("/", 1)[1], "model_name": "retail-forecast"},
        follow_redirects=False,
    )
    assert published.status_code == 303, published.text
    service_path = published.headers["location"]
    again = console.client.post(
        "/services/publish",
        data={"run_id": run_paths[0].rsplit("/", 1)[1], "model_name": "retail-forecast"},
        follow_redirects=False,
    )
    assert again.headers["location"] == service_path  # a double click publishes once
    service_page = console.client.get(service_path).text
    assert "live" in service_page
    records = re.search(r'name="records"[^>]*>([^<]*)</textarea>', service_page)
    assert records, "the try-it form is prefilled with the model's inputs"
    example = json.loads(unescape(records.group(1)))
    answer = console.client.post(
        f"{service_path}/predict", data={"records": _retail_records(example)}
    )
    assert answer.status_code == 200, answer.text
    assert "Answer" in answer.text
    _live_metrics_panel(console, service_path, answer.text, _retail_records(example), issue_token())
    key = console.client.post(f"{service_path}/keys", data={"key_name": "shop"})
    assert key.status_code == 200
    assert 'id="new-key"' in key.text
    assert key.headers["cache-control"] == "no-store"
    assert "/services/" in console.client.get("/services").text

    # Score the training dataset with the first run; the predictions become a new dataset.
    form = console.client.get(f"/scoring/new?run_id={run_paths[0].rsplit('/', 1)[1]}").text
    assert f'value="{run_paths[0].rsplit("/", 1)[1]}"' in form
    started = console.client.post(
        "/scoring",
        data={
            "run_id": run_paths[0].rsplit("/", 1)[1],
            "input_dataset_id": dataset_id,
            "output_name": "retail-scores",
        },
        follow_redirects=False,
    )
    assert started.status_code == 303, started.text
    scoring_path = started.headers["location"]

    def scoring_finished() -> str | None:
        page = console.client.get(scoring_path).text
        return page if "state-succeeded" in page or "state-failed" in page else None

    scored = wait_for(scoring_finished, "the scoring run")
    assert "state-succeeded" in scored, scored
    assert scoring_path in console.client.get("/scoring").text


def _live_metrics_panel(
    console: Console, service_path: str, answer: str, prediction_body: str, token: str
) -> None:
    """Each refresh of the panel adds a sample of serving's counters; feedback gives accuracy."""

    def refresh(samples: str = "") -> str:
        panel = console.client.get(
            f"{service_path}/metrics", params={"samples": samples}, headers={"HX-Request": "true"}
        )
        assert panel.status_code == 200, panel.text
        return panel.text

    def samples_of(panel: str) -> str:
        found = re.search(r'name="samples" value="([^"]*)"', panel)
        assert found, "the panel keeps its samples"
        return unescape(found.group(1))

    first = refresh()
    assert "Collecting: the first rates appear" in first
    assert "No feedback in this period yet" in first
    prediction = json.loads(
        unescape(re.search(r'aria-label="Prediction">([^<]*)</pre>', answer)[1])
    )
    again = console.client.post(f"{service_path}/predict", data={"records": prediction_body})
    assert again.status_code == 200, again.text
    second = refresh(samples_of(first))
    assert 'aria-label="Requests per second. revision 1: latest 0 ' not in second
    assert 'aria-label="Requests per second.' in second
    assert 'aria-label="Mean latency (ms).' in second
    assert len(json.loads(samples_of(second))) == 2

    assert console.serving is not None
    sent = console.serving.post(
        f"/serving/v1{service_path}/feedback",
        json={"items": [{"request_id": prediction["request_id"], "actual": 20000.0}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert sent.status_code == 200, sent.text

    # The prediction reaches serving's invocation log through the broker, then joins the feedback.
    def with_accuracy() -> str | None:
        panel = refresh()
        return panel if 'aria-label="Live rmse.' in panel else None

    accuracy = wait_for(with_accuracy, "live accuracy from the feedback")
    assert 'aria-label="Live feedback rows. revision 1: latest 1,' in accuracy
    refused = console.client.get(f"{service_path}/metrics", params={"span": "year"})
    assert refused.status_code == 422
    assert "/query/span" in refused.text


def _retail_records(example: dict[str, Any]) -> str:
    """The prefilled example's fields, filled from one retail row (names matched ignoring case)."""
    row: dict[str, Any] = {
        "date": "2012-10-26",
        "store": 1,
        "storeType": "A",
        "storeSize": 151315,
        "temperature": 60.0,
        "regionalFuelPrice": 3.5,
        "markDown": 0.0,
        "cpi": 220.0,
        "unemployment": 7.0,
        "isHoliday": False,
    }
    by_name = {name.lower(): value for name, value in row.items()}
    record = {
        name: by_name.get(name.lower(), value) for name, value in example["records"][0].items()
    }
    return json.dumps({"records": [record]})


def test_unavailable_services_and_health(platform: PlatformSettings) -> None:
    """A console whose APIs are all unreachable still renders, with readable states."""
    with TestClient(create_app(console_settings(platform))) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert set(ready.json()["checks"].values()) == {"unavailable"}
        # The token cannot be checked while the catalog is down: the session starts anyway and
        # every page says which service is unavailable.
        signed_in = client.post("/login/dev", data={"org": "acme"}, follow_redirects=False)
        assert signed_in.status_code == 303
        for path in ("/datasets", "/recipes", "/models", "/services", "/scoring", "/schedules"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert "service unavailable" in page.text, path
        detail = client.get("/datasets/8d3f6f8e-0000-4000-8000-000000000000")
        assert detail.status_code == 503
        assert "cannot be reached" in detail.text
        missing = client.get("/no-such-page")
        assert missing.status_code == 404
        assert "no such page" in missing.text
