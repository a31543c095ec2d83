"""CLI verbs for data and recipes: ``dsw schemas``, ``dsw datasets``, ``dsw recipes``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from dsw._output import (
    JSON_OPTION,
    bars,
    client,
    console,
    dataset_id,
    details,
    errors,
    friendly,
    is_id,
    parse_params,
    print_json,
    show,
    table,
)

if TYPE_CHECKING:
    from dsw.client import Client

schemas = typer.Typer(help="XDM schemas of the catalog.", no_args_is_help=True)
datasets = typer.Typer(
    help="Datasets: create, ingest files, statistics, preview.", no_args_is_help=True
)
recipes = typer.Typer(
    help="Recipes (Engines): list, show, import, run locally.", no_args_is_help=True
)

SCHEMA_COLUMNS = ("id", "title", "class_id", "created")
DATASET_COLUMNS = ("id", "name", "row_count", "batch_count", "size_bytes", "created")
BATCH_COLUMNS = ("id", "status", "rows_read", "rows_written", "rows_rejected", "error", "created")


@schemas.command("create")
@friendly
def schemas_create(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Schema document (JSON)"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a schema from a JSON document (title, class, fieldGroups, tenantFields)."""
    created = client().schemas.create(json.loads(file.read_text()))
    show(created, SCHEMA_COLUMNS, as_json)


@schemas.command("list")
@friendly
def schemas_list(as_json: bool = JSON_OPTION) -> None:
    """List schemas."""
    show(list(client().schemas.list()), SCHEMA_COLUMNS, as_json)


@schemas.command("show")
@friendly
def schemas_show(schema_id: str, as_json: bool = JSON_OPTION) -> None:
    """Show a schema and its fields."""
    api = client()
    schema = api.schemas.get(schema_id)
    if as_json:
        print_json(schema)
        return
    details(schema, (*SCHEMA_COLUMNS, "fields"))
    table(api.schemas.arrow(schema_id), ("name", "type", "nullable"), title="Arrow columns")


@datasets.command("create")
@friendly
def datasets_create(
    name: str,
    schema: str | None = typer.Option(None, help="Schema id"),
    description: str = typer.Option("", help="What the data is"),
    allow_partial: bool = typer.Option(False, help="Keep the good rows of a batch with bad ones"),
    timestamp_field: str | None = typer.Option(
        None,
        "--timestamp-field",
        help="The date or time field (dotted path, e.g. _retail.date): time windows, samples",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a dataset."""
    created = client().datasets.create(
        name,
        schema_id=schema,
        description=description,
        allow_partial=allow_partial,
        timestamp_field=timestamp_field,
    )
    show(created, (*DATASET_COLUMNS, "timestamp_field"), as_json)


@datasets.command("list")
@friendly
def datasets_list(as_json: bool = JSON_OPTION) -> None:
    """List datasets."""
    show(list(client().datasets.list()), DATASET_COLUMNS, as_json)


@datasets.command("show")
@friendly
def datasets_show(dataset: str, as_json: bool = JSON_OPTION) -> None:
    """Show a dataset (by id or name)."""
    api = client()
    fields = (*DATASET_COLUMNS, "schema_id", "timestamp_field", "last_ingestion")
    show(api.datasets.get(dataset_id(api, dataset)), fields, as_json)


@datasets.command("ingest")
@friendly
def datasets_ingest(
    dataset: str = typer.Argument(..., help="Dataset id or name"),
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, JSON(L) or Parquet"),
    format: str | None = typer.Option(None, help="csv, jsonl, json or parquet (from the suffix)"),
    date_format: list[str] = typer.Option(
        [], "--date-format", help="field=strptime format for CSV dates, e.g. _retail.date=%m/%d/%y"
    ),
    column_map: list[str] = typer.Option(
        [], "--map", help="CSV header=field path, e.g. CustomerID=_shop.userId"
    ),
    wait: bool = typer.Option(True, help="Wait for ingestion to finish"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Upload a file as a new batch (with a progress bar) and follow its ingestion.

    A ``.gz`` file is inflated by the catalog (``sales.csv.gz`` is a gzipped CSV).
    """
    api = client()
    formats = {key: str(value) for key, value in parse_params(date_format).items()}
    options: dict[str, Any] = {"formats": formats} if formats else {}
    mapping = {key: str(value) for key, value in parse_params(column_map).items()}
    if mapping:
        options["column_mapping"] = mapping
    batch = api.datasets.ingest(
        dataset_id(api, dataset), file, format=format, wait=wait, progress=bars(as_json), **options
    )
    show(batch, BATCH_COLUMNS, as_json)
    dropped = dropped_columns(batch)
    if dropped:
        errors.print(f"[yellow]warning:[/yellow] {dropped}", highlight=False)
    if batch.status in ("failed", "partial") and batch.get("has_error_report"):
        console.print(f"rejected rows: dsw datasets errors {batch.id}")
    if batch.status in ("failed", "aborted"):
        raise typer.Exit(1)


def dropped_columns(batch: Mapping[str, Any]) -> str | None:
    """The warning that columns not in the schema were dropped, if any were."""
    dropped = batch.get("dropped_columns") or []
    if not dropped:
        return None
    named = ", ".join(f"{item['name']} ({item['rows']} rows)" for item in dropped)
    return (
        f"columns not in the schema were dropped: {named}; add them to the schema, map them "
        "with column_mapping, or ingest with unknown_columns=reject to refuse such files"
    )


@datasets.command("batches")
@friendly
def datasets_batches(dataset: str, as_json: bool = JSON_OPTION) -> None:
    """List a dataset's batches."""
    api = client()
    show(list(api.batches.list(dataset_id(api, dataset))), BATCH_COLUMNS, as_json)


@datasets.command("stats")
@friendly
def datasets_stats(
    dataset: str,
    show_all: bool = typer.Option(False, "--all", help="Also the columns that are always empty"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Column statistics as a table (columns that are always empty are left out)."""
    api = client()
    stats = api.datasets.statistics(dataset_id(api, dataset))
    if as_json:
        print_json(stats)
        return
    columns = stats.get("columns", {})
    rows = [
        {
            "column": name,
            **values,
            "distinct": values.get("approx_distinct", values.get("distinct")),
            "top": _top_value(values),
        }
        for name, values in columns.items()
        if show_all or values.get("null_fraction") != 1
    ]
    fields = (
        "column",
        "type",
        "count",
        "null_fraction",
        "min",
        "max",
        "mean",
        "stddev",
        "distinct",
        "top",
    )
    title = f"{stats.get('rows', 0)} rows"
    hidden = len(columns) - len(rows)
    if hidden:
        title += f"; {hidden} columns always empty not shown (--all shows them)"
    table(rows, fields, title=title)


def _top_value(values: Mapping[str, Any]) -> str | None:
    top = values.get("top_values") or []
    if not top:
        return None
    return f"{top[0].get('value')} ({top[0].get('count')})"


@datasets.command("preview")
@friendly
def datasets_preview(
    dataset: str, limit: int = typer.Option(10, help="Rows"), as_json: bool = JSON_OPTION
) -> None:
    """The first rows."""
    api = client()
    rows = api.datasets.preview(dataset_id(api, dataset), limit=limit)
    if as_json or not rows:
        print_json(rows)
        return
    flat = [_flatten(row) for row in rows]
    table(flat, list(flat[0]))


def _flatten(row: dict[str, object], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in row.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@datasets.command("errors")
@friendly
def datasets_errors(batch_id: str, as_json: bool = JSON_OPTION) -> None:
    """The rejected rows of a batch and why."""
    rejected = client().batches.errors(batch_id)
    if as_json:
        print_json(rejected)
        return
    rows = [{"row": item.get("row"), "problems": _problems(item)} for item in rejected]
    table(rows, ("row", "problems"), title=f"{len(rejected)} rejected rows")


def _problems(item: dict[str, object]) -> str:
    found = item.get("errors") or item.get("error") or item
    return json.dumps(found, default=str) if not isinstance(found, str) else found


RECIPE_COLUMNS = ("id", "name", "task_type", "builtin", "latest_version")
VERSION_COLUMNS = ("id", "version", "status", "source", "validation.status", "created")


@recipes.command("list")
@friendly
def recipes_list(as_json: bool = JSON_OPTION) -> None:
    """List recipes."""
    show(list(client().recipes.list()), RECIPE_COLUMNS, as_json)


@recipes.command("show")
@friendly
def recipes_show(
    recipe_id: str = typer.Argument(..., help="Recipe id or name"), as_json: bool = JSON_OPTION
) -> None:
    """A recipe and its versions."""
    api = client()
    recipe = api.recipes.get(_recipe_id(api, recipe_id))
    versions = list(api.recipes.versions(recipe.id))
    if as_json:
        print_json({**recipe, "versions": versions})
        return
    details(recipe, (*RECIPE_COLUMNS, "description"))
    table(versions, VERSION_COLUMNS, title="versions")


def _recipe_id(api: Client, reference: str) -> str:
    if is_id(reference):
        return reference
    found = next(
        (item for item in api.recipes.list(name=reference) if item.name == reference), None
    )
    if found is None:
        raise ValueError(f"no recipe named {reference!r}")
    return found.id


@recipes.command("import")
@friendly
def recipes_import(
    source: str = typer.Argument(..., help="A folder, .zip or .tar.gz, or an https git URL"),
    ref: str = typer.Option("HEAD", help="Git branch, tag or commit"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Register a recipe package from a path or a git repository."""
    api = client()
    is_git = source.startswith(("https://", "http://", "git@")) and not Path(source).exists()
    version = api.recipes.import_git(source, ref) if is_git else api.recipes.upload(source)
    show(version, ("recipe_id", *VERSION_COLUMNS), as_json)


@recipes.command("run")
@friendly
def recipes_run(
    recipe: str = typer.Argument(..., help="Built-in name, module:Class, or a package folder"),
    data: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or Parquet file"),
    param: list[str] = typer.Option([], "--param", "-p", help="name=value hyperparameter"),
    output: Path | None = typer.Option(None, help="Save the model under this folder"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train and evaluate a recipe on a local file, without the platform (as a run would)."""
    from dsw_recipe import ParamValidationError, get_recipe, load_package_recipe, run_local

    chosen = load_package_recipe(recipe) if Path(recipe).is_dir() else get_recipe(recipe)
    try:
        result = run_local(
            chosen,
            data,
            parse_params(param),
            output_dir=output,
            score_holdout=False,
            coerce_params=True,
        )
    except ParamValidationError as error:
        raise ValueError("; ".join(str(problem) for problem in error.errors)) from error
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    rows = [{"metric": name, "value": value} for name, value in sorted(result.metrics.items())]
    table(rows, ("metric", "value"), title=f"{summary['recipe']} {summary['version']}")
    if result.model_path:
        console.print(f"model saved in {result.model_path}")
