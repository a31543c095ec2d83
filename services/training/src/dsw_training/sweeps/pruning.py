"""Early stopping of sweep trials: Optuna's MedianPruner over LightGBM's per-iteration metric.

The driver rebuilds a small in-memory Optuna study from the runs (finished trials with their
intermediate values, then the running trial), so that nothing about pruning lives outside the
database and a new driver decides exactly as a dead one would have.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

Series = Sequence[Sequence[float]]  # [[step, value], ...]


def prune_reason(
    settings: dict[str, Any],
    *,
    higher_is_better: bool,
    finished: Sequence[Series],
    current: Series,
    metric: str,
) -> str | None:
    """Why the running trial with ``current`` values should stop, or None to let it run.

    Only the steps the finished trials also reached count: a longer trial is judged at the last
    round the others can be compared on.
    """
    import optuna
    from optuna.trial import TrialState, create_trial

    finished = [series for series in finished if series]
    if not finished or not current:
        return None
    last_common = max(int(series[-1][0]) for series in finished)
    comparable = [(int(step), float(value)) for step, value in current if step <= last_common]
    comparable = [(step, value) for step, value in comparable if math.isfinite(value)]
    if not comparable:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if higher_is_better else "minimize",
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=int(settings.get("n_startup_trials", 3)),
            n_warmup_steps=int(settings.get("n_warmup_steps", 10)),
        ),
    )
    for series in finished:
        values = {int(step): float(value) for step, value in series if math.isfinite(value)}
        if values:
            study.add_trial(
                create_trial(
                    value=values[max(values)],
                    intermediate_values=values,
                    state=TrialState.COMPLETE,
                )
            )
    trial = study.ask()
    for step, value in comparable:
        trial.report(value, step)
    if not trial.should_prune():
        return None
    step, value = comparable[-1]
    best = (max if higher_is_better else min)(value for _, value in comparable)
    at_step = [float(v) for series in finished for s, v in series if int(s) == step]
    median = statistics.median(at_step) if at_step else float("nan")
    return (
        f"pruned at iteration {step}: best {metric} so far {best:.6g} is worse than the median "
        f"{median:.6g} of {len(at_step)} finished trial(s) at that iteration (Optuna MedianPruner)"
    )
