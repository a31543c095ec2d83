"""Reading a catalog dataset as Arrow, straight from the lake (no rows through JSON).

Training, scoring and notebooks ask the catalog which files are visible (the successful batches at
call time) and open them with ``pyarrow.dataset``; the catalog never streams rows to them.
"""

from __future__ import annotations

import httpx
import pyarrow.dataset as ds

from dsw_kit.calls import raise_for_problem
from dsw_kit.lake import open_files

__all__ = ["dataset_files", "open_catalog_dataset"]


def dataset_files(client: httpx.Client, dataset_id: str) -> list[str]:
    """URIs of the dataset's visible Parquet files, per the catalog (``client`` is authorised)."""
    response = client.get(f"/catalog/v1/datasets/{dataset_id}/files")
    raise_for_problem(response)
    return [str(item["uri"]) for item in response.json()]


def open_catalog_dataset(client: httpx.Client, dataset_id: str) -> ds.Dataset:
    """A ``pyarrow.dataset.Dataset`` of what the dataset holds now (files share one schema)."""
    return open_files(dataset_files(client, dataset_id))
