"""The synchronous client: one object, a resource group per concept of the platform.

>>> import dsw
>>> client = dsw.Client()                      # env, profile, or the embedded stack
>>> dataset = client.datasets.find("retail")
>>> table = client.datasets.read(dataset.id)   # pyarrow.Table straight from the lake
"""

from __future__ import annotations

import builtins
import io
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from dsw._http import Body, Http, Transports
from dsw._wait import wait_until_done
from dsw.config import Config
from dsw.models import (
    Batch,
    Comparison,
    Dataset,
    Model,
    Recipe,
    RecipeVersion,
    Record,
    Run,
    Schema,
    ScoringRun,
    Service,
    Sweep,
)

if TYPE_CHECKING:  # pyarrow loads only for the calls that read data (a CLI command stays quick)
    import pyarrow as pa
    import pyarrow.dataset as ds

__all__ = ["Client"]

R = TypeVar("R", bound=Record)
Progress = Callable[[int, int], None]
CHUNK = 1024 * 1024
FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
}


def new_key() -> str:
    """An Idempotency-Key: a retried create then answers the first one's resource."""
    return uuid.uuid4().hex


class _Group:
    service = ""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._http = client.http

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.request(self.service, method, path, **kwargs)

    def _one(self, kind: type[R], method: str, path: str, **kwargs: Any) -> R:
        return kind(self._call(method, path, **kwargs).json())

    def _create(self, kind: type[R], path: str, body: Mapping[str, Any], key: str | None) -> R:
        headers = {"Idempotency-Key": key or new_key()}
        return self._one(kind, "POST", path, json=dict(body), headers=headers)

    def _pages(self, kind: type[R], path: str, params: Mapping[str, Any]) -> Iterator[R]:
        """Every item of a list, following the ``next`` cursor page after page."""
        query = {"limit": 100, **params}
        while True:
            page = self._call("GET", path, params=query).json()
            for item in page["items"]:
                yield kind(item)
            if not page.get("next"):
                return
            query["cursor"] = page["next"]


class Schemas(_Group):
    """XDM schemas of the catalog."""

    service = "catalog"
    path = "/catalog/v1/schemas"

    def create(self, document: Mapping[str, Any], *, idempotency_key: str | None = None) -> Schema:
        """Register a schema (``title``, ``class``, ``fieldGroups``, ``tenantFields``...)."""
        return self._create(Schema, self.path, document, idempotency_key)

    def list(self, **filters: Any) -> Iterator[Schema]:
        """All schemas (lazily, page by page)."""
        return self._pages(Schema, self.path, filters)

    def get(self, schema_id: str) -> Schema:
        """One schema."""
        return self._one(Schema, "GET", f"{self.path}/{schema_id}")

    def arrow(self, schema_id: str) -> builtins.list[Record]:
        """The Arrow columns datasets of this schema hold (name, type, nullable)."""
        response = self._call("GET", f"{self.path}/{schema_id}/arrow")
        return [Record(item) for item in response.json()]

    def find(self, title: str) -> Schema | None:
        """The newest schema with this title, if any."""
        found = [schema for schema in self.list() if schema.title == title]
        return max(found, key=lambda schema: str(schema["created"])) if found else None

    def delete(self, schema_id: str) -> None:
        """Delete a schema no dataset uses."""
        self._call("DELETE", f"{self.path}/{schema_id}")


class Batches(_Group):
    """Ingestion batches: create, upload files, complete, follow."""

    service = "catalog"

    def create(
        self,
        dataset_id: str,
        format: str = "csv",
        *,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> Batch:
        """Open a batch (options: ``formats``, ``compression``, ``column_mapping``, ``tags``...)."""
        body = {"format": format, **options}
        path = f"/catalog/v1/datasets/{dataset_id}/batches"
        return self._create(Batch, path, body, idempotency_key)

    def get(self, batch_id: str) -> Batch:
        """One batch."""
        return self._one(Batch, "GET", f"/catalog/v1/batches/{batch_id}")

    def list(self, dataset_id: str, *, status: str | None = None) -> Iterator[Batch]:
        """A dataset's batches, newest first."""
        path = f"/catalog/v1/datasets/{dataset_id}/batches"
        return self._pages(Batch, path, {"status": status})

    def upload(
        self,
        batch_id: str,
        file: str | Path,
        *,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> Record:
        """Stream a file into the batch in 1 MiB chunks; ``progress(sent, total)`` per chunk."""
        path = Path(file)
        total = path.stat().st_size

        def chunks() -> Iterator[bytes]:
            sent = 0
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    sent += len(chunk)
                    yield chunk
                    if progress is not None:
                        progress(sent, total)

        body: Body = chunks
        target = f"/catalog/v1/batches/{batch_id}/files/{name or path.name}"
        headers = {"Content-Length": str(total), "Content-Type": "application/octet-stream"}
        # The service checksums and stores a large file before it answers: wait longer for that.
        response = self._call("PUT", target, content=body, headers=headers, timeout=600.0)
        return Record(response.json())

    def complete(self, batch_id: str) -> Batch:
        """Declare every file uploaded: ingestion starts."""
        return self._one(Batch, "POST", f"/catalog/v1/batches/{batch_id}/complete")

    def abort(self, batch_id: str) -> Batch:
        """Give a batch up (its files are dropped)."""
        return self._one(Batch, "POST", f"/catalog/v1/batches/{batch_id}/abort")

    def errors(self, batch_id: str) -> builtins.list[dict[str, Any]]:
        """The rejected rows of a partial or failed batch (the NDJSON error report)."""
        import json

        response = self._call("GET", f"/catalog/v1/batches/{batch_id}/errors")
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def wait(
        self,
        batch_id: str,
        *,
        timeout: float | None = 600,
        poll: float = 0.5,
        progress: bool = False,
    ) -> Batch:
        """Wait until ingestion is over (success, partial, failed or aborted)."""
        return wait_until_done(
            lambda: self.get(batch_id),
            label=f"batch {batch_id[:8]}",
            percent=lambda batch: (
                100.0 if batch.done else 50.0 if batch.status == "processing" else 0.0
            ),
            describe=lambda batch: batch.status,
            timeout=timeout,
            poll=poll,
            progress=progress,
        )


class Datasets(_Group):
    """Catalog datasets: create, ingest, read straight from the lake."""

    service = "catalog"
    path = "/catalog/v1/datasets"

    def create(
        self,
        name: str,
        *,
        schema_id: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Dataset:
        """Create a dataset (fields: ``description``, ``tags``, ``allow_partial``...)."""
        body = {"name": name, "schema_id": schema_id, **fields}
        return self._create(Dataset, self.path, body, idempotency_key)

    def get(self, dataset_id: str) -> Dataset:
        """One dataset (with its row count and size)."""
        return self._one(Dataset, "GET", f"{self.path}/{dataset_id}")

    def list(self, **filters: Any) -> Iterator[Dataset]:
        """Datasets (filters: ``name``, ``tag``, ``schema_id``)."""
        return self._pages(Dataset, self.path, filters)

    def find(self, name: str) -> Dataset | None:
        """The dataset with exactly this name, if any (the list filter also matches prefixes)."""
        return next((item for item in self.list(name=name) if item.name == name), None)

    def update(self, dataset_id: str, *, if_match: str | None = None, **fields: Any) -> Dataset:
        """Change fields; with ``if_match`` (an ETag) only if nobody changed it meanwhile."""
        headers = {"If-Match": if_match} if if_match else {}
        return self._one(
            Dataset, "PATCH", f"{self.path}/{dataset_id}", json=fields, headers=headers
        )

    def delete(self, dataset_id: str) -> None:
        """Delete a dataset (its data stays until purged)."""
        self._call("DELETE", f"{self.path}/{dataset_id}")

    def preview(self, dataset_id: str, limit: int = 10) -> builtins.list[dict[str, Any]]:
        """The first rows, as JSON objects."""
        response = self._call("GET", f"{self.path}/{dataset_id}/preview", params={"limit": limit})
        return list(response.json()["rows"])

    def statistics(self, dataset_id: str) -> dict[str, Any]:
        """Row count and per-column statistics (count, nulls, min, max, mean, distinct...)."""
        return dict(self._call("GET", f"{self.path}/{dataset_id}/statistics").json())

    def files(self, dataset_id: str) -> builtins.list[Record]:
        """The Parquet files visible now (successful batches)."""
        response = self._call("GET", f"{self.path}/{dataset_id}/files")
        return [Record(item) for item in response.json()]

    def open(self, dataset_id: str) -> ds.Dataset:
        """A ``pyarrow.dataset.Dataset`` over the files (for data larger than memory)."""
        from dsw_kit.lake import open_files

        return open_files([str(item["uri"]) for item in self.files(dataset_id)])

    def read(self, dataset_id: str, columns: builtins.list[str] | None = None) -> pa.Table:
        """The whole dataset as a ``pyarrow.Table``, read from the lake, not through the API."""
        return self.open(dataset_id).to_table(columns=columns)

    def ingest(
        self,
        dataset_id: str,
        file: str | Path,
        *,
        format: str | None = None,
        wait: bool = True,
        progress: bool = False,
        upload_progress: Progress | None = None,
        **options: Any,
    ) -> Batch:
        """Ingest one file as a new batch: create, stream it, complete, and (``wait``) follow."""
        path = Path(file)
        # `sales.csv.gz`: a gzipped CSV (the catalog inflates it), unless told otherwise.
        gzipped = path.suffix.lower() == ".gz"
        if gzipped:
            options.setdefault("compression", "gzip")
        kind = format or FORMATS.get(Path(path.stem if gzipped else path.name).suffix.lower())
        if kind is None:
            raise ValueError(f"cannot tell the format of {path.name}; pass format=")
        batches = self._client.batches
        batch = batches.create(dataset_id, kind, **options)
        if progress and upload_progress is None:
            with _upload_bar(path) as report:
                batches.upload(batch.id, path, progress=report)
        else:
            batches.upload(batch.id, path, progress=upload_progress)
        batch = batches.complete(batch.id)
        return batches.wait(batch.id, progress=progress) if wait else batch


class _upload_bar:  # noqa: N801 - used as a context manager like a function
    """A rich progress bar of bytes sent."""

    def __init__(self, path: Path) -> None:
        from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

        self._bar = Progress(
            *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()
        )
        self._task = self._bar.add_task(f"upload {path.name}", total=path.stat().st_size)

    def __enter__(self) -> Progress:
        self._bar.start()
        return lambda sent, total: self._bar.update(self._task, completed=sent, total=total)

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()


class Recipes(_Group):
    """The recipe registry (Engines in DSW terms)."""

    service = "recipes"
    path = "/recipes/v1/recipes"

    def list(self, **filters: Any) -> Iterator[Recipe]:
        """Recipes (filters: ``name``, ``task_type``, ``builtin``)."""
        return self._pages(Recipe, self.path, filters)

    def get(self, recipe_id: str) -> Recipe:
        """One recipe."""
        return self._one(Recipe, "GET", f"{self.path}/{recipe_id}")

    def versions(self, recipe_id: str, *, status: str | None = None) -> Iterator[RecipeVersion]:
        """Versions of a recipe."""
        return self._pages(RecipeVersion, f"{self.path}/{recipe_id}/versions", {"status": status})

    def version(self, recipe_id: str, version_id: str) -> RecipeVersion:
        """One version (manifest, validation status, parameters)."""
        return self._one(RecipeVersion, "GET", f"{self.path}/{recipe_id}/versions/{version_id}")

    def params_schema(self, recipe_id: str, version_id: str) -> dict[str, Any]:
        """JSON Schema of the version's hyperparameters."""
        path = f"{self.path}/{recipe_id}/versions/{version_id}/params-schema"
        return dict(self._call("GET", path).json())

    def validate(self, recipe_id: str, version_id: str, params: Mapping[str, Any]) -> Record:
        """Check hyperparameters (raises :class:`ValidationError` listing the bad ones)."""
        path = f"{self.path}/{recipe_id}/versions/{version_id}/validate"
        return self._one(Record, "POST", path, json={"params": dict(params)})

    def upload(self, package: str | Path, *, idempotency_key: str | None = None) -> RecipeVersion:
        """Register a recipe package: a .zip, a .tar.gz, or a folder (zipped on the fly)."""
        path = Path(package)
        if path.is_dir():
            data, filename, kind = _zip_folder(path), f"{path.name}.zip", "application/zip"
        else:
            gz = path.name.endswith((".tar.gz", ".tgz"))
            data, filename = path.read_bytes(), path.name
            kind = "application/gzip" if gz else "application/zip"
        headers = {"Content-Type": kind, "Idempotency-Key": idempotency_key or new_key()}
        response = self._call(
            "POST",
            f"{self.path}/packages",
            params={"filename": filename},
            content=data,
            headers=headers,
        )
        return RecipeVersion(response.json())

    def import_git(
        self, url: str, ref: str = "HEAD", *, idempotency_key: str | None = None
    ) -> RecipeVersion:
        """Register a recipe from a git repository."""
        body = {"url": url, "ref": ref}
        return self._create(RecipeVersion, f"{self.path}/git", body, idempotency_key)

    def deprecate(self, recipe_id: str, version_id: str) -> RecipeVersion:
        """Deprecate a version (existing models keep working; new ones cannot use it)."""
        path = f"{self.path}/{recipe_id}/versions/{version_id}/deprecate"
        return self._one(RecipeVersion, "POST", path)


def _zip_folder(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.rglob("*")):
            parts = file.relative_to(folder).parts
            # Caches and VCS folders are noise to the registry (and may be large).
            if file.is_file() and not {"__pycache__", ".git"} & set(parts):
                archive.write(file, file.relative_to(folder).as_posix())
    return buffer.getvalue()


class Models(_Group):
    """Training models (MLInstances in DSW terms): a recipe, hyperparameters and a dataset."""

    service = "training"
    path = "/training/v1/models"

    def create(
        self,
        name: str,
        *,
        recipe_id: str,
        version_id: str,
        dataset_id: str,
        hyperparameters: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Model:
        """Create a model (fields: ``description``, ``time_window``, ``tags``...)."""
        body = {
            "name": name,
            "recipe": {"recipe_id": recipe_id, "version_id": version_id},
            "dataset_id": dataset_id,
            "hyperparameters": dict(hyperparameters or {}),
            **fields,
        }
        return self._create(Model, self.path, body, idempotency_key)

    def get(self, model_id: str) -> Model:
        """One model."""
        return self._one(Model, "GET", f"{self.path}/{model_id}")

    def list(self, **filters: Any) -> Iterator[Model]:
        """Models (filters: ``name``, ``tag``, ``recipe_id``)."""
        return self._pages(Model, self.path, filters)

    def find(self, name: str) -> Model | None:
        """The model with exactly this name, if any (the list filter also matches prefixes)."""
        return next((item for item in self.list(name=name) if item.name == name), None)

    def update(self, model_id: str, *, if_match: str | None = None, **fields: Any) -> Model:
        """Change fields (hyperparameters, dataset, window, tags...)."""
        headers = {"If-Match": if_match} if if_match else {}
        return self._one(Model, "PATCH", f"{self.path}/{model_id}", json=fields, headers=headers)

    def delete(self, model_id: str, *, cancel_runs: bool = False) -> None:
        """Delete a model."""
        self._call("DELETE", f"{self.path}/{model_id}", params={"cancel_runs": cancel_runs or None})

    def set_alias(self, model_id: str, alias: str, run_id: str) -> Record:
        """Point an alias (``champion``...) at a run's registered model version."""
        path = f"{self.path}/{model_id}/aliases/{alias}"
        return self._one(Record, "POST", path, json={"run_id": run_id})

    def compare(
        self,
        model_id: str,
        *,
        runs: builtins.list[str] | None = None,
        metric: str | None = None,
        direction: str | None = None,
    ) -> Comparison:
        """Runs side by side (params, metrics) and the best one for ``metric``."""
        params = {
            "runs": ",".join(runs) if runs else None,
            "metric": metric,
            "direction": direction,
        }
        return self._one(Comparison, "GET", f"{self.path}/{model_id}/compare", params=params)


class Runs(_Group):
    """Training runs (Experiment runs in DSW terms)."""

    service = "training"

    def start(
        self,
        model_id: str,
        *,
        hyperparameters: Mapping[str, Any] | None = None,
        dataset_id: str | None = None,
        tags: builtins.list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Queue a run of the model (hyperparameters override the model's)."""
        body = {
            "hyperparameters": dict(hyperparameters or {}),
            "dataset_id": dataset_id,
            "tags": tags or [],
        }
        return self._create(Run, f"/training/v1/models/{model_id}/runs", body, idempotency_key)

    def get(self, run_id: str) -> Run:
        """One run: state, progress, metrics, MLflow ids."""
        return self._one(Run, "GET", f"/training/v1/runs/{run_id}")

    def list(self, model_id: str, *, state: str | None = None) -> Iterator[Run]:
        """The runs of a model."""
        return self._pages(Run, f"/training/v1/models/{model_id}/runs", {"state": state})

    def cancel(self, run_id: str) -> Run:
        """Ask a run to stop."""
        return self._one(Run, "POST", f"/training/v1/runs/{run_id}/cancel")

    def logs(
        self, run_id: str, *, tail: int | None = None, attempt: int | None = None
    ) -> builtins.list[str]:
        """The run's log lines."""
        params = {"tail": tail, "attempt": attempt}
        return list(
            self._call("GET", f"/training/v1/runs/{run_id}/logs", params=params).json()["lines"]
        )

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = 3600,
        poll: float = 1.0,
        progress: bool = False,
        on_update: Callable[[Run], None] | None = None,
    ) -> Run:
        """Wait until the run succeeded, failed or was cancelled."""
        return wait_until_done(
            lambda: self.get(run_id),
            label=f"run {run_id[:8]}",
            percent=lambda run: run.percent,
            describe=lambda run: f"{run.state} {(run.get('progress') or {}).get('stage') or ''}",
            timeout=timeout,
            poll=poll,
            progress=progress,
            on_update=on_update,
        )


class Sweeps(_Group):
    """Hyperparameter sweeps of a model."""

    service = "training"

    def start(
        self,
        model_id: str,
        *,
        space: Mapping[str, Any],
        metric: str,
        direction: str | None = None,
        strategy: str = "random",
        max_trials: int = 10,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Sweep:
        """Start a sweep (``space``: name -> {type, low, high, values...}; ``direction``
        None: as the model's recipe says for the metric)."""
        objective = {"metric": metric, **({"direction": direction} if direction else {})}
        body = {
            "strategy": strategy,
            "space": dict(space),
            "objective": objective,
            "max_trials": max_trials,
            **fields,
        }
        return self._create(Sweep, f"/training/v1/models/{model_id}/sweeps", body, idempotency_key)

    def get(self, sweep_id: str) -> Sweep:
        """One sweep: trial counts and the best run so far."""
        return self._one(Sweep, "GET", f"/training/v1/sweeps/{sweep_id}")

    def list(self, model_id: str) -> Iterator[Sweep]:
        """The sweeps of a model."""
        return self._pages(Sweep, f"/training/v1/models/{model_id}/sweeps", {})

    def cancel(self, sweep_id: str) -> Sweep:
        """Stop a sweep (its running trials are cancelled)."""
        return self._one(Sweep, "POST", f"/training/v1/sweeps/{sweep_id}/cancel")

    def wait(
        self,
        sweep_id: str,
        *,
        timeout: float | None = 7200,
        poll: float = 1.0,
        progress: bool = False,
    ) -> Sweep:
        """Wait until the sweep is over."""
        return wait_until_done(
            lambda: self.get(sweep_id),
            label=f"sweep {sweep_id[:8]}",
            percent=lambda sweep: sweep.percent,
            describe=lambda sweep: sweep.state,
            timeout=timeout,
            poll=poll,
            progress=progress,
        )


class Scoring(_Group):
    """Batch scoring runs: a model over a dataset into an output dataset."""

    service = "scoring"
    path = "/scoring/v1/runs"

    def start(
        self,
        *,
        input_dataset_id: str,
        training_run_id: str | None = None,
        model_id: str | None = None,
        alias: str | None = None,
        version: str | None = None,
        output_name: str | None = None,
        output_dataset_id: str | None = None,
        window: Mapping[str, Any] | None = None,
        tags: builtins.list[str] | None = None,
        idempotency_key: str | None = None,
    ) -> ScoringRun:
        """Score a dataset with a run's model, or a model's alias or registry version."""
        model = {
            "training_run_id": training_run_id,
            "model_id": model_id,
            "alias": alias,
            "version": version,
        }
        body = {
            "model": {key: value for key, value in model.items() if value is not None},
            "input_dataset_id": input_dataset_id,
            "output": {"name": output_name, "dataset_id": output_dataset_id},
            "window": dict(window) if window else None,
            "tags": tags or [],
        }
        return self._create(ScoringRun, self.path, body, idempotency_key)

    def get(self, run_id: str) -> ScoringRun:
        """One scoring run."""
        return self._one(ScoringRun, "GET", f"{self.path}/{run_id}")

    def list(self, **filters: Any) -> Iterator[ScoringRun]:
        """Scoring runs (filters: ``state``, ``input_dataset_id``, ``schedule_id``)."""
        return self._pages(ScoringRun, self.path, filters)

    def cancel(self, run_id: str) -> ScoringRun:
        """Ask a scoring run to stop."""
        return self._one(ScoringRun, "POST", f"{self.path}/{run_id}/cancel")

    def logs(self, run_id: str, *, tail: int | None = None) -> builtins.list[str]:
        """The scoring run's log lines."""
        return list(
            self._call("GET", f"{self.path}/{run_id}/logs", params={"tail": tail}).json()["lines"]
        )

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = 3600,
        poll: float = 0.5,
        progress: bool = False,
    ) -> ScoringRun:
        """Wait until the scoring run is over."""
        return wait_until_done(
            lambda: self.get(run_id),
            label=f"scoring {run_id[:8]}",
            percent=lambda run: run.percent,
            describe=lambda run: run.state,
            timeout=timeout,
            poll=poll,
            progress=progress,
        )


class Services(_Group):
    """Published prediction services (MLServices in DSW terms): revisions, traffic, keys."""

    service = "serving"
    path = "/serving/v1/services"

    def publish(
        self,
        name: str,
        *,
        training_run_id: str | None = None,
        model_id: str | None = None,
        policy: str = "latest",
        metric: str | None = None,
        direction: str = "min",
        promotion: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Service:
        """Publish a run's model, or a model's latest or best run, under ``name``.

        Other ``fields`` go in the body as they are, e.g. ``retraining_schedule``,
        ``scoring_schedule`` and ``batching`` (see docs/serving.md).
        """
        source: dict[str, Any] = {"training_run_id": training_run_id}
        if model_id:
            source = {
                "model_id": model_id,
                "policy": policy,
                "metric": metric,
                "direction": direction,
            }
        body = {"name": name, "source": source, **fields}
        if promotion:
            body["promotion"] = dict(promotion)
        return self._create(Service, self.path, body, idempotency_key)

    def get(self, name: str) -> Service:
        """One service: traffic, revisions count, predict URL."""
        return self._one(Service, "GET", f"{self.path}/{name}")

    def list(self) -> Iterator[Service]:
        """Services."""
        return self._pages(Service, self.path, {})

    def delete(self, name: str) -> None:
        """Unpublish a service."""
        self._call("DELETE", f"{self.path}/{name}")

    def revisions(self, name: str) -> builtins.list[Record]:
        """The model revisions of a service."""
        return [Record(item) for item in self._call("GET", f"{self.path}/{name}/revisions").json()]

    def add_revision(
        self,
        name: str,
        *,
        training_run_id: str | None = None,
        model_id: str | None = None,
        policy: str = "latest",
        promote: bool = False,
    ) -> Record:
        """A new revision from a run (or the service's source again); ``promote`` makes it live."""
        source = None
        if training_run_id or model_id:
            source = {"training_run_id": training_run_id, "model_id": model_id, "policy": policy}
            source = {key: value for key, value in source.items() if value is not None}
        body = {"source": source, "promote": promote}
        return self._one(
            Record,
            "POST",
            f"{self.path}/{name}/revisions",
            json=body,
            headers={"Idempotency-Key": new_key()},
        )

    def traffic(
        self,
        name: str,
        *,
        mode: str,
        revision: int,
        secondary_revision: int | None = None,
        percent: int = 0,
    ) -> Service:
        """Route traffic: ``single``, ``canary`` (``percent`` to the secondary) or ``shadow``."""
        body = {
            "mode": mode,
            "revision": revision,
            "secondary_revision": secondary_revision,
            "percent": percent,
        }
        return self._one(Service, "PUT", f"{self.path}/{name}/traffic", json=body)

    def promote(self, name: str, revision: int) -> Service:
        """Make a revision the live one."""
        body = {"revision": revision}
        return self._one(Service, "POST", f"{self.path}/{name}/promote", json=body)

    def rollback(self, name: str) -> Service:
        """Go back to the previous live revision."""
        return self._one(Service, "POST", f"{self.path}/{name}/rollback")

    def create_key(self, name: str, key_name: str) -> Record:
        """A new API key for predictions (its secret ``key`` is shown only now)."""
        return self._one(Record, "POST", f"{self.path}/{name}/keys", json={"name": key_name})

    def keys(self, name: str) -> builtins.list[Record]:
        """The service's API keys (without their secrets)."""
        return [Record(item) for item in self._call("GET", f"{self.path}/{name}/keys").json()]

    def revoke_key(self, name: str, key_id: str) -> None:
        """Revoke an API key."""
        self._call("DELETE", f"{self.path}/{name}/keys/{key_id}")

    def health(self, name: str) -> Record:
        """Training vs live metrics, drift, and whether retraining is advised."""
        return self._one(Record, "GET", f"{self.path}/{name}/health")

    def predict(
        self,
        name: str,
        records: Sequence[Mapping[str, Any]] | None = None,
        *,
        columns: Mapping[str, builtins.list[Any]] | None = None,
        api_key: str | None = None,
        k: int | None = None,
    ) -> Record:
        """Predictions for records (or columns); with ``api_key`` instead of the token.

        ``k``: items per user of a ranking model (its ``top_k``); other models ignore it.
        """
        body: dict[str, Any] = (
            {"columns": dict(columns)} if columns is not None else {"records": list(records or [])}
        )
        if k is not None:
            body["k"] = k
        headers = {"x-api-key": api_key} if api_key else {}
        path = f"{self.path}/{name}/predict"
        if api_key:
            # The key replaces the bearer token, so the client's default header must not go.
            return self._one(Record, "POST", path, json=body, headers=headers, anonymous=True)
        return self._one(Record, "POST", path, json=body)


class Client:
    """Synchronous client of the platform (``transports`` reach in-process services in tests)."""

    def __init__(
        self, config: Config | None = None, *, transports: Transports = None, **overrides: Any
    ) -> None:
        self.config = config or Config.load(**overrides)
        self.http = Http(self.config, transports)
        self.schemas = Schemas(self)
        self.datasets = Datasets(self)
        self.batches = Batches(self)
        self.recipes = Recipes(self)
        self.models = Models(self)
        self.runs = Runs(self)
        self.sweeps = Sweeps(self)
        self.scoring = Scoring(self)
        self.services = Services(self)

    def wait_for_batch(self, batch_id: str, **options: Any) -> Batch:
        """See :meth:`Batches.wait`."""
        return self.batches.wait(batch_id, **options)

    def wait_for_run(self, run_id: str, **options: Any) -> Run:
        """See :meth:`Runs.wait`."""
        return self.runs.wait(run_id, **options)

    def wait_for_sweep(self, sweep_id: str, **options: Any) -> Sweep:
        """See :meth:`Sweeps.wait`."""
        return self.sweeps.wait(sweep_id, **options)

    def close(self) -> None:
        """Close the connections."""
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
