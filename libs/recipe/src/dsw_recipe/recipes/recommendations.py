"""Product recommendations: candidates from item co-occurrence and popularity, ranked by a
LightGBM lambdarank model, top-k items per user.

Training data are interactions (`userId`, `itemId`, `interactionType`, `timestamp`: the shape
of the Luma sample). The model keeps the item co-occurrence counts (users who interacted with
both items), item popularity (all time and recent), each user's recent items, and the ranker.

For a user with history H, a candidate c gets: the weighted and maximum co-occurrence of c with
H, a cosine-normalised co-occurrence, popularity, recent popularity and popularity rank, the
history length and whether c came from co-occurrence. Candidates are the `num_candidates` best
by co-occurrence, topped up with the most popular items; items in H are excluded.

Evaluation is on a time split: interactions after the `holdout_fraction` time quantile are held
out; for each held-out user, the first `reveal_fraction` of their held-out interactions (in time
order) join their history and the rest are the relevant items. The ranker's examples are made
exactly the same way from `training_windows` windows at the end of the training period, each
with statistics from before its window only, so training features never contain the answer and
match what the model sees when it recommends.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import lightgbm as lgb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# scipy ships no type stubs; the sparse matrices are used through a few well-known calls.
import scipy.sparse as sp  # type: ignore[import-untyped]

from dsw_recipe._columns import (
    InputField,
    RecipeDataError,
    day_numbers,
    deduplicate_names,
    resolve_fields,
)
from dsw_recipe._context import RunContext
from dsw_recipe._contract import Params, Recipe, Split, TaskType
from dsw_recipe._metrics import ranking_metrics
from dsw_recipe._params import Param, ParamSpec
from dsw_recipe.recipes._lgb import lightgbm_callback

__all__ = ["ProductRecommendationsRecipe", "RecommendationModel"]

ROLE = "holdout_role"
FEATURE_NAMES = (
    "cooc_sum",
    "cooc_max",
    "cooc_cosine",
    "popularity",
    "recent_popularity",
    "popularity_rank",
    "history_length",
    "user_item_weight",
)
_TYPE_WEIGHTS = {"view": "weight_view", "cartadd": "weight_cart_add", "purchase": "weight_purchase"}


@dataclass
class RecommendationModel:
    """Co-occurrence and popularity statistics, user histories and the ranker."""

    items: np.ndarray  # item ids (object array), index = item number
    cooccurrence: sp.csr_matrix  # items x items, users who interacted with both
    popularity: np.ndarray  # users who interacted with each item
    recent_popularity: np.ndarray
    users: dict[str, int]  # user id -> row of `history`
    history: sp.csr_matrix  # users x items, interaction weight (max per item)
    purchased: sp.csr_matrix  # users x items, 1 where the user purchased the item
    booster: lgb.Booster | None  # None when no training group had a positive candidate

    @property
    def item_index(self) -> dict[str, int]:
        """Item id -> item number."""
        return {str(item): index for index, item in enumerate(self.items.tolist())}


class _History(NamedTuple):
    """One user's recent items (recency order), their weights, and which were purchased."""

    items: np.ndarray
    weights: np.ndarray
    purchased: np.ndarray


def _dedupe_timestamp(table: pa.Table) -> pa.Table:
    """One `timestamp` column from the Luma file's two (see data/luma/README.md).

    `read_table` names the second `timestamp_2`; a table built elsewhere may hold two columns
    both called `timestamp`. The first wins; the second fills its nulls; disagreeing non-null
    values are refused, since the interaction's time would be ambiguous.
    """
    names = deduplicate_names(table.column_names)
    table = table.rename_columns(names)
    if "timestamp" not in names or "timestamp_2" not in names:
        return table
    first, second = table["timestamp"], table["timestamp_2"]
    both = pc.and_(pc.is_valid(first), pc.is_valid(second))
    disagree = pc.and_(both, pc.not_equal(first, second))
    if pc.any(pc.fill_null(disagree, False)).as_py():
        raise RecipeDataError("the two timestamp columns disagree on some rows")
    merged = pc.coalesce(first, second)
    table = table.drop_columns(["timestamp_2"])
    return table.set_column(table.column_names.index("timestamp"), "timestamp", merged)


def _reveal(users: np.ndarray, fraction: float) -> np.ndarray:
    """For rows sorted by (user, time): True for each user's first floor(n x fraction) rows."""
    revealed = np.zeros(len(users), dtype=bool)
    if len(users) == 0:
        return revealed
    boundaries = np.flatnonzero(users[1:] != users[:-1]) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(users)]))
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        revealed[start : start + math.floor((end - start) * fraction)] = True
    return revealed


class ProductRecommendationsRecipe(Recipe[RecommendationModel]):
    """Top-k products per user (DSW "Product Recommendations"), LightGBM lambdarank."""

    name: ClassVar[str] = "product-recommendations"
    version: ClassVar[str] = "1.0.0"
    description: ClassVar[str] = (
        "Recommends k items per user: candidates from item co-occurrence and popularity, "
        "ranked by LightGBM lambdarank. Metrics: precision@k, recall@k, NDCG@k, MAP@k on a "
        "time split, with a popularity baseline."
    )
    task_type: ClassVar[TaskType] = TaskType.RANKING
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField("userId", "string"),
        InputField("itemId", "string", description="null: only ask for the user's items"),
        InputField(
            "interactionType",
            "string",
            required=False,
            description="view, cartAdd, cartRemove or purchase (absent: purchase)",
        ),
        InputField("timestamp", "date-time", description="(the Luma CSV names it twice)"),
    )
    input_features: ClassVar[tuple[str, ...]] = ("userId", "itemId", "interactionType", "timestamp")
    target_features: ClassVar[tuple[str, ...]] = ("itemId",)
    key_columns: ClassVar[tuple[str, ...]] = ("userId",)
    time_field: ClassVar[str | None] = "timestamp"
    params: ClassVar[ParamSpec] = ParamSpec.of(
        Param("k", "integer", 5, "items recommended per user (DSW num_recommendations)", 1, 500),
        Param("num_candidates", "integer", 50, "candidates ranked per user", minimum=1),
        Param("max_history", "integer", 50, "recent items per user kept and used", minimum=1),
        Param("recent_days", "number", 14.0, "window of recent popularity, days", 0.0, None, True),
        Param("weight_view", "number", 1.0, "history weight of a view", minimum=0.0),
        Param("weight_cart_add", "number", 3.0, "history weight of a cart add", minimum=0.0),
        Param("weight_purchase", "number", 5.0, "history weight of a purchase", minimum=0.0),
        Param(
            "target_interactions",
            "string",
            "",
            "comma-separated interaction types that count as relevant (empty: all)",
        ),
        Param(
            "holdout_fraction", "number", 0.2, "latest interactions held out", 0.0, 1.0, True, True
        ),
        Param(
            "reveal_fraction",
            "number",
            0.5,
            "held-out interactions shown as history",
            0.0,
            1.0,
            False,
            True,
        ),
        Param(
            "training_windows",
            "integer",
            3,
            "time windows (each holdout_fraction long) at the end of the training period "
            "that ranker examples come from",
            minimum=1,
            maximum=20,
        ),
        Param("learning_rate", "number", 0.05, "shrinkage of each tree", 0.0, 1.0, True),
        # Small trees: ranking examples are few (one group per user per window); measured on
        # the Luma sample and on generated interactions against the popularity baseline.
        Param("n_estimators", "integer", 100, "boosting rounds", minimum=1, maximum=10_000),
        Param("num_leaves", "integer", 4, "leaves per tree", minimum=2, maximum=4096),
        Param("min_data_in_leaf", "integer", 50, "rows per leaf at least", minimum=1),
        Param(
            "output_format",
            "string",
            "long",
            "one row per (user, rank), or one row per user with '#'-joined items (DSW's format)",
            choices=("long", "delimited"),
        ),
        Param(
            "exclude_seen",
            "string",
            "purchased",
            "items never recommended to a user: those purchased, any interacted with, or none",
            choices=("purchased", "all", "none"),
        ),
        Param("seed", "integer", 7, "random seed", minimum=0),
        Param("num_threads", "integer", 2, "LightGBM threads", minimum=1, maximum=256),
    )

    # -- prepare -------------------------------------------------------------------------------

    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Typed interactions sorted by (user, time), with each row's history `weight`."""
        resolved = resolve_fields(_dedupe_timestamp(table), self.input_fields)
        resolved = resolved.filter(pc.is_valid(resolved["userId"]))
        if not scoring:
            resolved = resolved.filter(
                pc.and_(pc.is_valid(resolved["itemId"]), pc.is_valid(resolved["timestamp"]))
            )
        if resolved.num_rows == 0:
            raise RecipeDataError("no interactions with a user, an item and a time")
        kinds = pc.utf8_lower(pc.fill_null(resolved["interactionType"], "purchase"))
        weights = np.zeros(resolved.num_rows)
        for kind, param in _TYPE_WEIGHTS.items():
            weights[np.asarray(pc.equal(kinds, kind).to_numpy(zero_copy_only=False))] = float(
                params[param]
            )
        resolved = resolved.set_column(2, "interactionType", kinds)
        resolved = resolved.append_column("weight", pa.array(weights))
        return resolved.sort_by([("userId", "ascending"), ("timestamp", "ascending")])

    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """Rows after the time quantile 1 - `holdout_fraction` are held out, each held-out
        user's first `reveal_fraction` of them marked as history (`holdout_role`)."""
        days = day_numbers(features["timestamp"])
        cutoff = float(np.quantile(days, 1.0 - float(params["holdout_fraction"])))
        held = days >= cutoff
        if held.all() or not held.any():
            raise RecipeDataError("the time split leaves no training or no held-out rows")
        holdout = features.filter(pa.array(held))
        users = np.asarray(holdout["userId"].to_numpy(zero_copy_only=False), dtype=object)
        revealed = _reveal(users, float(params["reveal_fraction"]))
        roles = np.where(revealed, "history", "target").astype(object)
        holdout = holdout.append_column(ROLE, pa.array(roles, pa.string()))
        return Split(features.filter(pa.array(~held)), holdout)

    # -- statistics ----------------------------------------------------------------------------

    def _user_item_matrix(
        self,
        table: pa.Table,
        item_index: Mapping[str, int],
        users: Mapping[str, int],
        *,
        only: str | None = None,
    ) -> sp.csr_matrix:
        """users x items, the maximum interaction weight (rows of type `only`, if given)."""
        rows, columns, values = [], [], []
        for user, item, kind, weight in zip(
            table["userId"].to_pylist(),
            table["itemId"].to_pylist(),
            table["interactionType"].to_pylist(),
            table["weight"].to_numpy().tolist(),
            strict=True,
        ):
            column = item_index.get(item) if item is not None else None
            if column is None or user not in users or (only is not None and kind != only):
                continue
            if only is None and weight <= 0:
                continue
            rows.append(users[user])
            columns.append(column)
            values.append(1.0 if only is not None else weight)
        # CSR conversion would sum repeated (user, item) pairs; keep the maximum weight instead.
        return _max_duplicates(
            sp.coo_matrix(
                (
                    np.asarray(values, dtype=np.float64),
                    (np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)),
                ),
                shape=(len(users), len(item_index)),
            )
        )

    def _statistics(
        self, train: pa.Table, params: Params
    ) -> tuple[RecommendationModel, sp.csr_matrix]:
        """The model's statistics (no ranker yet) and the users x items recent-activity matrix."""
        items = np.array(sorted(set(train["itemId"].to_pylist())), dtype=object)
        item_index = {item: index for index, item in enumerate(items.tolist())}
        users = {user: index for index, user in enumerate(sorted(set(train["userId"].to_pylist())))}
        history = self._user_item_matrix(train, item_index, users)
        purchased = self._user_item_matrix(train, item_index, users, only="purchase")
        binary = (history > 0).astype(np.float64)
        cooccurrence = (binary.T @ binary).tocsr()
        cooccurrence.setdiag(0)
        cooccurrence.eliminate_zeros()
        days = day_numbers(train["timestamp"])
        recent_rows = pa.array(days >= days.max() - float(params["recent_days"]))
        recent = self._user_item_matrix(train.filter(recent_rows), item_index, users)
        recent = (recent > 0).astype(np.float64).tocsr()
        model = RecommendationModel(
            items=items,
            cooccurrence=cooccurrence,
            popularity=np.asarray(binary.sum(axis=0)).ravel(),
            recent_popularity=np.asarray(recent.sum(axis=0)).ravel(),
            users=users,
            history=history,
            purchased=purchased,
            booster=None,
        )
        return model, recent

    # -- candidates and their features ---------------------------------------------------------

    def _candidates(
        self,
        model: RecommendationModel,
        history: _History,
        params: Params,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidate item numbers, feature matrix) for one user."""
        count = len(model.items)
        popularity = model.popularity.astype(np.float64)
        recent = model.recent_popularity.astype(np.float64)
        rows = (
            model.cooccurrence[history.items].toarray().astype(np.float64)
            if len(history.items)
            else np.zeros((0, count))
        )
        weighted = history.weights @ rows
        mode = params["exclude_seen"]
        excluded = np.zeros(count, dtype=bool)
        if mode == "all":
            excluded[history.items] = True
        elif mode == "purchased":
            excluded[history.items[history.purchased]] = True
        own_weight = np.zeros(count)
        own_weight[history.items] = history.weights
        limit = int(params["num_candidates"])
        chosen: list[int] = []
        taken = excluded.copy()

        def take(ordered: np.ndarray) -> None:
            for item in ordered.tolist():
                if len(chosen) >= limit:
                    return
                if not taken[item]:
                    taken[item] = True
                    chosen.append(item)

        # The user's own (not excluded) items, then co-occurrence, then popularity.
        take(history.items[np.argsort(-history.weights, kind="stable")])
        by_cooccurrence = np.flatnonzero(weighted > 0)
        take(by_cooccurrence[np.argsort(-weighted[by_cooccurrence], kind="stable")])
        take(np.argsort(-popularity, kind="stable"))
        candidates = np.asarray(chosen, dtype=np.int64)
        if len(candidates) == 0:
            return candidates, np.zeros((0, len(FEATURE_NAMES)))
        rank = np.empty(count)
        rank[np.argsort(-popularity, kind="stable")] = np.arange(count)
        if len(history.items):
            block = rows[:, candidates]
            denominator = np.sqrt(
                np.outer(
                    np.maximum(popularity[history.items], 1.0),
                    np.maximum(popularity[candidates], 1.0),
                )
            )
            cooc_max = block.max(axis=0)
            cosine = (history.weights[:, np.newaxis] * block / denominator).sum(axis=0)
        else:
            cooc_max = np.zeros(len(candidates))
            cosine = np.zeros(len(candidates))
        matrix = np.column_stack(
            [
                weighted[candidates],
                cooc_max,
                cosine,
                np.log1p(np.maximum(popularity[candidates], 0)),
                np.log1p(np.maximum(recent[candidates], 0)),
                rank[candidates],
                np.full(len(candidates), float(len(history.items))),
                own_weight[candidates],
            ]
        )
        return candidates, matrix

    def _histories(
        self, model: RecommendationModel, extra: pa.Table | None, params: Params
    ) -> dict[str, _History]:
        """Per user of `extra`: stored history + `extra`'s rows, the `max_history` latest."""
        weights: dict[str, dict[int, float]] = {}
        bought: dict[str, set[int]] = {}
        index = model.item_index
        if extra is not None:
            for user, item, kind, weight in zip(
                extra["userId"].to_pylist(),
                extra["itemId"].to_pylist(),
                extra["interactionType"].to_pylist(),
                extra["weight"].to_numpy().tolist(),
                strict=True,
            ):
                entry = weights.setdefault(user, {})
                purchases = bought.setdefault(user, set())
                column = index.get(item) if item is not None else None
                if column is None:
                    continue
                if weight > 0:
                    # Re-inserting moves the item to the end: dict order is recency order.
                    entry[column] = max(entry.pop(column, 0.0), weight)
                if kind == "purchase":
                    purchases.add(column)
        result = {}
        for user, entry in weights.items():
            row = model.users.get(user)
            merged: dict[int, float] = {}
            purchases = bought[user]
            if row is not None:
                start, end = model.history.indptr[row], model.history.indptr[row + 1]
                for column, weight in zip(
                    model.history.indices[start:end].tolist(),
                    model.history.data[start:end].tolist(),
                    strict=True,
                ):
                    merged[column] = weight
                start, end = model.purchased.indptr[row], model.purchased.indptr[row + 1]
                purchases |= set(model.purchased.indices[start:end].tolist())
            for column, weight in entry.items():
                merged[column] = max(merged.pop(column, 0.0), weight)
            pairs = list(merged.items())[-int(params["max_history"]) :]
            items = np.asarray([item for item, _ in pairs], dtype=np.int64)
            result[user] = _History(
                items,
                np.asarray([weight for _, weight in pairs], dtype=np.float64),
                np.isin(items, list(purchases)),
            )
        return result

    # -- train / evaluate / score --------------------------------------------------------------

    def _window_split(self, rows: pa.Table, start: float, end: float, params: Params) -> Split:
        """Rows before time quantile `start` / rows in [start, end) with holdout roles."""
        days = day_numbers(rows["timestamp"])
        low, high = np.quantile(days, [start, end])
        before = days < low
        inside = (days >= low) & ((days < high) if end < 1.0 else np.ones(len(days), dtype=bool))
        window = rows.filter(pa.array(inside))
        users = np.asarray(window["userId"].to_numpy(zero_copy_only=False), dtype=object)
        revealed = _reveal(users, float(params["reveal_fraction"]))
        roles = pa.array(np.where(revealed, "history", "target").astype(object), pa.string())
        return Split(rows.filter(pa.array(before)), window.append_column(ROLE, roles))

    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> RecommendationModel:
        """Ranker examples from `training_windows` time windows at the end of the training
        period, each made exactly like the evaluation (statistics from before the window,
        history = stored + revealed rows, relevant = hidden rows); then the statistics of the
        whole training period for the saved model."""
        fraction = float(params["holdout_fraction"])
        blocks, labels, groups = [], [], []
        for window in range(int(params["training_windows"])):
            end = 1.0 - window * fraction
            start = end - fraction
            if start <= 0.05:
                break
            before, inside = self._window_split(train, start, end, params)
            if before.num_rows == 0 or inside.num_rows == 0:
                continue
            stats, _ = self._statistics(before, params)
            context, hidden = self._holdout_parts(inside)
            index = stats.item_index
            relevant = self._relevant(hidden, params)
            for user, history in self._histories(stats, context, params).items():
                targets = [index[item] for item in relevant.get(user, ()) if item in index]
                if not targets:
                    continue
                candidates, matrix = self._candidates(stats, history, params)
                label = np.isin(candidates, targets).astype(np.float64)
                if label.sum() == 0:
                    continue  # a group without a positive teaches lambdarank nothing
                blocks.append(matrix)
                labels.append(label)
                groups.append(len(candidates))
        model, _ = self._statistics(train, params)
        ctx.progress("train", 10, rows=sum(groups))
        if not groups:
            ctx.progress("train", 100, message="no positive candidates: popularity order only")
            return model
        rounds = int(params["n_estimators"])
        model.booster = lgb.train(
            {
                "objective": "lambdarank",
                "learning_rate": params["learning_rate"],
                "num_leaves": params["num_leaves"],
                "min_data_in_leaf": params["min_data_in_leaf"],
                "eval_at": [int(params["k"])],
                "seed": params["seed"],
                "num_threads": params["num_threads"],
                "deterministic": True,
                "verbose": -1,
            },
            lgb.Dataset(
                np.vstack(blocks),
                np.concatenate(labels),
                group=groups,
                feature_name=list(FEATURE_NAMES),
            ),
            num_boost_round=rounds,
            callbacks=[lightgbm_callback(ctx, rounds, start=10, end=100)],
        )
        return model

    def _relevant(self, hidden: pa.Table, params: Params) -> dict[str, set[str]]:
        wanted = {
            kind.strip().lower()
            for kind in str(params["target_interactions"]).split(",")
            if kind.strip()
        }
        relevant: dict[str, set[str]] = {}
        for user, item, kind in zip(
            hidden["userId"].to_pylist(),
            hidden["itemId"].to_pylist(),
            hidden["interactionType"].to_pylist(),
            strict=True,
        ):
            if item is not None and (not wanted or kind in wanted):
                relevant.setdefault(user, set()).add(item)
        return relevant

    def recommend(
        self, model: RecommendationModel, interactions: pa.Table | None, params: Params
    ) -> dict[str, list[tuple[str, float]]]:
        """Top-k (item, score) per user of `interactions` (history = stored + these rows)."""
        k = int(params["k"])
        result: dict[str, list[tuple[str, float]]] = {}
        for user, history in self._histories(model, interactions, params).items():
            candidates, matrix = self._candidates(model, history, params)
            if len(candidates) == 0:
                result[user] = []
                continue
            if model.booster is not None:
                scores = np.asarray(model.booster.predict(matrix, num_threads=1))
            else:
                scores = -matrix[:, FEATURE_NAMES.index("popularity_rank")]
            order = np.argsort(-scores, kind="stable")[:k]
            result[user] = [(str(model.items[candidates[i]]), float(scores[i])) for i in order]
        return result

    def _holdout_parts(self, holdout: pa.Table) -> tuple[pa.Table, pa.Table]:
        """(rows shown as history, including a stub row per held-out user; hidden rows)."""
        if ROLE not in holdout.column_names:
            raise RecipeDataError(f"held-out rows need the {ROLE!r} column from split()")
        shown = holdout.filter(pc.equal(holdout[ROLE], "history"))
        hidden = holdout.filter(pc.equal(holdout[ROLE], "target"))
        # Every held-out user is scored, even those with nothing revealed (history = stored).
        users = pc.unique(holdout["userId"])
        stub = pa.table(
            {
                "userId": users,
                "itemId": pa.nulls(len(users), pa.string()),
                "interactionType": pa.nulls(len(users), pa.string()),
                "timestamp": pa.nulls(len(users), pa.timestamp("us")),
                "weight": pa.array(np.zeros(len(users))),
            }
        )
        return pa.concat_tables([stub, shown.select(stub.column_names)]), hidden

    def evaluate(
        self, model: RecommendationModel, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """precision@k, recall@k, NDCG@k, MAP@k over held-out users with relevant items."""
        context, hidden = self._holdout_parts(holdout)
        recommended = {
            user: [item for item, _ in ranked]
            for user, ranked in self.recommend(model, context, params).items()
        }
        return ranking_metrics(recommended, self._relevant(hidden, params), k=int(params["k"]))

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """Most popular training items (by users), minus what `exclude_seen` excludes."""
        model, _ = self._statistics(train, params)
        order = np.argsort(-model.popularity, kind="stable")
        context, hidden = self._holdout_parts(holdout)
        k, mode = int(params["k"]), params["exclude_seen"]
        recommended = {}
        for user, history in self._histories(model, context, params).items():
            seen: set[int] = set()
            if mode == "all":
                seen = set(history.items.tolist())
            elif mode == "purchased":
                seen = set(history.items[history.purchased].tolist())
            recommended[user] = [str(model.items[i]) for i in order if i not in seen][:k]
        return ranking_metrics(recommended, self._relevant(hidden, params), k=k)

    def score(
        self, model: RecommendationModel, features: pa.Table, params: Params, ctx: RunContext
    ) -> pa.Table:
        """`userId`, `rank`, `itemId`, `score` (long), or `userId`, `recommendations` joined by
        '#' (delimited, DSW's output)."""
        ranked = self.recommend(model, features, params)
        if params["output_format"] == "delimited":
            return pa.table(
                {
                    "userId": pa.array(list(ranked), pa.string()),
                    "recommendations": pa.array(
                        ["#".join(item for item, _ in items) for items in ranked.values()],
                        pa.string(),
                    ),
                }
            )
        users, ranks, items, scores = [], [], [], []
        for user, entries in ranked.items():
            for position, (item, value) in enumerate(entries, start=1):
                users.append(user)
                ranks.append(position)
                items.append(item)
                scores.append(value)
        return pa.table(
            {
                "userId": pa.array(users, pa.string()),
                "rank": pa.array(ranks, pa.int64()),
                "itemId": pa.array(items, pa.string()),
                "score": pa.array(scores, pa.float64()),
            }
        )

    # -- persistence ---------------------------------------------------------------------------

    def booster(self, model: RecommendationModel) -> lgb.Booster | None:
        """The ranker (None when training found no positive candidates)."""
        return model.booster

    def model_inputs(self, model: RecommendationModel) -> tuple[InputField, ...]:
        """userId (required); itemId, interactionType, timestamp optional (extra history)."""
        return tuple(
            field if field.name == "userId" else InputField(field.name, field.type, False)
            for field in self.input_fields
        )

    def save_model_state(self, model: RecommendationModel, directory: Path) -> None:
        """`statistics.npz` (matrices), `state.json` (ids), `booster.txt` (ranker)."""
        np.savez_compressed(
            directory / "statistics.npz",
            cooccurrence_data=model.cooccurrence.data,
            cooccurrence_indices=model.cooccurrence.indices,
            cooccurrence_indptr=model.cooccurrence.indptr,
            history_data=model.history.data,
            history_indices=model.history.indices,
            history_indptr=model.history.indptr,
            purchased_indices=model.purchased.indices,
            purchased_indptr=model.purchased.indptr,
            popularity=model.popularity,
            recent_popularity=model.recent_popularity,
        )
        users = sorted(model.users, key=model.users.__getitem__)
        state = {"items": [str(item) for item in model.items.tolist()], "users": users}
        (directory / "state.json").write_text(json.dumps(state), encoding="utf-8")
        if model.booster is not None:
            model.booster.save_model(str(directory / "booster.txt"))

    def load_model_state(self, directory: Path) -> RecommendationModel:
        """Rebuild what `save_model_state` wrote."""
        state: dict[str, Any] = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        items = np.array(state["items"], dtype=object)
        users = list(state["users"])
        with np.load(directory / "statistics.npz") as arrays:
            cooccurrence = sp.csr_matrix(
                (
                    arrays["cooccurrence_data"],
                    arrays["cooccurrence_indices"],
                    arrays["cooccurrence_indptr"],
                ),
                shape=(len(items), len(items)),
            )
            history = sp.csr_matrix(
                (arrays["history_data"], arrays["history_indices"], arrays["history_indptr"]),
                shape=(len(users), len(items)),
            )
            purchased_indices = arrays["purchased_indices"]
            purchased = sp.csr_matrix(
                (
                    np.ones(len(purchased_indices)),
                    purchased_indices,
                    arrays["purchased_indptr"],
                ),
                shape=(len(users), len(items)),
            )
            popularity = arrays["popularity"]
            recent = arrays["recent_popularity"]
        booster_file = directory / "booster.txt"
        booster = lgb.Booster(model_file=str(booster_file)) if booster_file.exists() else None
        return RecommendationModel(
            items=items,
            cooccurrence=cooccurrence,
            popularity=popularity,
            recent_popularity=recent,
            users={user: index for index, user in enumerate(users)},
            history=history,
            purchased=purchased,
            booster=booster,
        )


def _max_duplicates(matrix: sp.coo_matrix) -> sp.csr_matrix:
    """CSR with the maximum of duplicate (row, column) entries instead of their sum."""
    order = np.lexsort((-matrix.data, matrix.col, matrix.row))
    rows, columns, data = matrix.row[order], matrix.col[order], matrix.data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (columns[1:] != columns[:-1])
    return sp.csr_matrix((data[first], (rows[first], columns[first])), shape=matrix.shape)
