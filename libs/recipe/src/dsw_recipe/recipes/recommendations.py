"""Product recommendations: candidates from ALS matrix factorisation (implicit feedback) and
BM25 item-item neighbours, plus the user's own items and popular items, re-ranked by a LightGBM
lambdarank model; top-k items per user.

Interactions are (`userId`, `itemId`, optional `timestamp`, optional `interactionType`) with a
strength: the column named by the `strength_field` parameter (explicit ratings, quantities;
absent: 1 per row) times the weight of the row's interaction type (view, cart add, purchase;
absent: 1). A (user, item) pair's strength is the sum over its rows (returns with negative
quantities cancel purchases); pairs at or below `min_strength` are not interactions.

Candidate generation uses the `implicit` library (Hu, Koren & Volinsky 2008 ALS with confidence
1 + alpha * log(1 + strength); Robertson's BM25 weighting for item-item cosine neighbours), a
well-kept, compiled and multithreaded implementation made for exactly this job. Candidates are
ranked by LightGBM lambdarank on user, item, pair and recency features (`FEATURE_NAMES`).

Splits. With times, the held-out rows are those from `split_date` on (or, without it, after the
1 - `holdout_fraction` time quantile); each held-out user's first `reveal_fraction` of them
join their history. Without times, a seeded per-user holdout: `holdout_fraction` of each user's
items (users with two items or more). The ranker's examples are made exactly the same way inside
the training rows (`training_windows` windows of `window_days`, or seeded per-user holdouts),
with the statistics of what came before each window only, so training features never contain the
answer. A share of the ranker's users (`validation_fraction`) is kept aside for early stopping.

Cold users (no history) get the most popular items of the recent period. Items seen by fewer than
`min_item_users` users are never recommended from popularity or the factorisation: only as the
user's own items or near neighbours of them.
"""

from __future__ import annotations

import json
import math
import warnings
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
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
    cast_column,
    day_numbers,
    deduplicate_names,
    find_column,
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
    "als_score",
    "als_rank",
    "neighbour_score",
    "neighbour_rank",
    "user_item_strength",
    "user_item_count",
    "user_item_days_since",
    "user_item_seen",
    "item_popularity",
    "item_recent_popularity",
    "item_trend",
    "item_popularity_rank",
    "user_history_length",
    "user_total_strength",
    "user_days_since_active",
)
_TYPE_WEIGHTS = {"view": "weight_view", "cartadd": "weight_cart_add", "purchase": "weight_purchase"}
_BATCH = 512
_OWN_SHARE = 0.05  # exclude_seen=auto: own items excluded when users come back for fewer


@dataclass
class RecommendationModel:
    """Factorisation, neighbours, popularity, user histories and the ranker."""

    items: np.ndarray  # item ids (object array), index = item number
    item_factors: np.ndarray  # items x factors (ALS)
    regularization: float
    alpha: float
    similarity: sp.csr_matrix  # items x items, BM25 cosine neighbours
    popularity: np.ndarray  # users who interacted with each item
    recent_popularity: np.ndarray  # the same over the last `recent_days`
    users: dict[str, int]  # user id -> row of the user x item matrices
    strength: sp.csr_matrix  # users x items, summed strength (positive pairs only)
    counts: sp.csr_matrix  # users x items, days (or rows, without times) with the pair
    last_day: sp.csr_matrix  # users x items, day number of the pair's last row (0: no times)
    reference_day: float  # the end of the training period (0 without times)
    booster: lgb.Booster | None  # None when no training group had a positive candidate
    exclude_own: bool = False  # never recommend a user's own items (exclude_seen, resolved)

    @property
    def item_index(self) -> dict[str, int]:
        """Item id -> item number."""
        return {str(item): index for index, item in enumerate(self.items.tolist())}


class _Stats(NamedTuple):
    """One user's rows merged: item numbers with their strength, count and last day."""

    items: np.ndarray
    strength: np.ndarray
    counts: np.ndarray
    last_day: np.ndarray


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


def _has_times(table: pa.Table) -> bool:
    return bool(table.num_rows > 0 and table["timestamp"].null_count < table.num_rows)


def _strings(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


def _user_hash(user: str, seed: int) -> int:
    return zlib.crc32(f"{seed}:{user}".encode())


class ProductRecommendationsRecipe(Recipe[RecommendationModel]):
    """Top-k products per user (DSW "Product Recommendations"): ALS and item-item candidates,
    LightGBM lambdarank."""

    name: ClassVar[str] = "product-recommendations"
    version: ClassVar[str] = "2.0.0"
    description: ClassVar[str] = (
        "Recommends k items per user: candidates from ALS matrix factorisation and BM25 "
        "item-item neighbours (implicit), the user's own and popular items, re-ranked by "
        "LightGBM lambdarank. Learns from ratings, quantities or weighted event types. Metrics: "
        "precision@k, recall@k, NDCG@k, MAP@k on a time split (or a seeded per-user holdout), "
        "with popularity and plain ALS baselines."
    )
    task_type: ClassVar[TaskType] = TaskType.RANKING
    input_fields: ClassVar[tuple[InputField, ...]] = (
        InputField("userId", "string"),
        InputField("itemId", "string", description="null: only ask for the user's items"),
        InputField(
            "interactionType",
            "string",
            required=False,
            description="view, cartAdd, cartRemove or purchase (absent: weight 1)",
        ),
        InputField(
            "timestamp",
            "date-time",
            required=False,
            description="absent: a seeded per-user holdout instead of a time split",
        ),
    )
    input_features: ClassVar[tuple[str, ...]] = ("userId", "itemId", "interactionType", "timestamp")
    target_features: ClassVar[tuple[str, ...]] = ("itemId",)
    key_columns: ClassVar[tuple[str, ...]] = ("userId",)
    time_field: ClassVar[str | None] = "timestamp"
    params: ClassVar[ParamSpec] = ParamSpec.of(
        Param("k", "integer", 10, "items recommended per user (DSW num_recommendations)", 1, 500),
        Param(
            "strength_field",
            "string",
            "",
            "column carrying each interaction's strength: a rating, a quantity (empty or "
            "absent: 1 per interaction)",
        ),
        Param(
            "min_strength",
            "number",
            0.0,
            "a (user, item) pair counts when its summed strength is above this (ratings: e.g. 3)",
        ),
        Param("weight_view", "number", 1.0, "strength factor of a view", minimum=0.0),
        Param("weight_cart_add", "number", 3.0, "strength factor of a cart add", minimum=0.0),
        Param("weight_purchase", "number", 5.0, "strength factor of a purchase", minimum=0.0),
        Param(
            "target_interactions",
            "string",
            "",
            "comma-separated interaction types that count as relevant (empty: all)",
        ),
        Param("num_candidates", "integer", 60, "candidates ranked per user", minimum=1),
        Param("factors", "integer", 64, "ALS latent factors", minimum=1, maximum=1024),
        Param("als_iterations", "integer", 15, "ALS sweeps", minimum=1, maximum=200),
        Param("als_regularization", "number", 0.1, "ALS L2 regularisation", minimum=0.0),
        Param("als_alpha", "number", 10.0, "ALS confidence of log(1 + strength)", 0.0, None, True),
        Param("neighbours", "integer", 100, "BM25 item-item neighbours kept per item", minimum=1),
        Param(
            "min_item_users",
            "integer",
            2,
            "users an item needs before popularity or ALS may recommend it",
            minimum=1,
        ),
        Param("recent_days", "number", 30.0, "window of recent popularity, days", 0.0, None, True),
        Param(
            "split_date",
            "string",
            "",
            "held-out rows from this date on (YYYY-MM-DD; empty: the holdout_fraction quantile)",
        ),
        Param(
            "holdout_fraction",
            "number",
            0.2,
            "latest interactions held out (per user, at random, without times)",
            0.0,
            1.0,
            True,
            True,
        ),
        Param(
            "reveal_fraction",
            "number",
            0.5,
            "held-out interactions shown as history (time split only)",
            0.0,
            1.0,
            False,
            True,
        ),
        Param(
            "evaluate_users",
            "string",
            "all",
            "held-out users evaluated: all, or only those known from training",
            choices=("all", "known"),
        ),
        Param(
            "window_days",
            "number",
            0.0,
            "length of each ranker training window, days (0: as long as the held-out period)",
            minimum=0.0,
        ),
        Param(
            "training_windows",
            "integer",
            2,
            "windows (or seeded holdouts) at the end of the training period that ranker "
            "examples come from",
            minimum=1,
            maximum=20,
        ),
        Param(
            "validation_fraction",
            "number",
            0.2,
            "share of the ranker's users kept for early stopping",
            0.0,
            1.0,
            False,
            True,
        ),
        Param("early_stopping_rounds", "integer", 30, "rounds without gain before stopping", 1),
        Param("learning_rate", "number", 0.05, "shrinkage of each tree", 0.0, 1.0, True),
        Param("n_estimators", "integer", 300, "boosting rounds at most", minimum=1, maximum=10_000),
        Param("num_leaves", "integer", 15, "leaves per tree", minimum=2, maximum=4096),
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
            "auto",
            "never recommend a user's own items (seen), always allow them (none: repeat "
            "purchases, as in retail), or decide from the training windows (auto: excluded "
            "when under 5% of the items users came back for were their own)",
            choices=("auto", "seen", "none"),
        ),
        Param("seed", "integer", 7, "random seed", minimum=0),
        Param("num_threads", "integer", 2, "LightGBM and implicit threads", minimum=1, maximum=256),
    )

    # -- prepare -------------------------------------------------------------------------------

    def features(
        self, table: pa.Table, params: Params, ctx: RunContext, *, scoring: bool = False
    ) -> pa.Table:
        """Typed interactions sorted by (user, time) with each row's `strength`."""
        table = _dedupe_timestamp(table)
        strength_column = None
        if params["strength_field"]:
            source = find_column(table.column_names, str(params["strength_field"]))
            if source is None and not scoring:
                raise RecipeDataError(
                    f"strength field {params['strength_field']!r} not found; available "
                    f"columns: {', '.join(table.column_names)}"
                )
            if source is not None:
                try:
                    strength_column = cast_column(table.column(source), "number")
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
                    raise RecipeDataError(
                        f"strength field {params['strength_field']!r} is not numeric: {error}"
                    ) from error
        fields = self.input_fields
        if scoring:  # a request may name only users
            fields = tuple(InputField(f.name, f.type, f.name == "userId") for f in fields)
        resolved = resolve_fields(table, fields)
        values = (
            np.ones(resolved.num_rows)
            if strength_column is None
            else np.nan_to_num(strength_column.to_numpy(zero_copy_only=False).astype(np.float64))
        )
        keep = pc.is_valid(resolved["userId"])
        if not scoring:
            keep = pc.and_(keep, pc.is_valid(resolved["itemId"]))
        values = values[np.asarray(keep.to_numpy(zero_copy_only=False))]
        resolved = resolved.filter(keep)
        if resolved.num_rows == 0:
            raise RecipeDataError("no interactions with a user and an item")
        kinds = pc.utf8_lower(resolved["interactionType"])
        factor = np.ones(resolved.num_rows)
        known_kinds = np.asarray(pc.is_valid(kinds).to_numpy(zero_copy_only=False))
        factor[known_kinds] = 0.0  # typed rows of other kinds (cartremove) add nothing
        for kind, param in _TYPE_WEIGHTS.items():
            match = np.asarray(pc.fill_null(pc.equal(kinds, kind), False).to_numpy())
            factor[match] = float(params[param])
        resolved = resolved.set_column(2, "interactionType", kinds)
        resolved = resolved.append_column("strength", pa.array(values * factor))
        return resolved.sort_by([("userId", "ascending"), ("timestamp", "ascending")])

    # -- splits --------------------------------------------------------------------------------

    def split(self, features: pa.Table, params: Params, ctx: RunContext) -> Split:
        """Time split (`split_date` or the `holdout_fraction` quantile) with revealed history,
        or without times a seeded per-user holdout; held-out rows carry `holdout_role`."""
        if not _has_times(features):
            return self._random_split(features, params, int(params["seed"]))
        days = day_numbers(features["timestamp"])
        if params["split_date"]:
            cutoff = self._split_day(str(params["split_date"]))
        else:
            cutoff = float(np.nanquantile(days, 1.0 - float(params["holdout_fraction"])))
        return self._time_split(features, days, cutoff, math.inf, params)

    @staticmethod
    def _split_day(text: str) -> float:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError as error:
            raise RecipeDataError(f"split_date {text!r} is not a date (YYYY-MM-DD)") from error
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        return (moment - datetime(1970, 1, 1)).total_seconds() / 86_400

    def _time_split(
        self, rows: pa.Table, days: np.ndarray, start: float, end: float, params: Params
    ) -> Split:
        """Rows before `start` / rows in [start, end) with roles (history = revealed)."""
        before = days < start
        inside = (days >= start) & (days < end)
        if not before.any() or not inside.any():
            raise RecipeDataError("the time split leaves no training or no held-out rows")
        window = rows.filter(pa.array(inside))
        revealed = _reveal(_strings(window["userId"]), float(params["reveal_fraction"]))
        roles = pa.array(np.where(revealed, "history", "target").astype(object), pa.string())
        return Split(rows.filter(pa.array(before)), window.append_column(ROLE, roles))

    def _random_split(self, rows: pa.Table, params: Params, seed: int) -> Split:
        """Per user with two items or more, `holdout_fraction` of the items (at least one) at
        random (seeded) are held out; all of a held-out item's rows go."""
        users, items = _strings(rows["userId"]), _strings(rows["itemId"])
        pairs: dict[str, list[str]] = {}
        for user, item in zip(users.tolist(), items.tolist(), strict=True):
            entry = pairs.setdefault(user, [])
            if not entry or item not in entry:
                entry.append(item)
        generator = np.random.default_rng(seed)
        fraction = float(params["holdout_fraction"])
        held: set[tuple[str, str]] = set()
        for user in sorted(pairs):
            distinct = sorted(set(pairs[user]))
            if len(distinct) < 2:
                continue
            count = min(len(distinct) - 1, max(1, round(len(distinct) * fraction)))
            for index in generator.choice(len(distinct), size=count, replace=False).tolist():
                held.add((user, distinct[index]))
        mask = np.fromiter(
            (
                (user, item) in held
                for user, item in zip(users.tolist(), items.tolist(), strict=True)
            ),
            dtype=bool,
            count=len(users),
        )
        if not mask.any():
            raise RecipeDataError("no user has two items or more to hold one out")
        holdout = rows.filter(pa.array(mask))
        roles = pa.array(np.full(holdout.num_rows, "target", dtype=object), pa.string())
        return Split(rows.filter(pa.array(~mask)), holdout.append_column(ROLE, roles))

    # -- statistics ----------------------------------------------------------------------------

    def _statistics(self, train: pa.Table, params: Params) -> RecommendationModel:
        """Everything but the ranker, from training rows."""
        timed = _has_times(train)
        days = day_numbers(train["timestamp"]) if timed else np.zeros(train.num_rows)
        users_column, items_column = _strings(train["userId"]), _strings(train["itemId"])
        user_ids = sorted(set(users_column.tolist()))
        users = {user: index for index, user in enumerate(user_ids)}
        item_list = sorted(set(items_column.tolist()))
        item_index = {item: index for index, item in enumerate(item_list)}
        rows = np.fromiter(
            (users[u] for u in users_column), dtype=np.int64, count=len(users_column)
        )
        cols = np.fromiter(
            (item_index[i] for i in items_column), dtype=np.int64, count=len(items_column)
        )
        strength_values = train["strength"].to_numpy()
        shape = (len(users), len(item_list))
        strength = sp.csr_matrix((strength_values, (rows, cols)), shape=shape)
        strength.sum_duplicates()
        strength.data[strength.data <= float(params["min_strength"])] = 0.0
        strength.eliminate_zeros()
        # A pair's count: distinct days with a positive row (rows, without times).
        positive = strength_values > 0
        day_floor = np.floor(np.nan_to_num(days)) if timed else np.arange(len(rows))
        keys = np.unique(
            np.column_stack([rows[positive], cols[positive], day_floor[positive]]), axis=0
        )
        counts = sp.csr_matrix(
            (np.ones(len(keys)), (keys[:, 0].astype(np.int64), keys[:, 1].astype(np.int64))),
            shape=shape,
        )
        counts.sum_duplicates()
        counts = counts.multiply(strength > 0).tocsr()
        last = (
            _max_duplicates(sp.coo_matrix((np.nan_to_num(days) + 1.0, (rows, cols)), shape=shape))
            .multiply(strength > 0)
            .tocsr()
        )
        binary = (strength > 0).astype(np.float64)
        popularity = np.asarray(binary.sum(axis=0)).ravel()
        reference = float(np.nanmax(days)) + 1.0 if timed else 0.0
        if timed:
            recent = last.copy()
            recent.data = (recent.data >= reference - float(params["recent_days"])).astype(float)
            recent_popularity = np.asarray(recent.sum(axis=0)).ravel()
        else:
            recent_popularity = popularity.copy()
        item_factors, similarity = self._fit_candidates(strength, params)
        return RecommendationModel(
            items=np.array(item_list, dtype=object),
            item_factors=item_factors,
            regularization=float(params["als_regularization"]),
            alpha=float(params["als_alpha"]),
            similarity=similarity,
            popularity=popularity,
            recent_popularity=recent_popularity,
            users=users,
            strength=strength,
            counts=counts,
            last_day=last,
            reference_day=reference,
            booster=None,
        )

    def _fit_candidates(
        self, strength: sp.csr_matrix, params: Params
    ) -> tuple[np.ndarray, sp.csr_matrix]:
        """ALS item factors and BM25 item-item similarity (implicit)."""
        from implicit.als import AlternatingLeastSquares  # type: ignore[import-untyped]
        from implicit.nearest_neighbours import BM25Recommender  # type: ignore[import-untyped]

        confidence = strength.copy().astype(np.float32)
        confidence.data = np.log1p(confidence.data)
        threads = int(params["num_threads"])
        with warnings.catch_warnings():
            # implicit warns that OpenBLAS uses several threads; its own loops are threaded.
            warnings.simplefilter("ignore")
            als = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=float(params["als_regularization"]),
                alpha=float(params["als_alpha"]),
                iterations=int(params["als_iterations"]),
                random_state=int(params["seed"]),
                num_threads=threads,
                use_gpu=False,
            )
            als.fit(confidence, show_progress=False)
            neighbours = BM25Recommender(K=int(params["neighbours"]), num_threads=threads)
            neighbours.fit((strength > 0).astype(np.float32).tocsr(), show_progress=False)
        return np.asarray(als.item_factors, dtype=np.float32), neighbours.similarity.tocsr()

    # -- candidates and their features ---------------------------------------------------------

    def _user_stats(
        self, model: RecommendationModel, extra: pa.Table | None, params: Params
    ) -> dict[str, _Stats]:
        """Per user of `extra` (all stored users when None): stored pairs merged with `extra`'s
        rows."""
        index = model.item_index
        added: dict[str, dict[int, list[float]]] = {}
        if extra is None:
            names = list(model.users)
        else:
            timed = _has_times(extra)
            days = day_numbers(extra["timestamp"]) if timed else np.zeros(extra.num_rows)
            names = []
            for user, item, value, day in zip(
                extra["userId"].to_pylist(),
                extra["itemId"].to_pylist(),
                extra["strength"].to_numpy().tolist(),
                days.tolist(),
                strict=True,
            ):
                if user not in added:
                    added[user] = {}
                    names.append(user)
                column = index.get(item) if item is not None else None
                if column is None:
                    continue
                entry = added[user].setdefault(column, [0.0, 0.0, 0.0])
                entry[0] += value
                entry[1] += 1.0 if value > 0 else 0.0
                if not math.isnan(day):
                    entry[2] = max(entry[2], day + 1.0)
        result = {}
        floor = float(params["min_strength"])
        for user in names:
            merged: dict[int, list[float]] = {}
            row = model.users.get(user)
            if row is not None:
                start, end = model.strength.indptr[row], model.strength.indptr[row + 1]
                columns = model.strength.indices[start:end].tolist()
                strengths = model.strength.data[start:end].tolist()
                count_of = _row(model.counts, row)
                last_of = _row(model.last_day, row)
                counts = [count_of.get(column, 0.0) for column in columns]
                lasts = [last_of.get(column, 0.0) for column in columns]
                for column, value, count, last in zip(
                    columns, strengths, counts, lasts, strict=True
                ):
                    merged[column] = [value, count, last]
            for column, (value, count, last) in added.get(user, {}).items():
                entry = merged.setdefault(column, [0.0, 0.0, 0.0])
                entry[0] += value
                entry[1] += count
                entry[2] = max(entry[2], last)
            kept = [(c, v) for c, v in merged.items() if v[0] > floor]
            result[user] = _Stats(
                np.asarray([c for c, _ in kept], dtype=np.int64),
                np.asarray([v[0] for _, v in kept], dtype=np.float64),
                np.asarray([v[1] for _, v in kept], dtype=np.float64),
                np.asarray([v[2] for _, v in kept], dtype=np.float64),
            )
        return result

    def _als(self, model: RecommendationModel) -> Any:
        from implicit.als import AlternatingLeastSquares

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            als = AlternatingLeastSquares(
                factors=model.item_factors.shape[1],
                regularization=model.regularization,
                alpha=model.alpha,
                num_threads=1,
                use_gpu=False,
            )
        als.item_factors = model.item_factors
        return als

    def _scores(
        self, model: RecommendationModel, stats: list[_Stats]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ALS scores, neighbour scores), users x items, for a batch of users."""
        count = len(model.items)
        rows = np.repeat(np.arange(len(stats)), [len(s.items) for s in stats])
        columns = np.concatenate([s.items for s in stats]) if stats else np.zeros(0, np.int64)
        values = np.concatenate([s.strength for s in stats]) if stats else np.zeros(0)
        matrix = sp.csr_matrix(
            (np.log1p(values).astype(np.float32), (rows, columns)), shape=(len(stats), count)
        )
        als = self._als(model)
        factors = als.recalculate_user(np.arange(len(stats)), matrix)
        factors[np.diff(matrix.indptr) == 0] = 0.0  # cold users: no factor score
        als_scores = factors @ model.item_factors.T
        neighbour = np.asarray(((matrix > 0).astype(np.float64) @ model.similarity).todense())
        return np.asarray(als_scores, dtype=np.float64), neighbour

    def _candidates(
        self,
        model: RecommendationModel,
        stats: _Stats,
        als_row: np.ndarray,
        neighbour_row: np.ndarray,
        params: Params,
        reference: float,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(candidate item numbers, feature matrix) for one user."""
        count = len(model.items)
        limit = int(params["num_candidates"])
        eligible = model.popularity >= int(params["min_item_users"])
        excluded = np.zeros(count, dtype=bool)
        if model.exclude_own:
            excluded[stats.items] = True
        own = np.zeros(count, dtype=bool)
        own[stats.items] = True
        cold = len(stats.items) == 0
        chosen = np.zeros(count, dtype=bool)
        allowed_blind = eligible & ~excluded
        allowed_near = (eligible | (neighbour_row > 0)) & ~excluded
        if not cold:
            # The user's own items, most often and most recently had first, up to the limit.
            mine = stats.items[np.lexsort((-stats.last_day, -stats.counts))]
            chosen[mine[~excluded[mine]][:limit]] = True
            chosen[_top(np.where(allowed_blind, als_row, -np.inf), limit)] = True
            chosen[
                _top(np.where(allowed_near & (neighbour_row > 0), neighbour_row, -np.inf), limit)
            ] = True
        chosen[
            _top(
                np.where(allowed_blind, model.recent_popularity + 1e-6 * model.popularity, -np.inf),
                max(limit // 3, int(params["k"])),
            )
        ] = True
        chosen &= ~excluded
        candidates = np.flatnonzero(chosen)
        if len(candidates) == 0:
            return candidates, np.zeros((0, len(FEATURE_NAMES)))
        als_rank = _ranks(np.where(allowed_blind, als_row, -np.inf))
        neighbour_rank = _ranks(neighbour_row)
        popularity_rank = _ranks(model.popularity.astype(np.float64))
        strength = np.zeros(count)
        strength[stats.items] = stats.strength
        counts = np.zeros(count)
        counts[stats.items] = stats.counts
        since = np.full(count, -1.0)
        if reference > 0:
            since[stats.items] = np.where(stats.last_day > 0, reference - stats.last_day, -1.0)
        last_active = float(stats.last_day.max()) if len(stats.items) else 0.0
        user_since = reference - last_active if reference > 0 and last_active > 0 else -1.0
        size = len(candidates)
        matrix = np.column_stack(
            [
                als_row[candidates] if not cold else np.zeros(size),
                als_rank[candidates] if not cold else np.full(size, float(count)),
                neighbour_row[candidates],
                neighbour_rank[candidates],
                np.log1p(np.maximum(strength[candidates], 0.0)),
                counts[candidates],
                since[candidates],
                own[candidates].astype(np.float64),
                np.log1p(model.popularity[candidates]),
                np.log1p(model.recent_popularity[candidates]),
                (model.recent_popularity[candidates] + 1.0) / (model.popularity[candidates] + 1.0),
                popularity_rank[candidates],
                np.full(size, float(len(stats.items))),
                np.full(size, float(np.log1p(stats.strength.sum()))),
                np.full(size, user_since),
            ]
        )
        return candidates, matrix

    def _ranked_lists(
        self, model: RecommendationModel, extra: pa.Table | None, params: Params
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per user: (candidates, features)."""
        stats = self._user_stats(model, extra, params)
        reference = model.reference_day
        if extra is not None and _has_times(extra):
            reference = max(reference, float(np.nanmax(day_numbers(extra["timestamp"]))) + 1.0)
        result: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        names = list(stats)
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            als_scores, neighbour = self._scores(model, [stats[u] for u in batch])
            for position, user in enumerate(batch):
                result[user] = self._candidates(
                    model, stats[user], als_scores[position], neighbour[position], params, reference
                )
        return result

    # -- train / evaluate / score --------------------------------------------------------------

    def _training_splits(self, train: pa.Table, params: Params) -> list[Split]:
        """The ranker's example splits inside the training rows, latest first."""
        windows = int(params["training_windows"])
        if not _has_times(train):
            return [
                self._random_split(train, params, int(params["seed"]) + 1 + window)
                for window in range(windows)
            ]
        days = day_numbers(train["timestamp"])
        end = float(np.nanmax(days)) + 1e-9
        length = float(params["window_days"])
        if length <= 0:
            first = float(np.nanmin(days))
            length = (end - first) * float(params["holdout_fraction"])
        splits = []
        for window in range(windows):
            stop, start = end - window * length, end - (window + 1) * length
            if start <= float(np.nanmin(days)) + length * 0.5:
                break
            try:
                splits.append(self._time_split(train, days, start, stop, params))
            except RecipeDataError:
                continue
        return splits

    def _examples(
        self, split: Split, params: Params, *, known_only: bool, own: bool
    ) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(user, features, labels) of one split's held-out users with a positive candidate."""
        stats = self._statistics(split.train, params)
        stats.exclude_own = not own
        context, hidden = self._holdout_parts(split.holdout)
        relevant = self._relevant(hidden, params)
        index = stats.item_index
        examples = []
        for user, (candidates, matrix) in self._ranked_lists(stats, context, params).items():
            if known_only and user not in stats.users:
                continue
            targets = [index[item] for item in relevant.get(user, ()) if item in index]
            if not targets or len(candidates) == 0:
                continue
            label = np.isin(candidates, targets).astype(np.float64)
            if label.sum() == 0:
                continue  # a group without a positive teaches lambdarank nothing
            examples.append((user, matrix, label))
        return examples

    def _own_share(self, splits: list[Split], params: Params) -> float:
        """Of the items users had in the splits' held-out parts, the share they had before
        (0 without splits): how much users come back for their own items."""
        own, total = 0, 0
        for split in splits:
            before: dict[str, set[str]] = {}
            for user, item, value in zip(
                split.train["userId"].to_pylist(),
                split.train["itemId"].to_pylist(),
                split.train["strength"].to_numpy().tolist(),
                strict=True,
            ):
                if value > 0:
                    before.setdefault(user, set()).add(item)
            context, hidden = self._holdout_parts(split.holdout)
            for user, item in zip(
                context["userId"].to_pylist(), context["itemId"].to_pylist(), strict=True
            ):
                if item is not None:
                    before.setdefault(user, set()).add(item)
            for user, items in self._relevant(hidden, params).items():
                total += len(items)
                own += len(items & before.get(user, set()))
        return own / total if total else 0.0

    def train(self, train: pa.Table, params: Params, ctx: RunContext) -> RecommendationModel:
        """Ranker examples from splits inside the training rows, made exactly like the
        evaluation; early stopping on the users kept for validation; then the statistics of the
        whole training period for the saved model."""
        known_only = params["evaluate_users"] == "known"
        mode = params["exclude_seen"]
        splits = self._training_splits(train, params)
        share = self._own_share(splits, params)
        exclude_own = mode == "seen" or (mode == "auto" and share < _OWN_SHARE)
        examples = []
        for split in splits:
            examples.extend(
                self._examples(split, params, known_only=known_only, own=mode != "seen")
            )
        if mode == "auto" and exclude_own and examples:
            # Own items were (nearly) never what users came back for: drop them from the
            # examples too, as they will be from the recommendations.
            own_column = FEATURE_NAMES.index("user_item_seen")
            examples = [
                (user, matrix[matrix[:, own_column] == 0], label[matrix[:, own_column] == 0])
                for user, matrix, label in examples
            ]
            examples = [example for example in examples if example[2].sum() > 0]
        ctx.progress("train", 10, rows=sum(len(label) for _, _, label in examples))
        ctx.log_metrics({"own_item_share": share})
        model = self._statistics(train, params)
        model.exclude_own = exclude_own
        if not examples:
            ctx.progress("train", 100, message="no positive candidates: popularity order only")
            return model
        seed, fraction = int(params["seed"]), float(params["validation_fraction"])
        valid = np.array(
            [_user_hash(user, seed) % 1000 < fraction * 1000 for user, _, _ in examples]
        )
        if valid.all() or (fraction > 0 and valid.sum() < 5):
            valid[:] = False
        rounds = int(params["n_estimators"])

        def dataset(mask: np.ndarray) -> lgb.Dataset:
            chosen = [example for example, keep in zip(examples, mask, strict=True) if keep]
            return lgb.Dataset(
                np.vstack([matrix for _, matrix, _ in chosen]),
                np.concatenate([label for _, _, label in chosen]),
                group=[len(label) for _, _, label in chosen],
                feature_name=list(FEATURE_NAMES),
                free_raw_data=False,
            )

        training = dataset(~valid)
        callbacks = [lightgbm_callback(ctx, rounds, start=10, end=100)]
        valid_sets = []
        if valid.any():
            valid_sets = [dataset(valid)]
            callbacks.append(
                lgb.early_stopping(int(params["early_stopping_rounds"]), verbose=False)
            )
        model.booster = lgb.train(
            {
                "objective": "lambdarank",
                "metric": "ndcg",
                "learning_rate": params["learning_rate"],
                "num_leaves": params["num_leaves"],
                "min_data_in_leaf": params["min_data_in_leaf"],
                "eval_at": [int(params["k"])],
                "seed": seed,
                "num_threads": params["num_threads"],
                "deterministic": True,
                "verbose": -1,
            },
            training,
            num_boost_round=rounds,
            valid_sets=valid_sets,
            valid_names=["validation"] if valid_sets else None,
            callbacks=callbacks,
        )
        if valid_sets:
            # Keep the ranker only if it beats the popularity order on the validation users
            # (with few examples, on small data, it may not).
            k = int(params["k"])
            chosen = [example for example, keep in zip(examples, valid, strict=True) if keep]
            popularity_rank = FEATURE_NAMES.index("item_popularity_rank")
            ranker = _mean_ndcg(
                [
                    (np.asarray(model.booster.predict(matrix, num_threads=1)), label)
                    for _, matrix, label in chosen
                ],
                k,
            )
            popular = _mean_ndcg(
                [(-matrix[:, popularity_rank], label) for _, matrix, label in chosen], k
            )
            ctx.log_metrics(
                {
                    "validation_best_iteration": float(model.booster.best_iteration),
                    f"validation_ndcg_at_{k}": ranker,
                    f"validation_popularity_ndcg_at_{k}": popular,
                }
            )
            if ranker < popular:
                ctx.progress("train", 100, message="the ranker lost to popularity: not kept")
                model.booster = None
        return model

    def _relevant(self, hidden: pa.Table, params: Params) -> dict[str, set[str]]:
        """Per user: held-out items whose summed strength is above `min_strength` (of the
        `target_interactions` types)."""
        wanted = {
            kind.strip().lower()
            for kind in str(params["target_interactions"]).split(",")
            if kind.strip()
        }
        totals: dict[tuple[str, str], float] = {}
        for user, item, kind, value in zip(
            hidden["userId"].to_pylist(),
            hidden["itemId"].to_pylist(),
            hidden["interactionType"].to_pylist(),
            hidden["strength"].to_numpy().tolist(),
            strict=True,
        ):
            if item is not None and (not wanted or kind in wanted):
                totals[(user, item)] = totals.get((user, item), 0.0) + value
        relevant: dict[str, set[str]] = {}
        floor = float(params["min_strength"])
        for (user, item), total in totals.items():
            if total > floor:
                relevant.setdefault(user, set()).add(item)
        return relevant

    def recommend(
        self, model: RecommendationModel, interactions: pa.Table | None, params: Params
    ) -> dict[str, list[tuple[str, float]]]:
        """Top-k (item, score) per user of `interactions` (history = stored + these rows)."""
        k = int(params["k"])
        result: dict[str, list[tuple[str, float]]] = {}
        popularity_rank = FEATURE_NAMES.index("item_popularity_rank")
        for user, (candidates, matrix) in self._ranked_lists(model, interactions, params).items():
            if len(candidates) == 0:
                result[user] = []
                continue
            if model.booster is not None:
                scores = np.asarray(model.booster.predict(matrix, num_threads=1))
            else:
                scores = -matrix[:, popularity_rank]
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
                "strength": pa.array(np.zeros(len(users))),
            }
        )
        return pa.concat_tables([stub, shown.select(stub.column_names)]), hidden

    def _evaluated(
        self, model: RecommendationModel, holdout: pa.Table, params: Params
    ) -> tuple[pa.Table, dict[str, set[str]]]:
        """(history rows, relevant items) of the held-out users that are evaluated."""
        context, hidden = self._holdout_parts(holdout)
        relevant = self._relevant(hidden, params)
        if params["evaluate_users"] == "known":
            relevant = {user: items for user, items in relevant.items() if user in model.users}
            keep = pc.is_in(context["userId"], value_set=pa.array(list(relevant), pa.string()))
            context = context.filter(keep)
        return context, relevant

    def evaluate(
        self, model: RecommendationModel, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """precision@k, recall@k, NDCG@k, MAP@k over held-out users with relevant items."""
        context, relevant = self._evaluated(model, holdout, params)
        recommended = {
            user: [item for item, _ in ranked]
            for user, ranked in self.recommend(model, context, params).items()
        }
        return ranking_metrics(recommended, relevant, k=int(params["k"]))

    def evaluate_baseline(
        self, train: pa.Table, holdout: pa.Table, params: Params, ctx: RunContext
    ) -> dict[str, float]:
        """Popularity (the most popular training items by users; metrics under their own names)
        and plain ALS (the factorisation's own top-k; metrics prefixed `als_`), on the same
        split and with the same `exclude_seen`."""
        model = self._statistics(train, params)
        context, relevant = self._evaluated(model, holdout, params)
        stats = self._user_stats(model, context, params)
        k = int(params["k"])
        model.exclude_own = params["exclude_seen"] == "seen"
        if params["exclude_seen"] == "auto":
            # The same decision as train() made, from the same training windows.
            splits = self._training_splits(train, params)
            model.exclude_own = self._own_share(splits, params) < _OWN_SHARE
        order = np.argsort(-model.popularity, kind="stable")
        eligible = model.popularity >= int(params["min_item_users"])
        popular: dict[str, list[str]] = {}
        factorised: dict[str, list[str]] = {}
        names = list(stats)
        for start in range(0, len(names), _BATCH):
            batch = names[start : start + _BATCH]
            als_scores, _ = self._scores(model, [stats[u] for u in batch])
            for position, user in enumerate(batch):
                seen = set(stats[user].items.tolist()) if model.exclude_own else set()
                popular[user] = [str(model.items[i]) for i in order if i not in seen][:k]
                row = np.where(eligible, als_scores[position], -np.inf)
                if seen:
                    row[list(seen)] = -np.inf
                if len(stats[user].items) == 0:
                    factorised[user] = popular[user]
                else:
                    factorised[user] = [str(model.items[i]) for i in _top(row, k)]
        metrics = ranking_metrics(popular, relevant, k=k)
        als = ranking_metrics(factorised, relevant, k=k)
        metrics.update(
            {f"als_{name}": value for name, value in als.items() if name != "users_evaluated"}
        )
        return metrics

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
        """`statistics.npz` (matrices and factors), `state.json` (ids), `booster.txt`."""
        arrays: dict[str, np.ndarray] = {
            "item_factors": model.item_factors,
            "popularity": model.popularity,
            "recent_popularity": model.recent_popularity,
        }
        for name in ("similarity", "strength", "counts", "last_day"):
            matrix = getattr(model, name)
            arrays[f"{name}_data"] = matrix.data
            arrays[f"{name}_indices"] = matrix.indices
            arrays[f"{name}_indptr"] = matrix.indptr
        np.savez_compressed(directory / "statistics.npz", **arrays)  # type: ignore[arg-type]
        users = sorted(model.users, key=model.users.__getitem__)
        state = {
            "items": [str(item) for item in model.items.tolist()],
            "users": users,
            "regularization": model.regularization,
            "alpha": model.alpha,
            "reference_day": model.reference_day,
            "exclude_own": model.exclude_own,
        }
        (directory / "state.json").write_text(json.dumps(state), encoding="utf-8")
        if model.booster is not None:
            model.booster.save_model(str(directory / "booster.txt"))

    def load_model_state(self, directory: Path) -> RecommendationModel:
        """Rebuild what `save_model_state` wrote."""
        state: dict[str, Any] = json.loads((directory / "state.json").read_text(encoding="utf-8"))
        items = np.array(state["items"], dtype=object)
        users = list(state["users"])
        shapes = {
            "similarity": (len(items), len(items)),
            "strength": (len(users), len(items)),
            "counts": (len(users), len(items)),
            "last_day": (len(users), len(items)),
        }
        with np.load(directory / "statistics.npz") as arrays:
            matrices = {
                name: sp.csr_matrix(
                    (
                        arrays[f"{name}_data"],
                        arrays[f"{name}_indices"],
                        arrays[f"{name}_indptr"],
                    ),
                    shape=shape,
                )
                for name, shape in shapes.items()
            }
            item_factors = arrays["item_factors"]
            popularity = arrays["popularity"]
            recent = arrays["recent_popularity"]
        booster_file = directory / "booster.txt"
        booster = lgb.Booster(model_file=str(booster_file)) if booster_file.exists() else None
        return RecommendationModel(
            items=items,
            item_factors=item_factors,
            regularization=float(state["regularization"]),
            alpha=float(state["alpha"]),
            similarity=matrices["similarity"],
            popularity=popularity,
            recent_popularity=recent,
            users={user: index for index, user in enumerate(users)},
            strength=matrices["strength"],
            counts=matrices["counts"],
            last_day=matrices["last_day"],
            reference_day=float(state["reference_day"]),
            booster=booster,
            exclude_own=bool(state["exclude_own"]),
        )


def _mean_ndcg(groups: list[tuple[np.ndarray, np.ndarray]], k: int) -> float:
    """Mean NDCG@k of (scores, 0/1 labels) groups, ranking each group's items by score."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for scores, label in groups:
        top = label[np.argsort(-np.asarray(scores), kind="stable")][:k]
        ideal = discounts[: min(k, int(label.sum()))].sum()
        values.append(float((top * discounts[: len(top)]).sum() / ideal) if ideal else 0.0)
    return float(np.mean(values)) if values else 0.0


def _row(matrix: sp.csr_matrix, row: int) -> dict[int, float]:
    """Column -> value of one CSR row."""
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    return dict(
        zip(matrix.indices[start:end].tolist(), matrix.data[start:end].tolist(), strict=True)
    )


def _top(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the `count` highest finite scores, best first."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) == 0 or count <= 0:
        return np.zeros(0, dtype=np.int64)
    if len(finite) > count:
        part = np.argpartition(-scores[finite], count - 1)[:count]
        finite = finite[part]
    return finite[np.argsort(-scores[finite], kind="stable")]


def _ranks(scores: np.ndarray) -> np.ndarray:
    """0 for the highest score, 1 for the next, ... (ties in index order)."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(len(scores))
    return ranks


def _max_duplicates(matrix: sp.coo_matrix) -> sp.csr_matrix:
    """CSR with the maximum of duplicate (row, column) entries instead of their sum."""
    order = np.lexsort((-matrix.data, matrix.col, matrix.row))
    rows, columns, data = matrix.row[order], matrix.col[order], matrix.data[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (columns[1:] != columns[:-1])
    return sp.csr_matrix((data[first], (rows[first], columns[first])), shape=matrix.shape)
