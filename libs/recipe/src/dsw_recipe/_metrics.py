"""Evaluation metrics of the built-in recipes, in NumPy (no scikit-learn needed to evaluate)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Literal, TypeAlias

import numpy as np

MetricDirection: TypeAlias = Literal["min", "max"]

# Metrics where lower is better, by name (a prefix such as `baseline_`, `als_` or `validation_`
# and a suffix such as `_at_10` do not change the direction). Every other metric a built-in
# recipe reports (AUC, NDCG, MAP, precision, recall, F1, accuracy, lift, R²) is better higher.
_LOWER = re.compile(
    r"(^|_)(mape|smape|wape|mae|mse|rmse|rmsle|mase|log_?loss|logloss|loss|error|l1|l2|"
    r"brier|deviance)($|_)"
)

__all__ = [
    "MetricDirection",
    "classification_metrics",
    "metric_direction",
    "ranking_metrics",
    "regression_metrics",
    "top_decile_lift",
]


def metric_direction(name: str) -> MetricDirection:
    """ "min" when lower values of metric `name` are better (errors, losses), else "max"."""
    return "min" if _LOWER.search(name.lower()) else "max"


def regression_metrics(
    actual: np.ndarray, predicted: np.ndarray, *, mase_scale: float | None = None
) -> dict[str, float]:
    """MAPE, MAE, RMSE and (given the naive forecast's in-sample MAE) MASE.

    MAPE = mean(|y - ŷ| / |y|) over rows with y != 0, as a fraction (0.05 = 5 %).
    MASE = MAE / `mase_scale`, where the scale is the mean absolute error of the seasonal-naive
    forecast on the training data (Hyndman & Koehler 2006); below 1 beats that naive forecast.
    """
    actual = np.asarray(actual, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    error = actual - predicted
    nonzero = actual != 0
    metrics = {
        "mape": float(np.mean(np.abs(error[nonzero]) / np.abs(actual[nonzero])))
        if nonzero.any()
        else float("nan"),
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error**2))),
    }
    if mase_scale is not None and mase_scale > 0:
        metrics["mase"] = metrics["mae"] / mase_scale
    return metrics


def _auc(labels: np.ndarray, scores: np.ndarray) -> float:
    positives = labels == 1
    count_positive = int(positives.sum())
    count_negative = len(labels) - count_positive
    if count_positive == 0 or count_negative == 0:
        return float("nan")
    # Mann-Whitney U with average ranks for ties.
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    boundaries = np.flatnonzero(np.diff(sorted_scores)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(scores)]))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    rank_sum = ranks[positives].sum()
    return float(
        (rank_sum - count_positive * (count_positive + 1) / 2) / (count_positive * count_negative)
    )


def classification_metrics(
    labels: np.ndarray, probabilities: np.ndarray, *, threshold: float = 0.5
) -> dict[str, float]:
    """AUC, log loss, and precision, recall, F1 and accuracy at `threshold`, for 0/1 labels."""
    labels = np.asarray(labels, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    clipped = np.clip(probabilities, 1e-15, 1 - 1e-15)
    log_loss = -np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))
    predicted = probabilities >= threshold
    true_positive = float(np.sum(predicted & (labels == 1)))
    predicted_positive = float(predicted.sum())
    actual_positive = float((labels == 1).sum())
    precision = true_positive / predicted_positive if predicted_positive else 0.0
    recall = true_positive / actual_positive if actual_positive else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "auc": _auc(labels, probabilities),
        "log_loss": float(log_loss),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": float(np.mean(predicted == (labels == 1))),
    }


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    """The positive rate among the 10 % highest scores over the overall positive rate (1: no
    better than chance; ties at the boundary broken by position)."""
    labels = np.asarray(labels, dtype=np.float64)
    if len(labels) == 0 or labels.mean() == 0:
        return float("nan")
    top = max(1, int(np.ceil(len(labels) * 0.1)))
    chosen = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")[:top]
    return float(labels[chosen].mean() / labels.mean())


def ranking_metrics(
    recommended: Mapping[str, Sequence[str]], relevant: Mapping[str, set[str]], *, k: int
) -> dict[str, float]:
    """precision@k, recall@k, NDCG@k and MAP@k averaged over users with relevant items.

    A user missing from `recommended` counts as an empty list (scores 0).
    MAP@k divides each user's sum of precision-at-hit by min(k, |relevant|).
    """
    precision, recall, ndcg, average_precision = [], [], [], []
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for user, items in relevant.items():
        if not items:
            continue
        top = list(recommended.get(user, ()))[:k]
        hits = np.array([item in items for item in top], dtype=np.float64)
        hit_count = hits.sum()
        precision.append(hit_count / k)
        recall.append(hit_count / len(items))
        ideal = discounts[: min(k, len(items))].sum()
        ndcg.append(float((hits * discounts[: len(hits)]).sum() / ideal))
        cumulative = np.cumsum(hits)
        precision_at_hit = (cumulative / np.arange(1, len(hits) + 1)) * hits
        average_precision.append(float(precision_at_hit.sum() / min(k, len(items))))
    if not precision:
        nan = float("nan")
        return {
            f"precision_at_{k}": nan,
            f"recall_at_{k}": nan,
            f"ndcg_at_{k}": nan,
            f"map_at_{k}": nan,
        }
    return {
        f"precision_at_{k}": float(np.mean(precision)),
        f"recall_at_{k}": float(np.mean(recall)),
        f"ndcg_at_{k}": float(np.mean(ndcg)),
        f"map_at_{k}": float(np.mean(average_precision)),
        "users_evaluated": float(len(precision)),
    }
