"""CLI verbs for published services: ``dsw services``, ``dsw predict`` and ``dsw demo``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from dsw._output import JSON_OPTION, client, console, friendly, print_json, show, table

services = typer.Typer(
    help="Prediction services (MLServices): publish, traffic, keys.", no_args_is_help=True
)

SERVICE_COLUMNS = ("name", "traffic.mode", "traffic.revision", "revisions", "predict_url")


@services.command("publish")
@friendly
def services_publish(
    name: str,
    run: str | None = typer.Option(None, help="Training run to serve"),
    model: str | None = typer.Option(None, help="Or: a model id whose latest/best run to serve"),
    policy: str = typer.Option("latest", help="latest or best (with --model)"),
    metric: str | None = typer.Option(None, help="Metric of the best policy"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Publish a model as a prediction service."""
    if not run and not model:
        raise ValueError("name a --run or a --model")
    published = client().services.publish(
        name, training_run_id=run, model_id=model, policy=policy, metric=metric
    )
    show(published, SERVICE_COLUMNS, as_json)


@services.command("list")
@friendly
def services_list(as_json: bool = JSON_OPTION) -> None:
    """List services."""
    show(list(client().services.list()), SERVICE_COLUMNS, as_json)


@services.command("show")
@friendly
def services_show(name: str, as_json: bool = JSON_OPTION) -> None:
    """A service and its revisions."""
    api = client()
    service = api.services.get(name)
    revisions = api.services.revisions(name)
    if as_json:
        print_json({**service, "revision_list": revisions})
        return
    show(service, SERVICE_COLUMNS, False)
    table(
        revisions, ("number", "training_run_id", "origin", "metrics", "created"), title="revisions"
    )


@services.command("revision")
@friendly
def services_revision(
    name: str,
    run: str | None = typer.Option(None, help="Training run of the new revision"),
    promote: bool = typer.Option(False, help="Make it live at once"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a revision (a run's model, or the service's source again)."""
    added = client().services.add_revision(name, training_run_id=run, promote=promote)
    show(added, ("number", "training_run_id", "origin", "metrics"), as_json)


@services.command("promote")
@friendly
def services_promote(name: str, revision: int, as_json: bool = JSON_OPTION) -> None:
    """Make a revision the live one."""
    show(client().services.promote(name, revision), SERVICE_COLUMNS, as_json)


@services.command("rollback")
@friendly
def services_rollback(name: str, as_json: bool = JSON_OPTION) -> None:
    """Go back to the previous live revision."""
    show(client().services.rollback(name), SERVICE_COLUMNS, as_json)


@services.command("traffic")
@friendly
def services_traffic(
    name: str,
    mode: str = typer.Option("single", help="single, canary or shadow"),
    revision: int = typer.Option(..., help="Primary revision"),
    secondary: int | None = typer.Option(None, help="Canary or shadow revision"),
    percent: int = typer.Option(0, help="Canary share in percent"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Route traffic between revisions."""
    updated = client().services.traffic(
        name, mode=mode, revision=revision, secondary_revision=secondary, percent=percent
    )
    show(updated, (*SERVICE_COLUMNS, "traffic.secondary_revision", "traffic.percent"), as_json)


@services.command("keys")
@friendly
def services_keys(
    name: str,
    create: str | None = typer.Option(None, help="Create a key with this name"),
    revoke: str | None = typer.Option(None, help="Revoke the key with this id"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List, create (the secret is shown once) or revoke API keys."""
    api = client()
    if create:
        key = api.services.create_key(name, create)
        show(key, ("id", "name", "key"), as_json)
        if not as_json:
            console.print("keep the key: it is not shown again")
        return
    if revoke:
        api.services.revoke_key(name, revoke)
    show(api.services.keys(name), ("id", "name", "prefix", "created", "revoked_at"), as_json)


@services.command("health")
@friendly
def services_health(name: str, as_json: bool = JSON_OPTION) -> None:
    """Training vs live metrics, drift, and whether retraining is advised."""
    health = client().services.health(name)
    show(
        health,
        ("service", "revision", "training_metrics", "drift", "retraining_advised", "reasons"),
        as_json,
    )


@friendly
def predict(
    name: str = typer.Argument(..., help="Service name"),
    records: str = typer.Argument(..., help="JSON records: a list, an object, or @file.json"),
    api_key: str | None = typer.Option(None, envvar="DSW_API_KEY", help="Call with an API key"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Predictions from a published service."""
    text = Path(records[1:]).read_text() if records.startswith("@") else records
    try:
        parsed = json.loads(text)
    except ValueError as error:
        raise ValueError(f"records are not JSON: {error}") from error
    rows = parsed if isinstance(parsed, list) else parsed.get("records", [parsed])
    answer = client().services.predict(name, rows, api_key=api_key)
    if as_json:
        print_json(answer)
        return
    title = f"{name} revision {answer.get('revision')}"
    if answer.get("top_k"):
        # A ranking service: each record's items in order, not a bare list of scores.
        ranked = [
            {
                "#": str(index),
                "for": ", ".join(
                    f"{key}={value}" for key, value in entry.items() if key not in RANKED
                ),
                "rank": str(rank),
                "item": item,
                "score": score,
            }
            for index, entry in enumerate(answer["top_k"])
            for rank, (item, score) in enumerate(
                zip(entry["items"], entry["scores"], strict=True), start=1
            )
        ]
        table(ranked, ("#", "for", "rank", "item", "score"), title=title)
        return
    table(
        [
            {"#": str(index), "prediction": value}
            for index, value in enumerate(answer["predictions"])
        ],
        ("#", "prediction"),
        title=title,
    )


RANKED = frozenset(("items", "scores"))


@friendly
def demo() -> None:
    """Walk through the platform on the retail sample (against a running ``dsw up``)."""
    from dsw.demo import run_demo

    run_demo(client(), console)
