"""Training's catalog-events consumer that dies after applying its first event, before the
offset commit: the crash a consumer must survive without applying the event twice."""

from __future__ import annotations

import os
from typing import Any

from dsw_kit.app import build_runtime
from dsw_training.app import spec
from dsw_training.datasets.events import catalog_events_consumer


def main() -> None:
    runtime = build_runtime(spec())
    consumer = catalog_events_consumer(runtime)

    def crash(*args: Any, **kwargs: Any) -> None:
        os._exit(17)  # the database transaction has committed; the offset never will

    consumer._commit = crash  # type: ignore[method-assign]
    consumer.run()


if __name__ == "__main__":
    main()
