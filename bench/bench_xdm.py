"""Benchmark: vectorised Arrow validation vs `jsonschema` on ExperienceEvent-shaped rows.

    .venv/bin/python bench/bench_xdm.py [--rows 1000000] [--sample 20000]

Builds `--rows` ExperienceEvent rows (12 leaf fields incl. nested commerce and productListItems,
about 1% invalid) as an Arrow table typed by `to_arrow_schema`, validates them with
`validate_table`, validates the first `--sample` rows as JSON with jsonschema's
Draft202012Validator on the exported JSON Schema, and prints rows/s of each. The last line printed
is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import time
from typing import Any

import jsonschema
import pyarrow as pa

import dsw_xdm as xdm

_BLOCK = 10_000  # distinct rows generated in Python; the table repeats this block


def event_schema() -> xdm.Schema:
    """ExperienceEvent + commerce + web + environment details."""
    return xdm.compose(
        xdm.ids.EXPERIENCE_EVENT,
        [xdm.ids.COMMERCE_DETAILS, xdm.ids.WEB_DETAILS, xdm.ids.ENVIRONMENT_DETAILS],
        title="Bench events",
    )


def _row(index: int, rng: random.Random) -> dict[str, Any]:
    invalid = rng.random() < 0.01
    items = [
        {
            "SKU": f"SKU-{rng.randrange(10_000)}",
            "quantity": rng.randrange(1, 5),
            "priceTotal": round(rng.uniform(1, 500), 2),
            "currencyCode": "usd" if invalid else "USD",
        }
        for _ in range(rng.randrange(0, 4))
    ]
    return {
        "_id": f"event-{index}",
        "timestamp": dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=index),
        "eventType": rng.choice(
            ["commerce.purchases", "commerce.productListAdds", "web.webpagedetails.pageViews"]
        ),
        "producedBy": "self",
        "productListItems": items,
        "commerce": {
            "order": {"priceTotal": sum(i["priceTotal"] for i in items), "currencyCode": "USD"},
            "purchases": {"value": 1.0},
        },
        "web": {
            "webPageDetails": {
                "URL": f"https://shop.example/p/{index % 97}",
                "pageViews": {"value": 1.0},
            }
        },
        "environment": {"type": "nope" if invalid and index % 2 else "browser"},
    }


def build_table(schema: xdm.Schema, rows: int, seed: int = 7) -> pa.Table:
    """`rows` rows: a block of distinct Python-built rows, repeated (generation is not timed)."""
    rng = random.Random(seed)
    block = pa.Table.from_pylist(
        [_row(i, rng) for i in range(min(rows, _BLOCK))], schema=xdm.to_arrow_schema(schema)
    )
    repeats, rest = divmod(rows, block.num_rows)
    return pa.concat_tables([block] * repeats + [block.slice(0, rest)]).combine_chunks()


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; return (and print last) the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=20_000)
    args = parser.parse_args(argv)
    schema = event_schema()
    table = build_table(schema, args.rows)

    started = time.perf_counter()
    result = xdm.validate_table(schema, table)
    arrow_seconds = time.perf_counter() - started
    arrow_rate = table.num_rows / arrow_seconds
    print(
        f"arrow: {table.num_rows:,} rows in {arrow_seconds:.3f}s = {arrow_rate:,.0f} rows/s; "
        f"{result.invalid_row_count:,} invalid rows, {result.violation_count:,} violations"
    )

    sample = [_json_ready(r) for r in table.slice(0, min(args.sample, table.num_rows)).to_pylist()]
    # Date-time patterns, so that jsonschema checks timestamps as the Arrow path does.
    validator = jsonschema.Draft202012Validator(xdm.to_json_schema(schema, date_time_patterns=True))
    started = time.perf_counter()
    json_invalid = sum(1 for record in sample if next(validator.iter_errors(record), None))
    json_seconds = time.perf_counter() - started
    json_rate = len(sample) / json_seconds
    print(
        f"jsonschema: {len(sample):,} rows in {json_seconds:.3f}s = {json_rate:,.0f} rows/s; "
        f"{json_invalid:,} invalid rows"
    )
    arrow_sample_invalid = len(sample) - sum(result.valid.slice(0, len(sample)).to_pylist())
    if arrow_sample_invalid != json_invalid:
        raise SystemExit(f"disagreement: arrow {arrow_sample_invalid} vs json {json_invalid}")

    summary = {
        "bench": "xdm",
        "rows": table.num_rows,
        "arrow_rows_per_s": round(arrow_rate),
        "jsonschema_rows_per_s": round(json_rate),
        "ratio_vs_jsonschema": round(arrow_rate / json_rate, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
