"""Request and response models of XDM schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dsw_catalog.models import XdmSchema
from dsw_xdm import Schema, feature_columns


class SchemaCreate(BaseModel):
    """A custom schema: the XDM class, field groups and tenant fields (libs/xdm's JSON form)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    title: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=4000)
    class_id: str = Field(alias="class", description="$id of an XDM class")
    field_groups: list[str] = Field(default_factory=list, alias="fieldGroups", max_length=100)
    tenant_id: str | None = Field(default=None, alias="tenantId", max_length=64)
    tenant_fields: dict[str, Any] | None = Field(default=None, alias="tenantFields")
    xdm_id: str | None = Field(default=None, alias="$id", max_length=512)
    tags: list[str] = Field(default_factory=list, max_length=50)
    descriptors: list[dict[str, Any]] | None = Field(
        default=None,
        max_length=100,
        description="XDM descriptors: identity descriptors (xdm:descriptorIdentity) mark fields",
    )

    def document(self) -> dict[str, Any]:
        """The schema document libs/xdm composes."""
        document: dict[str, Any] = {
            "title": self.title,
            "class": self.class_id,
            "fieldGroups": self.field_groups,
        }
        if self.description:
            document["description"] = self.description
        if self.tenant_id is not None:
            document["tenantId"] = self.tenant_id
        if self.tenant_fields is not None:
            document["tenantFields"] = self.tenant_fields
        if self.xdm_id is not None:
            document["$id"] = self.xdm_id
        if self.descriptors:
            document["descriptors"] = self.descriptors
        return document


class SchemaOut(BaseModel):
    """A custom schema."""

    id: uuid.UUID
    xdm_id: str = Field(description="The schema's XDM $id")
    title: str
    description: str
    class_id: str
    behavior: str = Field(description="record or time-series")
    document: dict[str, Any]
    fields: list[str] = Field(description="Dotted paths of every leaf field")
    tags: list[str]
    created: datetime
    updated: datetime
    created_by: str
    version: int
    schema_version: int = Field(description="Increases with every compatible change")
    components: list[str] = Field(description="$ids of the tenant components it uses")
    identities: list[dict[str, Any]] = Field(
        description="Identity fields: path, namespace, primary (from identity descriptors)"
    )
    primary_identity: dict[str, Any] | None = Field(
        description="Where a record's primary identity is: a descriptor's field, or identityMap"
    )

    @classmethod
    def of(cls, schema: XdmSchema, composed: Schema) -> SchemaOut:
        """The API view of ``schema`` (``composed``: its libs/xdm schema)."""
        return cls(
            id=schema.id,
            xdm_id=schema.xdm_id,
            title=schema.title,
            description=schema.description,
            class_id=schema.class_id,
            behavior=schema.behavior,
            document=schema.document,
            fields=feature_columns(composed),
            tags=list(schema.tags),
            created=schema.created,
            updated=schema.updated,
            created_by=schema.created_by,
            version=schema.version,
            schema_version=schema.schema_version,
            components=[c["$id"] for c in schema.components or []],
            identities=[
                {"path": i.path, "namespace": i.namespace, "primary": i.primary}
                for i in composed.identities
            ],
            primary_identity=composed.primary_identity,
        )


class SchemaVersionOut(BaseModel):
    """One version of a schema."""

    version: int
    current: bool
    document: dict[str, Any]
    components: list[str] = Field(description="$ids of the tenant components of this version")
    fields: list[str]


class ComponentOut(BaseModel):
    """A standard XDM component (class, field group, data type or behaviour)."""

    id: str = Field(description="The component's $id")
    kind: str
    title: str
    description: str | None = None
    definition: dict[str, Any] | None = None


class ArrowField(BaseModel):
    """One column of a schema's Arrow (Parquet) layout."""

    name: str
    type: str
    nullable: bool
