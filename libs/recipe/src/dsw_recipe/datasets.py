"""Sample data shipped with the package (no network, no dependency on a checkout's shared/).

- `retail_training_path()`: the DSW retail sales sample (CC0, see `data/retail/LICENSE`).
- `luma_interactions_path()`: the DSW Luma recommendations sample (see `data/luma/README.md`);
  its header names `timestamp` twice, which `read_table` keeps as `timestamp` and `timestamp_2`.
- `online_retail_sample_path()`: 600 customers' transactions from UCI Online Retail (CC BY 4.0,
  see `data/online_retail/README.md`).
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import pyarrow as pa

from ._columns import read_table

__all__ = [
    "load_luma_interactions",
    "load_retail",
    "luma_interactions_path",
    "online_retail_sample_path",
    "retail_training_path",
]


def _data_path(*parts: str) -> Path:
    resource = files("dsw_recipe").joinpath("data", *parts)
    # The package is installed as files (uv/pip never zip it), so the context's path stays valid.
    with as_file(resource) as path:
        return Path(path)


def retail_training_path() -> Path:
    """Path of `retail-training.csv` (5,175 rows: 45 stores x 115 weeks)."""
    return _data_path("retail", "retail-training.csv")


def luma_interactions_path() -> Path:
    """Path of the Luma `recommendations_input.csv` (695 purchases, 183 users, 74 items)."""
    return _data_path("luma", "recommendations_input.csv")


def online_retail_sample_path() -> Path:
    """Path of `online-retail-sample.csv.gz` (53,663 transactions of 600 customers,
    2010-12-01 to 2011-10-31; columns as in UCI Online Retail without `Description`)."""
    return _data_path("online_retail", "online-retail-sample.csv.gz")


def load_retail() -> pa.Table:
    """The retail sample as a table (columns as in the CSV; `date` still text)."""
    return read_table(retail_training_path())


def load_luma_interactions() -> pa.Table:
    """The Luma sample as a table (`timestamp`, `userId`, `itemId`, `interactionType`,
    `timestamp_2`)."""
    return read_table(luma_interactions_path())
