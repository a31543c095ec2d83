"""The data science workspace's Python SDK and ``dsw`` command line.

``dsw.Client()`` talks to the platform configured in the environment or a profile, or to the
embedded stack of ``dsw up``; errors are :class:`dsw.ApiError` subclasses.
"""

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
