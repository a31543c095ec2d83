"""A seeded generator of realistic ExperienceEvent data for demos and tests.

`generate_events(profiles, days, seed)` simulates a web shop's visitors as flat XDM
ExperienceEvent rows:

| column                             | type      | meaning                                         |
|------------------------------------|-----------|-------------------------------------------------|
| `_id`                              | string    | event id                                        |
| `timestamp`                        | timestamp | event time (UTC, microseconds)                  |
| `eventType`                        | string    | one of `EVENT_TYPES`                            |
| `endUserIDs._experience.mcid.id`   | string    | the visitor's profile id (ECID: mcid)           |
| `productListItems.SKU`             | string    | the product of a product event (null for pages) |
| `productListItems.priceTotal`      | number    | line price (unit price x quantity)              |
| `commerce.order.priceTotal`        | number    | order total on purchase events, else null       |

How visitors behave (every draw comes from one `numpy.random.Generator(seed)`, so the same
arguments give the same table):

- Each profile belongs to a segment: browsers (55 %: frequent short visits, rarely buy),
  considerers (30 %: add to cart, compare, abandon, come back) and loyal buyers (15 %: fewer
  visits, high conversion). Segments differ in visit rate, product views per visit, add-to-cart,
  removal and checkout probabilities.
- Visits follow a Poisson process whose rate drifts per profile (some warm up, some cool down),
  and about 30 % of profiles stop visiting at a random day (churn).
- A visit shows 1-4 pages, then product views; each view may add the product to the cart, an add
  may be removed; the visit ends with a checkout of the cart, or the cart is abandoned. An
  abandoned cart brings the visitor back within a few days with elevated checkout probability
  (the "abandoned cart" effect a propensity model should pick up).
- Products have Zipf popularity and log-normal prices; a visitor prefers one of eight product
  families (SKU prefix), so co-purchases cluster (useful for recommendations).

`events_to_interactions` turns these events into the (userId, itemId, interactionType,
timestamp) shape of the Luma sample, for the recommendations recipe.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "EVENT_TYPES",
    "PROFILE_FIELD",
    "events_to_interactions",
    "generate_events",
]

PROFILE_FIELD = "endUserIDs._experience.mcid.id"  # XDM: the ECID is the `mcid` end-user id
PAGE_VIEW = "web.webpagedetails.pageViews"
PRODUCT_VIEW = "commerce.productViews"
CART_ADD = "commerce.productListAdds"
CART_REMOVE = "commerce.productListRemovals"
PURCHASE = "commerce.purchases"
EVENT_TYPES = (PAGE_VIEW, PRODUCT_VIEW, CART_ADD, CART_REMOVE, PURCHASE)

_FAMILIES = 8


@dataclass(frozen=True)
class _Segment:
    share: float
    visits_per_week: float
    views_per_visit: float
    add_probability: float
    remove_probability: float
    checkout_probability: float


_SEGMENTS = (
    _Segment(0.55, 2.0, 3.0, 0.06, 0.35, 0.10),  # browsers
    _Segment(0.30, 1.2, 4.0, 0.25, 0.30, 0.22),  # considerers
    _Segment(0.15, 0.7, 2.5, 0.40, 0.10, 0.65),  # loyal buyers
)


def generate_events(
    profiles: int = 2000,
    days: int = 120,
    *,
    seed: int = 0,
    products: int = 80,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
) -> pa.Table:
    """Simulated ExperienceEvents of `profiles` visitors over `days` days (see module docs)."""
    rng = np.random.default_rng(seed)
    # Scalar draws in the per-event loop come from Python's generator (seeded from the same
    # seed): NumPy's per-call overhead would make the simulation several times slower.
    draw = random.Random(seed)
    popularity = 1.0 / np.arange(1, products + 1) ** 0.9
    families = rng.integers(0, _FAMILIES, size=products)
    prices = np.round(np.exp(rng.normal(3.4, 0.6, size=products)), 2)
    skus = [f"f{family}-{index:03d}" for index, family in enumerate(families)]
    start_s = int(start.timestamp())
    product_range = range(products)
    family_weights = []
    for family in range(_FAMILIES):
        weights = popularity * np.where(families == family, 6.0, 1.0)
        family_weights.append(np.cumsum(weights / weights.sum()).tolist())

    times: list[int] = []
    kinds: list[int] = []
    owners: list[int] = []
    items: list[int] = []
    quantities: list[int] = []
    order_totals: list[float] = []

    def emit(clock: int, kind: int, profile: int, item: int, quantity: int, total: float) -> None:
        times.append(clock)
        kinds.append(kind)
        owners.append(profile)
        items.append(item)
        quantities.append(quantity)
        order_totals.append(total)

    nan = float("nan")
    segment_index = rng.choice(len(_SEGMENTS), size=profiles, p=[s.share for s in _SEGMENTS])
    for profile in range(profiles):
        segment = _SEGMENTS[segment_index[profile]]
        cumulative = family_weights[draw.randrange(_FAMILIES)]
        first = draw.uniform(0, days * 0.6)
        churn = draw.uniform(first, days * 1.5) if draw.random() < 0.3 else math.inf
        drift = draw.gauss(0.0, 0.6)  # log visit-rate change over the whole period
        rate = segment.visits_per_week / 7.0 * math.exp(draw.gauss(0.0, 0.5))
        moment = first
        boost = 0.0  # checkout boost after an abandoned cart
        while True:
            current = rate * math.exp(drift * moment / days)
            moment += draw.expovariate(current) if boost == 0.0 else draw.uniform(0.3, 4.0)
            if moment >= min(days, churn):
                break
            clock = start_s + int(moment * 86_400)
            for _ in range(draw.randint(1, 4)):
                clock += draw.randint(5, 90)
                emit(clock, 0, profile, -1, 0, nan)
            cart: list[int] = []
            views = 1 + int(draw.expovariate(1.0 / segment.views_per_visit))
            for product in draw.choices(product_range, cum_weights=cumulative, k=views):
                clock += draw.randint(10, 180)
                emit(clock, 1, profile, product, 1, nan)
                if draw.random() < segment.add_probability * (1.0 + boost):
                    clock += draw.randint(5, 60)
                    emit(clock, 2, profile, product, 1, nan)
                    cart.append(product)
                    if draw.random() < segment.remove_probability:
                        clock += draw.randint(5, 120)
                        emit(clock, 3, profile, product, 1, nan)
                        cart.pop()
            checkout = min(0.95, segment.checkout_probability * (1.0 + 2.5 * boost))
            if cart and draw.random() < checkout:
                counts = [draw.randint(1, 2) for _ in cart]
                total = round(sum(prices[p] * c for p, c in zip(cart, counts, strict=True)), 2)
                for product, count in zip(cart, counts, strict=True):
                    clock += 1
                    emit(clock, 4, profile, product, count, total)
                boost = 0.0
            elif cart and draw.random() < 0.5:
                boost = 1.0  # abandoned cart: comes back soon, more likely to buy
            else:
                boost = 0.0

    time_array = np.asarray(times, dtype=np.int64)
    order = np.argsort(time_array, kind="stable")
    time_array = time_array[order]
    kind_array = np.asarray(kinds, dtype=np.int64)[order]
    owner_array = np.asarray(owners, dtype=np.int64)[order]
    item_array = np.asarray(items, dtype=np.int64)[order]
    quantity_array = np.asarray(quantities, dtype=np.int64)[order]
    totals = np.asarray(order_totals, dtype=np.float64)[order]
    inside = time_array < start_s + days * 86_400
    has_item = item_array >= 0
    line_price = np.where(has_item, prices[np.maximum(item_array, 0)] * quantity_array, np.nan)
    profile_ids = np.array([f"{index:08x}-ecid" for index in range(profiles)], dtype=object)
    sku_array = np.array([*skus, None], dtype=object)[np.where(has_item, item_array, products)]
    table = pa.table(
        {
            "_id": pa.array([f"evt-{seed}-{index}" for index in range(len(time_array))]),
            "timestamp": pa.array(time_array * 1_000_000, pa.timestamp("us", tz="UTC")),
            "eventType": pa.array(np.array(EVENT_TYPES, dtype=object)[kind_array]),
            PROFILE_FIELD: pa.array(profile_ids[owner_array], pa.string()),
            "productListItems.SKU": pa.array(sku_array, pa.string()),
            "productListItems.priceTotal": pa.array(np.round(line_price, 2), from_pandas=True),
            "commerce.order.priceTotal": pa.array(totals, from_pandas=True),
        }
    )
    return table.filter(pa.array(inside))


_INTERACTIONS = {
    PRODUCT_VIEW: "view",
    CART_ADD: "cartAdd",
    CART_REMOVE: "cartRemove",
    PURCHASE: "purchase",
}


def events_to_interactions(events: pa.Table) -> pa.Table:
    """Product events as interactions: `userId`, `itemId`, `interactionType`, `timestamp`.

    Page views (no product) are dropped; types become `view`, `cartAdd`, `cartRemove`,
    `purchase`; the timestamp is written like the Luma sample's (`YYYY-MM-DD HH:MM:SS`).
    """
    product = events.filter(pc.is_valid(events["productListItems.SKU"]))
    kinds = product["eventType"].to_pylist()
    return pa.table(
        {
            "userId": product[PROFILE_FIELD],
            "itemId": product["productListItems.SKU"],
            "interactionType": pa.array([_INTERACTIONS[kind] for kind in kinds], pa.string()),
            # Whole seconds: Arrow's %S would print microseconds of a microsecond timestamp.
            "timestamp": pc.strftime(
                pc.cast(product["timestamp"], pa.timestamp("s", tz="UTC")),
                format="%Y-%m-%d %H:%M:%S",
            ),
        }
    )
