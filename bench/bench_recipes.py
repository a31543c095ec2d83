"""Benchmark: the recommendations and purchase recipes on real data (UCI Online Retail).

    .venv/bin/python bench/bench_recipes.py [--data PATH] [--small]

Reads ``../shared/data/online-retail/`` (431,673 transactions, Dec 2010 - Oct 2011, CC BY 4.0;
see its LICENSE.md), or with ``--small`` the 600-customer sample packaged with dsw_recipe.

- Recommendations: train on everything before 2011-10-01, evaluate on October's customers who
  bought before (Quantity as the strength, the customer's October purchases as the relevant
  items); the recipe against recommending the most popular items and against plain ALS.
- Purchase propensity: for each cutoff (2011-07-01 to 2011-10-01), the customers known at the
  cutoff and whether they buy in the next 30 days; the recipe against logistic regression on
  recency, frequency and monetary value (AUC and lift in the top decile).

Runs one evaluation at a time; the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
from dsw_recipe import read_table, run_local
from dsw_recipe.datasets import online_retail_sample_path
from dsw_recipe.generators import PROFILE_FIELD
from dsw_recipe.recipes import ProductRecommendationsRecipe, PurchasePredictionRecipe

ROOT = Path(__file__).resolve().parent.parent
FULL = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail_2010-12_to_2011-10.csv.gz"
CUTOFFS = ("2011-07-01", "2011-08-01", "2011-09-01", "2011-10-01")
RECOMMENDATIONS = {
    "strength_field": "Quantity",
    "split_date": "2011-10-01",
    "reveal_fraction": 0.0,
    "evaluate_users": "known",
    "k": 10,
}
# The transactions' columns as the recipes' input fields (what a model's field mapping says).
USERS_ITEMS = {"CustomerID": "userId", "StockCode": "itemId", "InvoiceDate": "timestamp"}
PEOPLE = {
    "CustomerID": PROFILE_FIELD,
    "InvoiceDate": "timestamp",
    "InvoiceNo": "commerce.order.purchaseID",
    "StockCode": "productListItems.SKU",
    "Quantity": "productListItems.quantity",
    "UnitPrice": "unitPrice",
}


def _renamed(table: pa.Table, names: dict[str, str]) -> pa.Table:
    return table.rename_columns([names.get(name, name) for name in table.column_names])


def _round(values: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 4) for name, value in values.items()}


def recommendations(table: pa.Table) -> dict[str, Any]:
    start = time.perf_counter()
    result = run_local(
        ProductRecommendationsRecipe,
        _renamed(table, USERS_ITEMS),
        RECOMMENDATIONS,
        score_holdout=False,
    )
    baseline = result.baseline_metrics or {}
    figures = {
        "users_evaluated": int(result.metrics["users_evaluated"]),
        "recipe": _round({k: v for k, v in result.metrics.items() if "_at_" in k}),
        "popularity": _round({k: v for k, v in baseline.items() if k.split("_")[0] != "als"}),
        "als": _round({k[4:]: v for k, v in baseline.items() if k.startswith("als_")}),
        "seconds": round(time.perf_counter() - start, 1),
    }
    figures["popularity"].pop("users_evaluated", None)
    for metric in ("ndcg_at_10", "recall_at_10"):
        ours = figures["recipe"][metric]
        figures[f"{metric}_gain_vs_popularity"] = round(ours / figures["popularity"][metric] - 1, 3)
        figures[f"{metric}_gain_vs_als"] = round(ours / figures["als"][metric] - 1, 3)
    return figures


def purchase(table: pa.Table) -> dict[str, Any]:
    people = _renamed(table, PEOPLE)
    figures: dict[str, Any] = {}
    for cutoff in CUTOFFS:
        start = time.perf_counter()
        result = run_local(
            PurchasePredictionRecipe, people, {"cutoff": cutoff}, score_holdout=False
        )
        baseline = result.baseline_metrics or {}
        figures[cutoff] = {
            "customers": result.rows["holdout"],
            "positive_rate": round(result.metrics["positive_rate"], 4),
            "auc": round(result.metrics["auc"], 4),
            "rfm_auc": round(baseline["auc"], 4),
            "lift_top_decile": round(result.metrics["lift_top_decile"], 3),
            "rfm_lift_top_decile": round(baseline["lift_top_decile"], 3),
            "seconds": round(time.perf_counter() - start, 1),
        }
        print(f"purchase {cutoff}: {figures[cutoff]}", file=sys.stderr, flush=True)
    figures["cutoffs_won"] = sum(
        1
        for cutoff in CUTOFFS
        if figures[cutoff]["auc"] > figures[cutoff]["rfm_auc"]
        and figures[cutoff]["lift_top_decile"] > figures[cutoff]["rfm_lift_top_decile"]
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="Online Retail CSV (.gz)")
    parser.add_argument("--small", action="store_true", help="the packaged 600-customer sample")
    arguments = parser.parse_args()
    path = online_retail_sample_path() if arguments.small else (arguments.data or FULL)
    if not path.exists():
        raise SystemExit(f"{path} not found: pass --data, or --small for the packaged sample")
    table = read_table(path)
    known = table.filter(table["CustomerID"].is_valid())
    print(f"{path.name}: {table.num_rows} rows, {known.num_rows} with a customer", file=sys.stderr)
    recommended = recommendations(known)
    print(f"recommendations: {recommended}", file=sys.stderr, flush=True)
    propensity = purchase(known)
    print(
        json.dumps(
            {
                "bench": "recipes",
                "data": path.name,
                "rows": known.num_rows,
                "recommendations": recommended,
                "purchase": propensity,
            }
        )
    )


if __name__ == "__main__":
    main()
