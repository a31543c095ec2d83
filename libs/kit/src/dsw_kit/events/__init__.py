"""Events: the CloudEvents envelope, the transactional outbox and its relay, and consumers.

A service never sends to Kafka inside a request: it writes the event into its outbox table in the
same transaction as the state change (:class:`EventPublisher`), and the :class:`OutboxRelay`
delivers it afterwards. Consumers (:class:`EventConsumer`) apply each event once per consumer,
whatever the broker redelivers, by recording processed event ids in the same transaction as the
handler's changes, and commit offsets only after that transaction.
"""

from dsw_kit.events._broker import (
    BrokerUnavailable,
    broker_reachable,
    create_producer,
    ensure_topics,
)
from dsw_kit.events._consumer import ConsumerStats, EventConsumer, EventHandler
from dsw_kit.events._envelope import CloudEvent, new_event
from dsw_kit.events._memory import MEMORY_SCHEME, MemoryBus, is_memory
from dsw_kit.events._outbox import (
    EventPublisher,
    OutboxMixin,
    OutboxRelay,
    ProcessedEventMixin,
)

__all__ = [
    "MEMORY_SCHEME",
    "BrokerUnavailable",
    "CloudEvent",
    "ConsumerStats",
    "EventConsumer",
    "EventHandler",
    "EventPublisher",
    "MemoryBus",
    "OutboxMixin",
    "OutboxRelay",
    "ProcessedEventMixin",
    "broker_reachable",
    "create_producer",
    "ensure_topics",
    "is_memory",
    "new_event",
]
