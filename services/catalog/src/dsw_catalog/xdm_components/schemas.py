"""Request and response models of tenant XDM components."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dsw_catalog.models import XdmComponent

Kind = Literal["fieldgroups", "datatypes"]
KIND_OF: dict[str, str] = {"fieldgroups": "fieldgroup", "datatypes": "datatype"}


class ComponentCreate(BaseModel):
    """A tenant field group or data type in XDM's component layout (stored-form names).

    A field group's fields live under the tenant's namespace object `_<tenantId>`; it names the
    classes it extends in `meta:intendedToExtend` (`[]`: any class). Fields may `$ref` standard
    or tenant data types.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    tenant_id: str = Field(alias="tenantId", pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$", max_length=64)
    title: str = Field(min_length=3, max_length=255)
    description: str = Field(default="", max_length=4000)
    intended_to_extend: list[str] | None = Field(
        default=None, alias="meta:intendedToExtend", max_length=50
    )
    definitions: dict[str, Any] | None = None
    all_of: list[dict[str, Any]] | None = Field(default=None, alias="allOf", max_length=100)
    properties: dict[str, Any] | None = None
    required: list[str] | None = None

    def definition(self, xdm_id: str, kind: str) -> dict[str, Any]:
        """The component JSON libs/xdm registers."""
        document: dict[str, Any] = {
            "$id": xdm_id,
            "title": self.title,
            "type": "object",
            "meta:extensible": True,
            "meta:abstract": kind == "fieldgroup",
            "meta:status": "stable",
        }
        if self.description:
            document["description"] = self.description
        if kind == "fieldgroup":
            document["meta:intendedToExtend"] = list(self.intended_to_extend or [])
        for key, value in (
            ("definitions", self.definitions),
            ("allOf", self.all_of),
            ("properties", self.properties),
            ("required", self.required),
        ):
            if value is not None:
                document[key] = value
        return document


class ComponentOut(BaseModel):
    """A tenant component."""

    id: uuid.UUID
    xdm_id: str = Field(description="The component's XDM $id (use it in schemas and $refs)")
    kind: str
    tenant_id: str
    title: str
    description: str
    status: str = Field(description="active or deprecated (deprecated: not for new schemas)")
    component_version: int = Field(description="Increases with every compatible change")
    definition: dict[str, Any]
    fields: list[str] = Field(description="Dotted paths of its leaf fields")
    created: datetime
    updated: datetime
    created_by: str
    version: int

    @classmethod
    def of(cls, component: XdmComponent, fields: list[str]) -> ComponentOut:
        """The API view of ``component``."""
        return cls(
            id=component.id,
            xdm_id=component.xdm_id,
            kind=component.kind,
            tenant_id=component.tenant_id,
            title=component.title,
            description=component.description,
            status=component.status,
            component_version=component.component_version,
            definition=component.definition,
            fields=fields,
            created=component.created,
            updated=component.updated,
            created_by=component.created_by,
            version=component.version,
        )
