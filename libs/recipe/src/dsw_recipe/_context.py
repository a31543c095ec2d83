"""The run context handed to every recipe call: progress reports and MLflow logging."""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = ["Progress", "RunContext", "quiet_mlflow"]

_log = logging.getLogger("dsw_recipe")

# MLflow caps parameter values at 6000 characters; longer values are cut rather than refused.
_MAX_PARAM_LENGTH = 6000


@contextmanager
def quiet_mlflow() -> Iterator[None]:
    """Silence warnings MLflow and SQLAlchemy emit about their own code and our deliberate choices.

    `mlflow.pyfunc` warns about its own type hints at import, MLflow's SQLAlchemy store uses a
    loader SQLAlchemy has deprecated, and saving without an input example warns; none is
    actionable here, and each would fail test suites that turn warnings into errors.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*Any type hint is inferred as AnyType.*")
        warnings.filterwarnings("ignore", message=r".*``noload`` loader strategy is deprecated.*")
        # The signature is always given explicitly (from the recipe's input fields); an input
        # example would make MLflow run the model while saving.
        warnings.filterwarnings("ignore", message=r".*An input example was not provided.*")
        yield


@dataclass(frozen=True)
class Progress:
    """One progress report: the stage, overall percent done (0-100) and rows handled so far."""

    stage: str
    percent: float
    rows: int | None = None
    message: str | None = None
    time: float = 0.0


class RunContext:
    """What a recipe receives to report progress and log parameters and metrics.

    Without a `tracking_uri` nothing leaves the process: reports and values are kept on the
    context (`events`, `params`, `metrics`) and passed to `on_progress`. With one (a `sqlite:///`
    URI, a directory, or a tracking server URL) the context logs to an MLflow run, either the
    given `run_id` or one it creates in `experiment_name` when first needed (a new experiment
    keeps its artifacts in `artifact_location`, by default beside a SQLite database). Use it as a
    context manager so the run it created is closed as FINISHED or FAILED.
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "dsw-recipes",
        artifact_location: str | None = None,
        run_id: str | None = None,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.tracking_uri = _normalise_tracking_uri(tracking_uri)
        self.experiment_name = experiment_name
        self.artifact_location = artifact_location
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.on_progress = on_progress
        self.events: list[Progress] = []
        self.params: dict[str, str] = {}
        self.metrics: dict[str, float] = {}
        self._run_id = run_id
        self._owns_run = False
        self._client: MlflowClient | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> RunContext:
        if self.tracking_enabled:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.end("FAILED" if exc_type is not None else "FINISHED")

    @property
    def tracking_enabled(self) -> bool:
        """Whether values go to MLflow (a tracking URI was given)."""
        return self.tracking_uri is not None

    @property
    def run_id(self) -> str | None:
        """The MLflow run logged to (None without tracking or before the run starts)."""
        return self._run_id

    @property
    def client(self) -> MlflowClient:
        """The MLflow client bound to this context's tracking URI (tracking must be enabled)."""
        if self.tracking_uri is None:
            raise RuntimeError("this RunContext has no tracking URI")
        if self._client is None:
            with quiet_mlflow():
                from mlflow.tracking import MlflowClient

                self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def start(self) -> str | None:
        """Start (or attach to) the MLflow run; returns its id, or None without tracking."""
        if not self.tracking_enabled:
            return None
        if self._run_id is None:
            client = self.client
            with quiet_mlflow():
                experiment = client.get_experiment_by_name(self.experiment_name)
                experiment_id = (
                    experiment.experiment_id
                    if experiment is not None
                    else client.create_experiment(
                        self.experiment_name,
                        artifact_location=self.artifact_location
                        or _default_artifact_location(self.client.tracking_uri),
                    )
                )
                run = client.create_run(experiment_id, tags=self.tags, run_name=self.run_name)
            self._run_id = run.info.run_id
            self._owns_run = True
        return self._run_id

    def end(self, status: str = "FINISHED") -> None:
        """Close the run this context created (runs passed in by id are left to their owner)."""
        if self._owns_run and self._run_id is not None:
            self.client.set_terminated(self._run_id, status=status)
            self._owns_run = False

    # -- reporting -----------------------------------------------------------------------------

    def progress(
        self, stage: str, percent: float, *, rows: int | None = None, message: str | None = None
    ) -> None:
        """Report that the run is in `stage`, `percent` (0-100) done, having handled `rows`."""
        event = Progress(stage, max(0.0, min(100.0, float(percent))), rows, message, time.time())
        self.events.append(event)
        _log.debug("progress %s %.0f%% rows=%s %s", stage, event.percent, rows, message or "")
        if self.on_progress is not None:
            self.on_progress(event)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (values as text, as MLflow stores them)."""
        text = {name: str(value)[:_MAX_PARAM_LENGTH] for name, value in params.items()}
        new = {name: value for name, value in text.items() if self.params.get(name) != value}
        self.params.update(text)
        if new and self._ensure_run():
            from mlflow.entities import Param

            self.client.log_batch(self._require_run(), params=[Param(k, v) for k, v in new.items()])

    def log_metrics(self, metrics: Mapping[str, float], *, step: int | None = None) -> None:
        """Record metrics; non-finite values are kept locally but not sent (MLflow refuses NaN)."""
        values = {name: float(value) for name, value in metrics.items()}
        self.metrics.update(values)
        finite = {name: value for name, value in values.items() if math.isfinite(value)}
        if finite and self._ensure_run():
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            self.client.log_batch(
                self._require_run(),
                metrics=[Metric(k, v, now, step or 0) for k, v in finite.items()],
            )

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Tag the run."""
        self.tags.update(tags)
        if self._ensure_run():
            from mlflow.entities import RunTag

            self.client.log_batch(
                self._require_run(), tags=[RunTag(k, str(v)) for k, v in tags.items()]
            )

    def log_artifacts(self, local_dir: str | Path, artifact_path: str | None = None) -> None:
        """Upload a directory to the run's artifacts (no-op without tracking)."""
        if self._ensure_run():
            self.client.log_artifacts(self._require_run(), str(local_dir), artifact_path)

    def artifact_uri(self, artifact_path: str) -> str | None:
        """`runs:/<run id>/<artifact_path>`, or None without tracking."""
        return None if self._run_id is None else f"runs:/{self._run_id}/{artifact_path}"

    def _ensure_run(self) -> bool:
        if not self.tracking_enabled:
            return False
        self.start()
        return True

    def _require_run(self) -> str:
        if self._run_id is None:
            raise RuntimeError("no MLflow run")
        return self._run_id


def _normalise_tracking_uri(uri: str | Path | None) -> str | None:
    """A plain directory becomes a SQLite store inside it (`<dir>/mlflow.db`): MLflow 3 refuses
    its file store by default. URIs (`sqlite:///...`, `http://...`) are passed on as they are."""
    if uri is None:
        return None
    text = str(uri)
    if "://" in text or text.startswith(("sqlite:", "databricks")):
        return text
    directory = Path(text).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


def _default_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts beside a SQLite store (`<db dir>/mlartifacts`).

    Without it MLflow puts a new experiment's artifacts under `./mlruns` of whatever the current
    directory is; other stores (servers) choose their own location.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    # `sqlite:////abs/path.db` leaves `/abs/path.db`; `sqlite:///rel.db` is relative to the cwd.
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / "mlartifacts").as_uri()
