"""How a sweep picks the next trial's hyperparameters: grid, seeded random, or Optuna TPE.

Every strategy is a pure function of the sweep's definition, the trial's index and the finished
trials so far, so a sweep driver that dies can be replaced by another that carries on.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from typing import Any

History = Sequence[tuple[dict[str, Any], float | None]]


def grid_points(space: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every combination of the space's values, in a stable order."""
    names = sorted(space)
    axes = [_axis(name, space[name]) for name in names]
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*axes)]


def _axis(name: str, spec: dict[str, Any]) -> list[Any]:
    if spec.get("values"):
        return list(spec["values"])
    if spec["type"] == "int":
        step = int(spec.get("step") or 1)
        return list(range(int(spec["low"]), int(spec["high"]) + 1, step))
    raise ValueError(f"{name}: a float range needs values in a grid")


def random_point(space: dict[str, dict[str, Any]], seed: int, index: int) -> dict[str, Any]:
    """The ``index``-th seeded random point (the same for the same seed and index)."""
    rng = random.Random(f"{seed}:{index}")
    return {name: _sample(rng, space[name]) for name in sorted(space)}


def _sample(rng: random.Random, spec: dict[str, Any]) -> Any:
    if spec["type"] == "choice" or (spec.get("values") and spec.get("low") is None):
        return rng.choice(list(spec["values"]))
    low, high = float(spec["low"]), float(spec["high"])
    if spec["type"] == "int":
        step = int(spec.get("step") or 1)
        if spec.get("log"):
            value = round(math.exp(rng.uniform(math.log(low), math.log(high))))
            return max(int(low), min(int(high), value))
        return rng.randrange(int(low), int(high) + 1, step)
    if spec.get("log"):
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


def _distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    found: dict[str, Any] = {}
    for name, spec in space.items():
        if spec["type"] == "choice" or spec.get("low") is None:
            found[name] = CategoricalDistribution(list(spec["values"]))
        elif spec["type"] == "int":
            found[name] = IntDistribution(
                int(spec["low"]),
                int(spec["high"]),
                log=bool(spec.get("log")),
                step=1 if spec.get("log") else int(spec.get("step") or 1),
            )
        else:
            found[name] = FloatDistribution(
                float(spec["low"]), float(spec["high"]), log=bool(spec.get("log"))
            )
    return found


def tpe_point(
    space: dict[str, dict[str, Any]],
    seed: int,
    index: int,
    history: History,
    *,
    direction: str,
    startup_trials: int,
) -> dict[str, Any]:
    """Optuna's TPE suggestion after the finished trials in ``history`` (failed: value None)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions = _distributions(space)
    study = optuna.create_study(
        direction="minimize" if direction == "min" else "maximize",
        sampler=optuna.samplers.TPESampler(seed=seed + index, n_startup_trials=startup_trials),
    )
    for params, value in history:
        known = {name: params[name] for name in distributions if name in params}
        if len(known) != len(distributions):
            continue
        ok = value is not None and math.isfinite(value)
        study.add_trial(
            create_trial(
                params=known,
                distributions=distributions,
                value=value if ok else None,
                state=TrialState.COMPLETE if ok else TrialState.FAIL,
            )
        )
    trial = study.ask(distributions)
    return dict(trial.params)


def suggest(
    strategy: str,
    space: dict[str, dict[str, Any]],
    *,
    seed: int,
    index: int,
    history: History,
    direction: str,
    max_trials: int,
) -> dict[str, Any] | None:
    """The hyperparameters of trial ``index``; None when a grid has no point left."""
    if strategy == "grid":
        points = grid_points(space)
        return points[index] if index < len(points) else None
    if strategy == "random":
        return random_point(space, seed, index)
    startup = max(2, min(10, max_trials // 3))
    return tpe_point(space, seed, index, history, direction=direction, startup_trials=startup)
