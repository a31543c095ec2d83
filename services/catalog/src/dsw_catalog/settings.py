"""Settings of the catalog service (``DSW_CATALOG_`` prefix)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from dsw_kit.settings import ServiceSettings

GIB = 1024**3


class CatalogSettings(ServiceSettings):
    """Catalog settings; platform-wide ones (``DSW_``) are under ``platform``."""

    model_config = SettingsConfigDict(env_prefix="DSW_CATALOG_", extra="ignore")

    service: str = "catalog"
    port: int = 8101
    max_file_bytes: int = Field(5 * GIB, description="Largest file one upload may carry")
    max_decompressed_bytes: int = Field(
        50 * GIB, description="Largest size a gzip file may inflate to"
    )
    max_decompression_ratio: float = Field(
        200.0, description="Largest inflated/compressed size ratio (gzip bomb guard)"
    )
    max_errors_per_batch: int = Field(10_000, description="Row errors kept in a batch's report")
    row_group_rows: int = Field(131_072, description="Rows per Parquet row group in the lake")
    read_block_bytes: int = Field(8 * 1024 * 1024, description="Bytes parsed per CSV/JSON block")
    ingest_lease_seconds: float = Field(30.0, description="Lease of a batch being processed")
    ingest_max_attempts: int = Field(3, description="Processing attempts before a batch fails")
    ingest_poll_seconds: float = Field(2.0, description="How often idle workers look for batches")
    preview_max_rows: int = Field(1000, description="Most rows preview and row reads return")
