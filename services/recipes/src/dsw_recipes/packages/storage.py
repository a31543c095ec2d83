"""Packages in the lake, under the tenant's folder, so workers on other machines can fetch them."""

from __future__ import annotations

import uuid

from dsw_kit.db import Tenant
from dsw_kit.lake import Lake


def package_path(lake: Lake, tenant: Tenant, version_id: uuid.UUID) -> str:
    """Where a version's normalised package lives."""
    return lake.path(tenant, "_recipes", str(version_id), "package.tar.gz")


def store(lake: Lake, path: str, content: bytes) -> None:
    """Write a package (via a temporary name, so readers never see half of it)."""
    lake.make_dirs(path.rsplit("/", 1)[0])
    temporary = f"{path}.part-{uuid.uuid4().hex[:8]}"
    with lake.filesystem.open_output_stream(temporary, compression=None) as out:
        out.write(content)
    lake.filesystem.move(temporary, path)


def fetch(lake: Lake, path: str) -> bytes:
    """The bytes of a stored package."""
    with lake.filesystem.open_input_stream(path, compression=None) as source:
        data: bytes = source.read()
    return data


def remove(lake: Lake, path: str) -> None:
    """Delete a version's package folder."""
    lake.delete_dir(path.rsplit("/", 1)[0])
