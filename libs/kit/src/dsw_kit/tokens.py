"""Signing tokens and the data home's HS256 secret, without the web stack.

The ``dsw`` command line signs development tokens with this (importing :mod:`dsw_kit.auth` would
load FastAPI and SQLAlchemy for every command); :mod:`dsw_kit.auth` verifies what it signs.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt

from dsw_kit.settings import AuthSettings, generate_secret

__all__ = ["DEFAULT_SANDBOX", "SERVICES", "TokenIssuer", "all_scopes", "load_or_create_secret"]

DEFAULT_SANDBOX = "prod"
SERVICES = ("catalog", "recipes", "training", "scoring", "serving")


def all_scopes() -> list[str]:
    """Every user scope of the platform (what the dev token carries)."""
    return [f"{service}:admin" for service in SERVICES]


def load_or_create_secret(home: Path) -> str:
    """The HS256 secret stored in the data home, created (mode 0600) on first use."""
    path = home / "secrets" / "jwt-hs256.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = generate_secret()
    try:
        # O_EXCL: when several processes start at once, exactly one writes the secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            text = path.read_text().strip()
            if text:
                return text
            time.sleep(0.02)
        raise
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class TokenIssuer:
    """Signs tokens: dev tokens for people in the embedded stack, identities for services."""

    def __init__(self, settings: AuthSettings, secret_or_private_key: str) -> None:
        self._settings = settings
        self._key = secret_or_private_key

    def issue(
        self,
        subject: str,
        scopes: Iterable[str],
        *,
        org_id: str | None = None,
        sandboxes: Iterable[str] = (DEFAULT_SANDBOX,),
        default_sandbox: str | None = None,
        ttl_seconds: int | None = None,
    ) -> str:
        """A signed JWT for ``subject`` with ``scopes`` in ``org_id``.

        The default sandbox is the first one granted (``prod`` when all are).
        """
        sandboxes = list(sandboxes)
        if default_sandbox is None:
            first = sandboxes[0] if sandboxes else "*"
            default_sandbox = DEFAULT_SANDBOX if first == "*" else first
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": self._settings.issuer,
            "aud": self._settings.audience,
            "iat": now,
            "nbf": now,
            "exp": now + (ttl_seconds or self._settings.token_ttl_seconds),
            "jti": uuid.uuid4().hex,
            "scope": " ".join(sorted(set(scopes))),
            "sandboxes": sandboxes,
            "sandbox": default_sandbox,
        }
        if org_id is not None:
            claims["org"] = org_id
        return jwt.encode(claims, self._key, algorithm=self._settings.algorithm)
