"""Topics and the rule that maps an event type to its topic."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

SERVICES = ("catalog", "recipes", "training", "scoring", "serving")
DEAD_LETTER_SUFFIX = ".dlq"

#: Every topic the platform creates at start-up. Notifications go to ``dsw.<service>.events``;
#: commands (``...requested``) to ``dsw.<service>.commands``, consumed by that service's workers.
ALL_TOPICS: tuple[str, ...] = (
    *(f"dsw.{service}.events" for service in SERVICES),
    "dsw.recipes.commands",
    "dsw.training.commands",
    "dsw.scoring.commands",
    "dsw.serving.invocations",
)


def topic_for(event_type: str) -> str:
    """The topic of ``event_type`` (``dsw.<service>.<resource>.<verb>``)."""
    parts = event_type.split(".")
    if len(parts) < 4 or parts[0] != "dsw" or parts[1] not in SERVICES:
        raise ValueError(f"not a platform event type: {event_type!r}")
    kind = "commands" if parts[-1] == "requested" else "events"
    return f"dsw.{parts[1]}.{kind}"


class EventPayload(BaseModel):
    """Base of event payloads: small (ids and counts), versioned, tolerant of new fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    #: The CloudEvents ``type`` of this payload.
    event_type: ClassVar[str] = ""
    schema_version: int = 1
