"""Wire contracts shared by the platform services: topics, event types and versioned payloads.

Services never import each other's code; what they say to each other over Kafka is defined here,
once, as small pydantic models that carry a ``schema_version``.
"""

from dsw_contracts._catalog import (
    BatchCompleted,
    DatasetChanged,
)
from dsw_contracts._recipes import (
    RecipeVersionDeprecated,
    RecipeVersionRegistered,
    RecipeVersionRequested,
    RecipeVersionValidated,
)
from dsw_contracts._topics import (
    ALL_TOPICS,
    DEAD_LETTER_SUFFIX,
    EventPayload,
    topic_for,
)
from dsw_contracts._training import (
    TrainingModelChanged,
    TrainingRunChanged,
    TrainingRunRequested,
    TrainingSweepFinished,
)

__all__ = [
    "ALL_TOPICS",
    "DEAD_LETTER_SUFFIX",
    "BatchCompleted",
    "DatasetChanged",
    "EventPayload",
    "RecipeVersionDeprecated",
    "RecipeVersionRegistered",
    "RecipeVersionRequested",
    "RecipeVersionValidated",
    "TrainingModelChanged",
    "TrainingRunChanged",
    "TrainingRunRequested",
    "TrainingSweepFinished",
    "topic_for",
]
