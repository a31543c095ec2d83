"""Bearer-token authentication, scopes and tenant resolution.

Tokens are JWTs: HS256 with a shared secret (generated into the data home on first run in the
embedded default) or RS256 verified with a PEM public key or a JWKS endpoint.

Claims used: ``sub`` (who), ``scope`` (space-separated, ``<service>:<read|write|admin>``; a higher
verb implies the lower ones), ``org`` (the organisation), ``sandboxes`` (the sandboxes the
subject may use; ``"*"`` for all) and ``sandbox`` (the default one). A service identity (``sub`` =
``service:<name>``) with the ``platform:tenant`` scope acts for the tenant it names in the
``x-org-id`` / ``x-sandbox-name`` headers; nobody else can pick an organisation by header.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from fastapi import Request

from dsw_kit.db import Tenant
from dsw_kit.errors import Forbidden, Unauthorized
from dsw_kit.settings import AuthSettings
from dsw_kit.tokens import DEFAULT_SANDBOX, TokenIssuer, all_scopes, load_or_create_secret

__all__ = [
    "ACT_AS_TENANT_SCOPE",
    "DEFAULT_SANDBOX",
    "Authenticator",
    "Principal",
    "RequestContext",
    "TokenIssuer",
    "all_scopes",
    "load_or_create_secret",
    "require",
]

ACT_AS_TENANT_SCOPE = "platform:tenant"
_VERBS = ("read", "write", "admin")
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may do."""

    subject: str
    scopes: frozenset[str]
    org_id: str | None
    sandboxes: tuple[str, ...] = ()
    default_sandbox: str = DEFAULT_SANDBOX
    token: str = field(default="", repr=False)

    @property
    def is_service(self) -> bool:
        """Whether this is a platform service identity rather than a person or application."""
        return self.subject.startswith("service:")

    def has_scope(self, required: str) -> bool:
        """Whether the principal holds ``required`` or a higher verb on the same service."""
        if required in self.scopes:
            return True
        service, _, verb = required.partition(":")
        if verb not in _VERBS:
            return False
        higher = _VERBS[_VERBS.index(verb) + 1 :]
        return any(f"{service}:{other}" in self.scopes for other in higher)

    def may_use_sandbox(self, sandbox: str) -> bool:
        """Whether the principal may act in ``sandbox`` of its organisation."""
        return "*" in self.sandboxes or sandbox in self.sandboxes


@dataclass(frozen=True, slots=True)
class RequestContext:
    """The authenticated principal and the tenant a request acts for."""

    principal: Principal
    tenant: Tenant

    @property
    def subject(self) -> str:
        """The subject recorded as ``created_by`` on resources this request creates."""
        return self.principal.subject


class Authenticator:
    """Verifies bearer tokens and resolves the tenant of a request."""

    def __init__(self, settings: AuthSettings, home: Path) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        self._key: Any
        if settings.algorithm == "HS256":
            self._key = settings.secret or load_or_create_secret(home)
        elif settings.jwks_url:
            self._jwks = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
        elif settings.public_key:
            self._key = settings.public_key
        else:
            raise ValueError("RS256 needs DSW_AUTH_JWKS_URL or DSW_AUTH_PUBLIC_KEY")

    def issuer(self) -> TokenIssuer:
        """A token issuer with the same key (HS256, or RS256 with a configured private key)."""
        if self.settings.algorithm == "HS256":
            return TokenIssuer(self.settings, self._key)
        if not self.settings.private_key:
            raise ValueError("issuing RS256 tokens needs DSW_AUTH_PRIVATE_KEY")
        return TokenIssuer(self.settings, self.settings.private_key)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; :class:`Unauthorized` otherwise."""
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.settings.algorithm],
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthorized("the token has expired", code="token_expired") from error
        except (jwt.PyJWTError, ValueError) as error:
            raise Unauthorized("the token is not valid", code="invalid_token") from error
        sandboxes = claims.get("sandboxes") or [claims.get("sandbox", DEFAULT_SANDBOX)]
        return Principal(
            subject=str(claims["sub"]),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            org_id=claims.get("org"),
            sandboxes=tuple(str(s) for s in sandboxes),
            default_sandbox=str(claims.get("sandbox", DEFAULT_SANDBOX)),
            token=token,
        )

    def authenticate(self, request: Request) -> Principal:
        """The principal of the request's bearer token."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required", code="missing_token")
        return self.verify(token.strip())

    @staticmethod
    def resolve_tenant(principal: Principal, request: Request) -> Tenant:
        """The (org, sandbox) the request acts for, checked against what the token allows."""
        tenant = Authenticator._tenant_of(principal, request)
        for name in (tenant.org_id, tenant.sandbox):
            # Tenant names become lake folders and topic data: no path or control characters.
            if not _TENANT_NAME.match(name):
                raise Forbidden(
                    f"invalid organisation or sandbox name {name!r}", code="invalid_tenant"
                )
        return tenant

    @staticmethod
    def _tenant_of(principal: Principal, request: Request) -> Tenant:
        header_org = request.headers.get("x-org-id")
        header_sandbox = request.headers.get("x-sandbox-name")
        if ACT_AS_TENANT_SCOPE in principal.scopes:
            if not header_org or not header_sandbox:
                raise Forbidden("a service identity must name the tenant it acts for")
            return Tenant(header_org, header_sandbox)
        if principal.org_id is None:
            raise Forbidden("the token names no organisation")
        if header_org and header_org != principal.org_id:
            raise Forbidden("the token does not grant access to that organisation")
        sandbox = header_sandbox or principal.default_sandbox
        if not principal.may_use_sandbox(sandbox):
            raise Forbidden(f"the token does not grant access to sandbox {sandbox!r}")
        return Tenant(principal.org_id, sandbox)


def require(scope: str) -> Callable[[Request], RequestContext]:
    """A FastAPI dependency: authenticate, check ``scope``, resolve the tenant."""

    def dependency(request: Request) -> RequestContext:
        authenticator: Authenticator = request.app.state.authenticator
        principal = authenticator.authenticate(request)
        if not principal.has_scope(scope):
            raise Forbidden(f"the token lacks the scope {scope!r}", code="insufficient_scope")
        context = RequestContext(principal, authenticator.resolve_tenant(principal, request))
        request.state.context = context
        return context

    return dependency
