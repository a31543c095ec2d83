"""The walkthrough behind ``dsw demo`` and ``make run``: from a CSV file to a live prediction.

Every step finds what an earlier run made (schema, dataset, model, runs, service, scores) before
creating anything, so running it again is quick and never fails on existing names.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from dsw._output import terminal_console
from dsw.client import Client
from dsw.models import Dataset, Model, Run, ScoringRun, Service

__all__ = ["CONFIGURATIONS", "DemoResult", "demo_records", "retail_csv", "run_demo"]

DATASET = "retail-sales"
SCORED = "retail-sales-scored"
MODEL = "retail-forecast"
SERVICE = "retail-forecast"
RECIPE = ("retail-sales", "1.0.0")
METRIC = "mape"
# The weeks scored in batch: the last quarter of the sample.
SCORING_WINDOW = {"start": "2012-01-01T00:00:00Z", "end": "2012-04-14T00:00:00Z"}
SCHEMA: dict[str, Any] = {
    "title": "Retail sales (demo)",
    "description": "Weekly sales per store, with store and regional context",
    "class": "https://ns.adobe.com/xdm/context/profile",
    "tenantId": "retail",
    "tenantFields": {
        "properties": {
            "date": {"type": "string", "format": "date"},
            "store": {"type": "integer", "minimum": 1},
            "storeType": {"type": "string", "enum": ["A", "B", "C"]},
            "weeklySales": {"type": "number", "minimum": 0},
            "storeSize": {"type": "integer", "minimum": 0},
            "temperature": {"type": "number"},
            "regionalFuelPrice": {"type": "number", "minimum": 0},
            "markDown": {"type": "number"},
            "cpi": {"type": "number"},
            "unemployment": {"type": "number", "minimum": 0, "maximum": 100},
            "isHoliday": {"type": "boolean"},
        },
        "required": ["date", "store", "weeklySales"],
    },
}
# Three configurations to compare: quick, default-like, and deeper trees learning slower.
CONFIGURATIONS: list[dict[str, Any]] = [
    {"learning_rate": 0.1, "n_estimators": 60, "num_leaves": 15},
    {"learning_rate": 0.05, "n_estimators": 150, "num_leaves": 31},
    {"learning_rate": 0.03, "n_estimators": 250, "num_leaves": 63},
]


def retail_csv() -> Path:
    """The retail sample shipped with the package (CC0, see data/LICENSE)."""
    return Path(str(resources.files("dsw") / "data" / "retail-training.csv"))


def demo_records(count: int, *, last_week: bool = False) -> list[dict[str, Any]]:
    """``count`` rows of the sample as predict records (``weeklySales`` = actual).

    The first rows, or with ``last_week`` those of the sample's last week.
    """
    with retail_csv().open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if last_week:
        newest = max(datetime.strptime(row["date"], "%m/%d/%y") for row in rows)
        rows = [row for row in rows if datetime.strptime(row["date"], "%m/%d/%y") == newest]
    records: list[dict[str, Any]] = []
    for row in rows[:count]:
        records.append(
            {
                "date": datetime.strptime(row["date"], "%m/%d/%y").date().isoformat(),
                "store": int(row["store"]),
                "storeType": row["storeType"],
                "storeSize": int(row["storeSize"]),
                "temperature": float(row["temperature"]),
                "regionalFuelPrice": float(row["regionalFuelPrice"]),
                "markdown": float(row["markDown"] or 0),
                "cpi": float(row["cpi"]),
                "unemployment": float(row["unemployment"]),
                "isHoliday": row["isHoliday"].lower() in ("true", "1"),
                "weeklySales": float(row["weeklySales"]),
            }
        )
    return records


@dataclass
class DemoResult:
    """What the walkthrough made (ids for scripts and tests)."""

    dataset: Dataset
    model: Model
    runs: list[Run]
    best: Run
    service: Service | None = None
    predictions: list[float] = field(default_factory=list)
    scoring: ScoringRun | None = None


def run_demo(
    client: Client,
    console: Console | None = None,
    *,
    configurations: list[dict[str, Any]] | None = None,
    fixed: dict[str, Any] | None = None,
) -> DemoResult:
    """Run the walkthrough; ``fixed`` params apply to every configuration (tests keep it small)."""
    say = console or terminal_console()
    dataset = _dataset(client, say)
    model = _model(client, dataset, say)
    chosen = [{**config, **(fixed or {})} for config in configurations or CONFIGURATIONS]
    runs = _train(client, model, chosen, say)
    best = _compare(client, model, runs, say)
    result = DemoResult(dataset, model, runs, best)
    result.service = _publish(client, best, say)
    result.predictions = _predict(client, result.service, say)
    result.scoring = _score(client, dataset, best, say)
    _summary(client, result, say)
    return result


def _dataset(client: Client, say: Console) -> Dataset:
    say.rule("1. Data: schema, dataset, ingestion")
    existing = client.datasets.find(DATASET)
    if existing is None:
        schema = client.schemas.find(SCHEMA["title"]) or client.schemas.create(SCHEMA)
        say.print(f"schema [bold]{schema.title}[/bold] ({schema.id})")
        existing = client.datasets.create(
            DATASET,
            schema_id=schema.id,
            description="Weekly retail sales (CC0 sample)",
            timestamp_field="_retail.date",
        )
    dataset = client.datasets.get(existing.id)
    if not dataset.get("row_count"):
        say.print(f"ingesting {retail_csv().name} into [bold]{DATASET}[/bold]")
        batch = client.datasets.ingest(
            dataset.id, retail_csv(), formats={"_retail.date": "%m/%d/%y"}, progress=True
        )
        if batch.status != "success":
            raise RuntimeError(f"ingestion ended {batch.status}: {batch.get('error')}")
        dataset = client.datasets.get(dataset.id)
    say.print(f"dataset [bold]{DATASET}[/bold]: {dataset.get('row_count')} rows ({dataset.id})")
    return dataset


def _model(client: Client, dataset: Dataset, say: Console) -> Model:
    say.rule("2. Model: the retail recipe on the dataset")
    model = client.models.find(MODEL)
    if model is None:
        model = client.models.create(
            MODEL,
            recipe_id=RECIPE[0],
            version_id=RECIPE[1],
            dataset_id=dataset.id,
            description="Weekly sales forecast per store",
        )
    say.print(f"model [bold]{MODEL}[/bold] (recipe {RECIPE[0]} {RECIPE[1]}, {model.id})")
    return model


def _train(
    client: Client, model: Model, configurations: list[dict[str, Any]], say: Console
) -> list[Run]:
    say.rule("3. Training: three configurations")
    done = {
        json.dumps(run.get("param_overrides") or {}, sort_keys=True): run
        for run in client.runs.list(model.id, state="succeeded")
    }
    runs: list[Run] = []
    for config in configurations:
        previous = done.get(json.dumps(config, sort_keys=True))
        if previous is not None:
            say.print(f"run {previous.id[:8]} with {config} already succeeded")
            runs.append(previous)
            continue
        # Queue every run first: the workers train them side by side while we wait.
        runs.append(client.runs.start(model.id, hyperparameters=config))
        say.print(f"run {runs[-1].id[:8]} queued with {config}")
    finished: list[Run] = []
    for run in runs:
        final = run if run.done else client.runs.wait(run.id, progress=True, poll=0.5)
        if final.state != "succeeded":
            raise RuntimeError(f"run {final.id} ended {final.state}: {final.get('error')}")
        finished.append(final)
    return finished


def _compare(client: Client, model: Model, runs: list[Run], say: Console) -> Run:
    say.rule("4. Comparison")
    comparison = client.models.compare(
        model.id, runs=[run.id for run in runs], metric=METRIC, direction="min"
    )
    from dsw._cli_ml import print_comparison

    print_comparison(comparison)
    best_id = comparison["best"]["run_id"]
    return next(run for run in runs if run.id == best_id)


def _publish(client: Client, best: Run, say: Console) -> Service:
    say.rule("5. Publishing the best run as a service")
    from dsw.errors import NotFound

    try:
        service = client.services.get(SERVICE)
    except NotFound:
        service = client.services.publish(SERVICE, training_run_id=best.id)
        say.print(f"published [bold]{SERVICE}[/bold] (revision 1 = run {best.id[:8]})")
        return service
    live = service["traffic"]["revision"]
    revisions = {int(item["number"]): item for item in client.services.revisions(SERVICE)}
    serving_run = revisions[live]["training_run_id"] if live in revisions else None
    if serving_run != best.id:
        added = client.services.add_revision(SERVICE, training_run_id=best.id, promote=True)
        say.print(f"revision {added['number']} (run {best.id[:8]}) is now live")
        return client.services.get(SERVICE)
    say.print(f"[bold]{SERVICE}[/bold] already serves run {best.id[:8]} (revision {live})")
    return service


def _predict(client: Client, service: Service, say: Console) -> list[float]:
    say.rule("6. A prediction from the live service")
    records = demo_records(3, last_week=True)
    inputs = [{k: v for k, v in record.items() if k != "weeklySales"} for record in records]
    answer = client.services.predict(service.name, inputs)
    predictions = [float(value) for value in answer["predictions"]]
    view = Table("date", "store", "actual weekly sales", "predicted")
    for record, predicted in zip(records, predictions, strict=True):
        view.add_row(
            record["date"],
            str(record["store"]),
            f"{record['weeklySales']:,.0f}",
            f"{predicted:,.0f}",
        )
    say.print(view)
    return predictions


def _score(client: Client, dataset: Dataset, best: Run, say: Console) -> ScoringRun:
    say.rule("7. Batch scoring of the last weeks into a new dataset")
    output = client.datasets.find(SCORED)
    if output is not None:
        for run in client.scoring.list(input_dataset_id=dataset.id, state="succeeded"):
            same_model = (run.get("model") or {}).get("training_run_id") == best.id
            if same_model and run["output_dataset_id"] == output.id:
                say.print(f"[bold]{SCORED}[/bold] already holds this model's scores")
                return run
    started = client.scoring.start(
        input_dataset_id=dataset.id,
        training_run_id=best.id,
        output_name=None if output else SCORED,
        output_dataset_id=output.id if output else None,
        window=SCORING_WINDOW,
    )
    final = client.scoring.wait(started.id, progress=True, poll=0.5)
    if final.state != "succeeded":
        raise RuntimeError(f"scoring run {final.id} ended {final.state}: {final.get('error')}")
    say.print(f"{final['progress']['rows_scored']} rows scored into [bold]{SCORED}[/bold]")
    return final


def _summary(client: Client, result: DemoResult, say: Console) -> None:
    say.rule("Summary")
    view = Table("run", *sorted(result.best.metrics), title=f"metrics (best by {METRIC})")
    for run in result.runs:
        mark = "* " if run.id == result.best.id else "  "
        view.add_row(
            mark + run.id[:8], *(f"{run.metrics[name]:.4g}" for name in sorted(result.best.metrics))
        )
    say.print(view)
    if result.service is not None:
        url = client.config.urls["serving"] + f"/serving/v1/services/{result.service.name}/predict"
        record = {k: v for k, v in demo_records(1, last_week=True)[0].items() if k != "weeklySales"}
        say.print(f"service URL: {url}", soft_wrap=True)
        say.print("call it:", soft_wrap=True)
        say.print(
            f'  curl -s -H "Authorization: Bearer $(.venv/bin/dsw token)" '
            f"-H 'content-type: application/json' -d '{json.dumps({'records': [record]})}' {url}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    if result.scoring is not None:
        say.print(
            f"scores: dataset {SCORED} ({result.scoring['output_dataset_id']}); "
            f"read it with dsw.Client().datasets.read(...) or: dsw datasets preview {SCORED}",
            soft_wrap=True,
        )
