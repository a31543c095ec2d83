"""The usage read model: which of a tenant's models use which recipe version.

Training publishes ``dsw.training.model.created|updated|deleted`` with the model's recipe and
version; this consumer keeps one row per model, so deprecating or deleting a version in use is
refused without a call to the training service.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from dsw_contracts import TrainingModelChanged
from dsw_kit.app import ServiceRuntime
from dsw_kit.events import CloudEvent, EventConsumer
from dsw_recipes.models import ProcessedEvent, RecipeUsage

MODEL_EVENTS = frozenset(
    {"dsw.training.model.created", "dsw.training.model.updated", "dsw.training.model.deleted"}
)


def apply_model_event(session: Session, event: CloudEvent) -> None:
    """Record or forget the model's use of a version (the session is the event's tenant's)."""
    if event.type not in MODEL_EVENTS:
        return
    payload = TrainingModelChanged.model_validate(event.data)
    if event.type.endswith(".deleted"):
        session.execute(delete(RecipeUsage).where(RecipeUsage.model_id == payload.model_id))
        return
    usage = session.scalar(select(RecipeUsage).where(RecipeUsage.model_id == payload.model_id))
    if usage is None:
        session.add(
            RecipeUsage(
                model_id=payload.model_id,
                recipe_id=payload.recipe_id,
                version_id=payload.version_id,
            )
        )
    else:
        usage.recipe_id, usage.version_id = payload.recipe_id, payload.version_id
    session.flush()


def usage_consumer(runtime: ServiceRuntime) -> EventConsumer:
    """The consumer of training's model events."""
    platform = runtime.settings.platform
    return EventConsumer(
        name="recipes.model-usage",
        database=runtime.database,
        processed_model=ProcessedEvent,
        topics=["dsw.training.events"],
        handler=apply_model_event,
        event_types=MODEL_EVENTS,
        bootstrap=platform.kafka_bootstrap,
        group_id=platform.kafka_group_prefix + "recipes.model-usage",
        partitions_per_topic=platform.kafka_partitions,
    )
