"""The CloudEvents 1.0 JSON envelope with the platform's extension attributes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dsw_kit.db import Tenant, utcnow


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event (structured JSON mode) with ``orgid``/``sandbox`` extensions."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: datetime = Field(default_factory=utcnow)
    subject: str | None = None
    datacontenttype: str = "application/json"
    orgid: str
    sandbox: str
    correlationid: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def tenant(self) -> Tenant:
        """The tenant the event belongs to."""
        return Tenant(self.orgid, self.sandbox)


def new_event(
    *,
    service: str,
    event_type: str,
    tenant: Tenant,
    subject: str,
    data: dict[str, Any],
    correlation_id: str | None = None,
) -> CloudEvent:
    """A new event from ``service`` about ``subject`` (the resource id, also the Kafka key)."""
    return CloudEvent(
        source=f"/dsw/{service}",
        type=event_type,
        subject=subject,
        orgid=tenant.org_id,
        sandbox=tenant.sandbox,
        correlationid=correlation_id,
        data=data,
    )
