"""Where the services are and who calls them: environment, a profile file, or the embedded stack.

Precedence, highest first: arguments to :class:`Config`/:meth:`Config.load`, the environment
(``DSW_URL``, ``DSW_<SERVICE>_URL``, ``DSW_TOKEN``, ``DSW_ORG``, ``DSW_SANDBOX``), the profile file
(``~/.config/dsw/config.toml`` or ``DSW_CONFIG``; profile ``DSW_PROFILE`` or ``default``), and last
the embedded stack started by ``dsw up``, found from any folder (see :mod:`dsw._local`): its URLs
and a development token signed with its own secret.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsw._local import config_dir, dev_token, service_urls

__all__ = ["SERVICES", "Config", "profile_path"]

SERVICES = ("catalog", "recipes", "training", "scoring", "serving")


def profile_path() -> Path:
    """The profile file: ``DSW_CONFIG`` or ``$XDG_CONFIG_HOME/dsw/config.toml``."""
    explicit = os.environ.get("DSW_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    return config_dir() / "config.toml"


def _read_profile(name: str | None) -> dict[str, Any]:
    path = profile_path()
    if not path.exists():
        if name:
            raise ValueError(f"profile {name!r} asked for, but {path} does not exist")
        return {}
    document = tomllib.loads(path.read_text())
    wanted = name or os.environ.get("DSW_PROFILE") or "default"
    profiles = document.get("profiles", {})
    if wanted in profiles:
        return dict(profiles[wanted])
    if name or os.environ.get("DSW_PROFILE"):
        raise ValueError(f"no profile {wanted!r} in {path}")
    return {}


def _embedded_urls() -> dict[str, str]:
    return service_urls()


@dataclass
class Config:
    """Service URLs, credentials and tenant of a client."""

    urls: dict[str, str] = field(default_factory=_embedded_urls)
    token: str | None = None
    org: str | None = None
    sandbox: str | None = None
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 0.25
    embedded: bool = True

    @classmethod
    def load(
        cls,
        *,
        profile: str | None = None,
        url: str | None = None,
        token: str | None = None,
        org: str | None = None,
        sandbox: str | None = None,
    ) -> Config:
        """The configuration from arguments, the environment, a profile and the defaults."""
        values = _read_profile(profile)
        base = url or os.environ.get("DSW_URL") or values.get("url")
        urls = _embedded_urls()
        embedded = base is None
        if base:
            urls = dict.fromkeys(SERVICES, str(base).rstrip("/"))
        for service in SERVICES:
            chosen = os.environ.get(f"DSW_{service.upper()}_URL") or values.get(f"{service}_url")
            if chosen:
                urls[service] = str(chosen).rstrip("/")
                embedded = False
        return cls(
            urls=urls,
            token=token or os.environ.get("DSW_TOKEN") or values.get("token"),
            org=org or os.environ.get("DSW_ORG") or values.get("org"),
            sandbox=sandbox or os.environ.get("DSW_SANDBOX") or values.get("sandbox"),
            timeout=float(values.get("timeout", 30.0)),
            retries=int(values.get("retries", 4)),
            embedded=embedded,
        )

    def resolved_token(self) -> str | None:
        """The token; against the embedded stack without one, a development token."""
        if self.token or not self.embedded:
            return self.token
        # Only the embedded stack's own secret can sign this; elsewhere the caller must log in.
        self.token = dev_token(ttl_seconds=24 * 3600)
        return self.token

    def headers(self) -> dict[str, str]:
        """Authorisation and tenant headers of every request."""
        headers: dict[str, str] = {"User-Agent": "dsw-sdk"}
        token = self.resolved_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self.org:
            headers["x-org-id"] = self.org
        if self.sandbox:
            headers["x-sandbox-name"] = self.sandbox
        return headers
