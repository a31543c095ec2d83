"""The data science workspace's Python SDK and ``dsw`` command line.

``dsw.Client()`` talks to the platform configured in the environment or a profile, or to the
embedded stack of ``dsw up``; errors are :class:`dsw.ApiError` subclasses.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsw.aio import AsyncClient
    from dsw.client import Client
    from dsw.config import Config
    from dsw.errors import (
        ApiError,
        Conflict,
        FieldError,
        Forbidden,
        NotFound,
        PreconditionFailed,
        ServiceUnavailable,
        TransportError,
        Unauthorized,
        ValidationError,
        WaitTimeout,
    )

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "AsyncClient",
    "Client",
    "Config",
    "Conflict",
    "FieldError",
    "Forbidden",
    "NotFound",
    "PreconditionFailed",
    "ServiceUnavailable",
    "TransportError",
    "Unauthorized",
    "ValidationError",
    "WaitTimeout",
]

# Each name loads its module on first use: ``dsw --help`` must not pay for the HTTP clients.
_HOMES = {"AsyncClient": "dsw.aio", "Client": "dsw.client", "Config": "dsw.config"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'dsw' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOMES.get(name, "dsw.errors")), name)
    globals()[name] = value
    return value
