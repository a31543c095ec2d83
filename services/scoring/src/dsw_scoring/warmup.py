"""Importing MLflow, LightGBM and the recipes takes seconds: do it before the first run needs it.

The API resolves models through MLflow and the workers load them; both start a daemon thread
that imports these modules once, so that the first scoring run does not wait for them.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading

logger = logging.getLogger("dsw.scoring.warmup")

MODULES = ("mlflow.artifacts", "mlflow.tracking", "lightgbm", "dsw_recipe", "dsw_recipe.recipes")


# MLflow's package imports are not safe to run in two threads at once (a half-initialised
# ``mlflow`` module is seen by the other thread): every scoring path that needs MLflow first
# calls ``warm_imports``, which waits for the warm-up thread instead of importing beside it.
_lock = threading.Lock()
_done = False


def warm_imports() -> None:
    """Import what scoring needs, once per process (waits if another thread is doing it).

    Best effort: a failure here only means the caller's own import reports the problem.
    """
    global _done
    with _lock:
        if _done:
            return
        for name in MODULES:
            if name in sys.modules:
                continue
            try:
                importlib.import_module(name)
            except Exception:
                logger.warning("could not import %s ahead of time", name, exc_info=True)
                return
        _done = True
    logger.info("scoring imports ready")


def start_warmup() -> threading.Thread:
    """Run :func:`warm_imports` in a daemon thread."""
    thread = threading.Thread(target=warm_imports, name="scoring-warmup", daemon=True)
    thread.start()
    return thread
