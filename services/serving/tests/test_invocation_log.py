"""The invocation log never blocks a prediction: a full queue or an absent broker drops, counted."""

from __future__ import annotations

import time
from pathlib import Path

from dsw_kit.broker import free_port
from dsw_kit.settings import PlatformSettings
from dsw_serving.monitoring.invocation_log import InvocationLog
from dsw_serving.settings import ServingSettings

from .helpers import wait_for


def _item(number: int) -> dict[str, object]:
    return {
        "org": "org-a",
        "sandbox": "prod",
        "service": "sales",
        "request_id": f"r{number}",
        "revision": 1,
        "shadow": False,
        "inputs": {"store": [1]},
        "outputs": [1.0],
        "latency_ms": 1.0,
        "at": time.time(),
    }


def test_a_full_queue_drops_without_waiting(dsw_home: Path) -> None:
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    log = InvocationLog(ServingSettings(platform=platform, invocation_queue_size=3))
    for number in range(10):
        log.record(_item(number))
    assert (log.queue.qsize(), log.dropped) == (3, 7)


def test_an_absent_broker_loses_records_not_requests(dsw_home: Path) -> None:
    # Nothing listens on this port: every batch fails to send and is counted as dropped.
    platform = PlatformSettings(home=dsw_home, kafka_bootstrap=f"127.0.0.1:{free_port()}")
    settings = ServingSettings(platform=platform, invocation_flush_seconds=0.05)
    log = InvocationLog(settings)
    log.start()
    try:
        for number in range(5):
            log.record(_item(number))
        wait_for(lambda: log.dropped == 5, "the batch to be dropped", timeout=60)
        assert log.sent == 0
    finally:
        log.stop()
