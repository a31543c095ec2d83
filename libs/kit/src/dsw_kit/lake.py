"""The data lake: Parquet files addressed by URI through ``pyarrow.fs``.

``file://`` (the embedded default) and ``s3://`` (MinIO or AWS; endpoint from ``AWS_ENDPOINT_URL``,
credentials from the usual AWS variables) are supported. Every tenant's data lives under
``<lake>/<org>/<sandbox>/``; readers get the list of visible files from the catalog, so a batch
appears to them at once when the catalog records it as successful.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as ds
from pyarrow import fs

from dsw_kit.db import Tenant

__all__ = ["Lake", "open_files"]

_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


def _filesystem(uri: str) -> tuple[fs.FileSystem, str]:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return fs.LocalFileSystem(), parsed.path or uri
    if parsed.scheme == "s3":
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        filesystem = fs.S3FileSystem(
            endpoint_override=endpoint,
            region=os.environ.get("AWS_REGION", "us-east-1"),
            scheme=urlparse(endpoint).scheme if endpoint else "https",
        )
        return filesystem, f"{parsed.netloc}{parsed.path}".rstrip("/")
    raise ValueError(f"unsupported lake URI {uri!r} (use file:// or s3://)")


@dataclass
class Lake:
    """A lake rooted at ``uri``."""

    uri: str

    def __post_init__(self) -> None:
        self.filesystem, self.root = _filesystem(self.uri)

    def tenant_root(self, tenant: Tenant) -> str:
        """The folder of a tenant's data (its names checked: no path tricks)."""
        for segment in (tenant.org_id, tenant.sandbox):
            if not _SAFE_SEGMENT.match(segment):
                raise ValueError(f"unsafe path segment {segment!r}")
        return f"{self.root}/{tenant.org_id}/{tenant.sandbox}"

    def path(self, tenant: Tenant, *parts: str) -> str:
        """A path inside the tenant's folder (each part checked)."""
        for part in parts:
            if not _SAFE_SEGMENT.match(part):
                raise ValueError(f"unsafe path segment {part!r}")
        return "/".join([self.tenant_root(tenant), *parts])

    def uri_of(self, path: str) -> str:
        """The URI of a lake path (what other services and notebooks open)."""
        scheme = urlparse(self.uri).scheme or "file"
        return f"file://{path}" if scheme == "file" else f"{scheme}://{path}"

    def make_dirs(self, path: str) -> None:
        """Create a folder (a no-op on object stores)."""
        self.filesystem.create_dir(path, recursive=True)

    def delete_dir(self, path: str) -> None:
        """Delete a folder and its contents, if it exists."""
        info = self.filesystem.get_file_info(path)
        if info.type != fs.FileType.NotFound:
            self.filesystem.delete_dir(path)

    def move(self, source: str, destination: str) -> None:
        """Move a folder (a rename on local disks; copy and delete on object stores)."""
        self.delete_dir(destination)
        parent = destination.rsplit("/", 1)[0]
        self.make_dirs(parent)
        if isinstance(self.filesystem, fs.LocalFileSystem):
            self.filesystem.move(source, destination)
            return
        # An object store has no folders to rename, and its filesystem moves single objects
        # only: copy every object under the source prefix, then delete the source.
        selector = fs.FileSelector(source, recursive=True)
        for info in self.filesystem.get_file_info(selector):
            if info.type == fs.FileType.File:
                relative = info.path[len(source) :].lstrip("/")
                self.filesystem.copy_file(info.path, f"{destination}/{relative}")
        self.delete_dir(source)


def open_files(uris: Sequence[str], schema: pa.Schema | None = None) -> ds.Dataset:
    """A ``pyarrow.dataset.Dataset`` over the Parquet files at ``uris`` (all on one lake).

    Without ``schema`` the files' schemas are unified: a dataset whose XDM schema evolved holds
    files of several versions (later ones add fields, nested ones included), and every row reads
    through the union, fields a file lacks as nulls (pyarrow alone would use the first file's
    schema and silently drop the fields added since).
    """
    if not uris:
        return ds.dataset(pa.table({}) if schema is None else schema.empty_table())
    filesystem, _ = _filesystem(uris[0])
    paths = [_filesystem(uri)[1] if uri.startswith("s3://") else urlparse(uri).path for uri in uris]
    if schema is None and len(paths) > 1:
        fragments = ds.dataset(paths, format="parquet", filesystem=filesystem).get_fragments()
        schemas = list(dict.fromkeys(fragment.physical_schema for fragment in fragments))
        schema = schemas[0] if len(schemas) == 1 else pa.unify_schemas(schemas)
    return ds.dataset(paths, format="parquet", filesystem=filesystem, schema=schema)
