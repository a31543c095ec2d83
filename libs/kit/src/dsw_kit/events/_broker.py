"""Connections to the Kafka-protocol broker: producer, topic creation, reachability."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping

from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from dsw_kit.events._memory import MemoryProducer, is_memory

logger = logging.getLogger("dsw.events")


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached (the outbox keeps events until it can)."""


def _servers(bootstrap: str) -> list[str]:
    return [server.strip() for server in bootstrap.split(",") if server.strip()]


def create_producer(bootstrap: str, client_id: str) -> KafkaProducer:
    """An idempotent producer that waits for all in-sync replicas (acks=all).

    Raises :class:`BrokerUnavailable` when no broker answers. A ``memory://`` bootstrap gets a
    producer onto the in-process bus, which answers the same calls.
    """
    if is_memory(bootstrap):
        memory_producer: KafkaProducer = MemoryProducer(bootstrap)
        return memory_producer
    try:
        return KafkaProducer(
            bootstrap_servers=_servers(bootstrap),
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            retries=5,
            request_timeout_ms=10_000,
            max_block_ms=5_000,
            # Give up on an absent broker after 5 s rather than kafka-python's 30: the relay and
            # the invocation log keep their records and retry with backoff.
            bootstrap_timeout_ms=5_000,
            reconnect_backoff_max_ms=2_000,
        )
    except (KafkaError, OSError) as error:
        raise BrokerUnavailable(f"broker {bootstrap} unavailable: {error}") from error


def ensure_topics(
    bootstrap: str, topics: Mapping[str, int], *, timeout_seconds: float = 30.0
) -> None:
    """Create the missing ``topics`` (name -> partitions); existing ones are left as they are."""
    if is_memory(bootstrap):
        return  # the in-process bus makes a topic on its first record
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=_servers(bootstrap),
                client_id="dsw-admin",
                request_timeout_ms=10_000,
            )
            break
        except (KafkaError, OSError) as error:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"broker {bootstrap} unavailable: {error}") from error
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=partitions, replication_factor=1)
            for name, partitions in topics.items()
            if name not in existing
        ]
        for topic in missing:
            # One at a time: a concurrent creator makes one of them fail, not the batch.
            try:
                admin.create_topics([topic])
                logger.info("created topic %s (%d partitions)", topic.name, topic.num_partitions)
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()


def broker_reachable(bootstrap: str, timeout_seconds: float = 1.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection (an in-process bus always does)."""
    if is_memory(bootstrap):
        return True
    for server in _servers(bootstrap):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout_seconds):
                return True
        except OSError:
            continue
    return False
