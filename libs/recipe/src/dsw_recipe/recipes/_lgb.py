"""Small helpers the built-in LightGBM recipes share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightgbm as lgb

from dsw_recipe._context import RunContext


def lightgbm_callback(ctx: RunContext, total_rounds: int, *, start: float, end: float) -> Any:
    """A LightGBM callback reporting training progress between `start` and `end` percent."""
    every = max(1, total_rounds // 10)

    def report(env: Any) -> None:
        done = env.iteration + 1
        if done % every == 0 or done == total_rounds:
            ctx.progress("train", start + (end - start) * done / total_rounds)

    return report


def save_booster(booster: lgb.Booster, directory: Path, state: Mapping[str, Any]) -> None:
    """`booster.txt` (LightGBM's text format) and `state.json` beside it."""
    booster.save_model(str(directory / "booster.txt"))
    (directory / "state.json").write_text(json.dumps(state), encoding="utf-8")


def load_booster(directory: Path) -> tuple[lgb.Booster, dict[str, Any]]:
    """What `save_booster` wrote."""
    booster = lgb.Booster(model_file=str(directory / "booster.txt"))
    state: dict[str, Any] = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    return booster, state
