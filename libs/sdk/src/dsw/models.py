"""Responses as light typed records: the validated JSON, with attributes for the common fields.

A record is the service's JSON object (``record["field"]`` and ``record.to_dict()`` give all of
it); the properties below name the fields scripts use most, so editors and mypy know them.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Batch",
    "Comparison",
    "Dataset",
    "Model",
    "Recipe",
    "RecipeVersion",
    "Record",
    "Run",
    "Schema",
    "ScoringRun",
    "Service",
    "Sweep",
]


class Record(dict[str, Any]):
    """A JSON object returned by a service; fields also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    @property
    def id(self) -> str:
        """The resource id."""
        return str(self["id"])

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for JSON output)."""
        return dict(self)


class Schema(Record):
    """A catalog XDM schema."""

    @property
    def title(self) -> str:
        """The schema's title."""
        return str(self["title"])


class Dataset(Record):
    """A catalog dataset."""

    @property
    def name(self) -> str:
        """The dataset's unique name in its sandbox."""
        return str(self["name"])

    @property
    def schema_id(self) -> str | None:
        """Its schema, if any."""
        value = self.get("schema_id")
        return None if value is None else str(value)


class Batch(Record):
    """An ingestion batch of a dataset."""

    FINAL = frozenset({"success", "partial", "failed", "aborted"})

    @property
    def status(self) -> str:
        """loading, processing, success, partial, failed or aborted."""
        return str(self["status"])

    @property
    def done(self) -> bool:
        """Whether ingestion is over (whatever its outcome)."""
        return self.status in self.FINAL


class Recipe(Record):
    """A recipe of the registry (an Engine in DSW terms)."""

    @property
    def name(self) -> str:
        """The recipe's name."""
        return str(self["name"])


class RecipeVersion(Record):
    """One immutable version of a recipe."""

    @property
    def version(self) -> str:
        """The version string (semantic version)."""
        return str(self["version"])


class Model(Record):
    """A training model (an MLInstance in DSW terms): recipe, hyperparameters and data."""

    @property
    def name(self) -> str:
        """The model's unique name."""
        return str(self["name"])


class _Stateful(Record):
    FINAL = frozenset({"succeeded", "failed", "cancelled"})

    @property
    def state(self) -> str:
        """queued, running, succeeded, failed or cancelled."""
        return str(self["state"])

    @property
    def done(self) -> bool:
        """Whether it reached a final state."""
        return self.state in self.FINAL


class Run(_Stateful):
    """A training run (an Experiment run in DSW terms)."""

    @property
    def metrics(self) -> dict[str, float]:
        """Evaluation metrics (empty until the run succeeds)."""
        return dict(self.get("metrics") or {})

    @property
    def percent(self) -> float:
        """Progress in percent."""
        return float((self.get("progress") or {}).get("percent") or 0.0)


class Sweep(_Stateful):
    """A hyperparameter sweep: many runs of one model."""

    @property
    def percent(self) -> float:
        """Finished trials over the trial budget, in percent."""
        trials = self.get("trials") or {}
        finished = sum(int(trials.get(key, 0)) for key in ("succeeded", "failed", "cancelled"))
        budget = int(self.get("max_trials") or 0)
        return 100.0 * finished / budget if budget else 0.0


class ScoringRun(_Stateful):
    """A batch scoring run: a model over a dataset into an output dataset."""

    @property
    def percent(self) -> float:
        """Progress in percent."""
        return float((self.get("progress") or {}).get("percent") or 0.0)


class Comparison(Record):
    """Runs of a model side by side: params, metrics and the best run for a metric."""


class Service(Record):
    """A published prediction service (an MLService in DSW terms)."""

    @property
    def name(self) -> str:
        """The service's name (part of its URL)."""
        return str(self["name"])

    @property
    def predict_url(self) -> str:
        """Where to POST records for predictions."""
        return str(self["predict_url"])
