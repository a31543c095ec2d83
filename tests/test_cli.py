"""Every ``dsw`` verb through typer's runner, against the real services in-process.

The commands build their client through ``dsw._output.client_factory``; the tests point it at
the in-process platform of ``tests.test_sdk`` (real broker, databases, MLflow, workers).
"""

from __future__ import annotations

import gzip
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from dsw import _output
from dsw.cli import app
from dsw.demo import demo_records

from .test_sdk import CSV_DATES, FAST, RETAIL, RETAIL_SCHEMA, Platform, platform

__all__ = ["platform"]  # the module-wide in-process platform fixture
runner = CliRunner()


@pytest.fixture(autouse=True)
def _cli_client(platform: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_output, "client_factory", platform.client)
    # Wide enough that table cells are never cut short in the captured output.
    monkeypatch.setattr(_output.console, "width", 240)
    monkeypatch.setattr(_output.errors, "width", 240)


def invoke(*args: str, code: int = 0) -> Result:
    """Run ``dsw args`` and check the exit code."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def dsw(*args: str, code: int = 0) -> str:
    """Run ``dsw args``; what it printed (stdout and stderr)."""
    return invoke(*args, code=code).output


def dsw_json(*args: str) -> Any:
    """Run ``dsw args --json``; its standard output, parsed."""
    result = invoke(*args, "--json")
    try:
        return json.loads(result.stdout)
    except ValueError as error:
        raise AssertionError(f"not JSON: {result.output!r}") from error


def platform_schema() -> str:
    """The retail schema's id (registered through the SDK)."""
    with _output.client() as client:
        found = client.schemas.find(RETAIL_SCHEMA["title"])
        return (found or client.schemas.create(RETAIL_SCHEMA)).id


def test_data_verbs(tmp_path: Path) -> None:
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(RETAIL_SCHEMA))
    schema = dsw_json("schemas", "create", str(schema_file))
    assert schema["title"] == "Retail sales"
    assert "Retail sales" in dsw("schemas", "list")
    shown = dsw("schemas", "show", schema["id"])
    assert "_retail.storeType" in shown
    assert "Arrow columns" in shown
    dataset = dsw_json(
        "datasets",
        "create",
        "cli-retail",
        "--schema",
        schema["id"],
        "--timestamp-field",
        "_retail.date",
    )
    assert dataset["timestamp_field"] == "_retail.date"
    date_format = "=".join(next(iter(CSV_DATES.items())))
    ingested = dsw("datasets", "ingest", "cli-retail", str(RETAIL), "--date-format", date_format)
    assert "success" in ingested
    stats_table = dsw("datasets", "stats", "cli-retail")
    assert "5175" in stats_table
    assert "A (2530)" in stats_table  # the top value; distinct counts are filled too
    assert "columns always empty not shown" in stats_table
    assert "repositoryCreatedBy" not in stats_table  # the profile class's unused fields
    assert "repositoryCreatedBy" in dsw("datasets", "stats", "cli-retail", "--all")
    stats = dsw_json("datasets", "stats", dataset["id"])
    assert stats["columns"]["_retail.storeType"]["count"] == 5175
    preview = dsw_json("datasets", "preview", "cli-retail", "--limit", "2")
    assert len(preview) == 2
    shown = dsw("datasets", "preview", "cli-retail", "--limit", "2")
    assert "_retail.store" in shown
    first = preview[0]["_retail"]
    for value in (first["date"], str(first["storeSize"]), first["storeType"]):
        assert value in shown  # the cells are filled, not only the headers
    assert [item["name"] for item in dsw_json("datasets", "list")] == ["cli-retail"]
    assert "5175" in dsw("datasets", "list")  # rows in the list, as in `show`
    shown = dsw_json("datasets", "show", "cli-retail")
    assert shown["row_count"] == 5175
    batches = dsw_json("datasets", "batches", "cli-retail")
    assert [batch["status"] for batch in batches] == ["success"]

    extra = tmp_path / "extra.csv"
    lines = RETAIL.read_text().splitlines()
    extra.write_text(
        "\n".join(f"{line},{'color' if i == 0 else 'red'}" for i, line in enumerate(lines[:3]))
        + "\n"
    )
    warned = dsw("datasets", "ingest", "cli-retail", str(extra), "--date-format", date_format)
    assert "warning: columns not in the schema were dropped: color (2 rows)" in warned
    # A gzipped CSV is told by its name; --map names the field of a header the rule cannot find.
    zipped = tmp_path / "renamed.csv.gz"
    zipped.write_bytes(gzip.compress(b"Date,Store,Sales\n2/5/10,1,12.5\n"))
    mapped = dsw_json(
        "datasets",
        "ingest",
        "cli-retail",
        str(zipped),
        "--date-format",
        date_format,
        "--map",
        "Sales=_retail.weeklySales",
    )
    assert (mapped["status"], mapped["rows_written"], mapped["dropped_columns"]) == (
        "success",
        1,
        [],
    )

    bad = tmp_path / "bad.csv"
    lines = RETAIL.read_text().splitlines()
    bad.write_text("\n".join([lines[0], lines[1].replace(",A,", ",Z,")]) + "\n")
    failed = dsw("datasets", "ingest", "cli-retail", str(bad), "--date-format", date_format, code=1)
    assert "failed" in failed
    batch_id = next(
        b["id"] for b in dsw_json("datasets", "batches", "cli-retail") if b["status"] == "failed"
    )
    rejected = dsw_json("datasets", "errors", batch_id)
    assert len(rejected) == 1
    assert "1 rejected rows" in dsw("datasets", "errors", batch_id)


def test_errors_are_one_line_and_exit_1() -> None:
    missing = dsw("datasets", "show", str(uuid.uuid4()), code=1)
    assert missing.startswith("error: 404")
    assert len(missing.strip().splitlines()) == 1
    assert "no dataset named 'nope'" in dsw("datasets", "show", "nope", code=1)
    invalid = dsw("datasets", "create", "", code=1)
    assert "422" in invalid
    assert "/body/name" in invalid
    assert "name=value" in dsw(
        "models",
        "create",
        "m",
        "--recipe",
        "r",
        "--version",
        "v",
        "--dataset",
        str(uuid.uuid4()),
        "-p",
        "oops",
        code=1,
    )
    refused = dsw("recipes", "import", "https://git.invalid/recipe.git", code=1)
    assert refused.startswith("error: 422")


def test_recipes_verbs(tmp_path: Path) -> None:
    listed = dsw_json("recipes", "list")
    assert "retail-sales" in {recipe["name"] for recipe in listed}
    assert "1.0.0" in dsw("recipes", "show", "retail-sales")
    local = dsw_json(
        "recipes",
        "run",
        "retail-sales",
        str(RETAIL),
        "-p",
        "n_estimators=10",
        "-p",
        "num_threads=1",
    )
    assert local["metrics"]["mape"] > 0
    assert "mape" in dsw("recipes", "run", "retail-sales", str(RETAIL), "-p", "n_estimators=5")
    bad_param = dsw("recipes", "run", "retail-sales", str(RETAIL), "-p", "n_estimators=0", code=1)
    assert "n_estimators" in bad_param


def test_models_training_scoring_and_services() -> None:
    schema = platform_schema()
    dataset_name = "ml-retail"
    dsw_json("datasets", "create", dataset_name, "--schema", schema)
    date_format = "=".join(next(iter(CSV_DATES.items())))
    dsw("datasets", "ingest", dataset_name, str(RETAIL), "--date-format", date_format, "--json")
    params = [arg for name, value in FAST.items() for arg in ("-p", f"{name}={value}")]
    model = dsw_json(
        "models",
        "create",
        "cli-forecast",
        "--recipe",
        "retail-sales",
        "--version",
        "1.0.0",
        "--dataset",
        dataset_name,
        *params,
    )
    assert model["hyperparameters"] == FAST
    assert "cli-forecast" in dsw("models", "list")
    assert dsw_json("models", "show", "cli-forecast")["id"] == model["id"]
    first = dsw_json("train", "cli-forecast")
    assert first["state"] == "succeeded"
    followed = dsw("train", "cli-forecast", "-p", "learning_rate=0.3")
    assert "mape" in followed
    runs = dsw_json("runs", "list", "cli-forecast")
    assert len(runs) == 2
    assert all(run["state"] == "succeeded" for run in runs)
    compared = dsw("runs", "compare", "cli-forecast", "--metric", "mape")
    assert "learning_rate" in compared
    assert "best by mape (lower is better)" in compared  # the recipe's direction
    assert "baseline mape" in compared
    assert dsw_json("runs", "compare", "cli-forecast")["differing_params"] == ["learning_rate"]
    assert dsw("runs", "logs", first["id"]).strip()
    assert dsw_json("runs", "show", first["id"])["metrics"] == first["metrics"]
    shown = dsw("runs", "show", first["id"])
    assert "metrics (baseline: same split)" in shown
    assert "feature importance (gain" in shown
    assert next(iter(first["feature_importance"])) in shown  # the largest gain first
    assert "409" in dsw("runs", "cancel", first["id"], code=1)
    sweep = dsw_json(
        "sweep",
        "cli-forecast",
        "-r",
        "num_leaves=4,8",
        "--strategy",
        "grid",
        "--metric",
        "mape",
        "--trials",
        "2",
        *params,
    )
    assert sweep["state"] == "succeeded"
    assert sweep["trials"]["succeeded"] == 2

    scored = dsw_json(
        "score", "start", "--dataset", dataset_name, "--run", first["id"], "--output", "cli-scores"
    )
    assert scored["state"] == "succeeded"
    assert [run["id"] for run in dsw_json("score", "list")][:1] == [scored["id"]]
    assert (
        dsw_json("score", "show", scored["id"])["output_dataset_id"] == scored["output_dataset_id"]
    )
    assert dsw_json("datasets", "show", "cli-scores")["row_count"] == 5175

    published = dsw_json("services", "publish", "cli-sales", "--run", first["id"])
    assert published["traffic"]["revision"] == 1
    assert "cli-sales" in dsw("services", "list")
    record = {k: v for k, v in demo_records(1)[0].items() if k != "weeklySales"}
    answer = dsw_json("predict", "cli-sales", json.dumps([record]))
    assert len(answer["predictions"]) == 1
    key = dsw_json("services", "keys", "cli-sales", "--create", "ci")
    by_key = dsw_json("predict", "cli-sales", json.dumps(record), "--api-key", key["key"])
    assert by_key["predictions"] == answer["predictions"]
    second = dsw_json("services", "revision", "cli-sales", "--run", runs[0]["id"])
    assert second["number"] == 2
    canary = dsw_json(
        "services",
        "traffic",
        "cli-sales",
        "--mode",
        "canary",
        "--revision",
        "1",
        "--secondary",
        "2",
        "--percent",
        "20",
    )
    assert canary["traffic"]["percent"] == 20
    assert dsw_json("services", "promote", "cli-sales", "2")["traffic"]["revision"] == 2
    assert dsw_json("services", "rollback", "cli-sales")["traffic"]["revision"] == 1
    assert dsw_json("services", "health", "cli-sales")["service"] == "cli-sales"
    assert "revisions" in dsw("services", "show", "cli-sales")
    revoked = dsw_json("services", "keys", "cli-sales", "--revoke", key["id"])
    assert revoked[0]["revoked_at"]
    assert "401" in dsw("predict", "cli-sales", json.dumps(record), "--api-key", key["key"], code=1)
