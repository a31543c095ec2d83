from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from dsw_kit.auth import Authenticator, Principal, load_or_create_secret
from dsw_kit.errors import Unauthorized
from dsw_kit.settings import AuthSettings


def test_higher_verbs_imply_lower_ones() -> None:
    principal = Principal("u", frozenset({"catalog:write"}), "org")
    assert principal.has_scope("catalog:read")
    assert principal.has_scope("catalog:write")
    assert not principal.has_scope("catalog:admin")
    assert not principal.has_scope("training:read")


def test_secret_is_generated_once_with_private_permissions(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path)
    assert load_or_create_secret(tmp_path) == first
    path = tmp_path / "secrets" / "jwt-hs256.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32


def test_rs256_tokens_verify_with_the_public_key_only(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    signer = Authenticator(
        AuthSettings(algorithm="RS256", public_key=public_pem, private_key=private_pem), tmp_path
    )
    token = signer.issuer().issue("bob", ["scoring:read"], org_id="o")
    verifier = Authenticator(AuthSettings(algorithm="RS256", public_key=public_pem), tmp_path)
    principal = verifier.verify(token)
    assert principal.subject == "bob"
    assert principal.has_scope("scoring:read")
    # An HS256 token signed with the public key as secret (algorithm confusion) is refused.
    forged = jwt.encode({"sub": "eve", "exp": 9999999999}, "x" * 32, algorithm="HS256")
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_tokens_from_another_secret_are_refused(tmp_path: Path) -> None:
    ours = Authenticator(AuthSettings(secret="a" * 40), tmp_path)
    theirs = Authenticator(AuthSettings(secret="b" * 40), tmp_path)
    with pytest.raises(Unauthorized):
        ours.verify(theirs.issuer().issue("mallory", ["catalog:admin"], org_id="org-a"))


def test_service_identity_must_name_the_tenant(
    app_client: TestClient, issue_token: Callable[..., str], tmp_path: Path
) -> None:
    authenticator: Authenticator = app_client.app.state.authenticator  # type: ignore[attr-defined]
    service_token = authenticator.issuer().issue(
        "service:training", ["catalog:read", "platform:tenant"]
    )
    headers = {"Authorization": f"Bearer {service_token}"}
    missing = app_client.get("/demo/v1/notes/00000000-0000-0000-0000-000000000000", headers=headers)
    assert missing.status_code == 403
    named = app_client.get(
        "/demo/v1/notes/00000000-0000-0000-0000-000000000000",
        headers={**headers, "x-org-id": "org-a", "x-sandbox-name": "prod"},
    )
    assert named.status_code == 404


def test_a_user_cannot_pick_a_sandbox_the_token_does_not_grant(app_client: TestClient) -> None:
    authenticator: Authenticator = app_client.app.state.authenticator  # type: ignore[attr-defined]
    token = authenticator.issuer().issue("u", ["catalog:read"], org_id="o", sandboxes=["prod"])
    response = app_client.get(
        "/demo/v1/notes/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {token}", "x-sandbox-name": "dev"},
    )
    assert response.status_code == 403


def test_tenant_names_that_could_escape_a_folder_are_refused(app_client: TestClient) -> None:
    authenticator: Authenticator = app_client.app.state.authenticator  # type: ignore[attr-defined]
    for org in ("../other", "a/b", ".hidden", ""):
        token = authenticator.issuer().issue("u", ["catalog:read"], org_id=org)
        response = app_client.get(
            "/demo/v1/notes/00000000-0000-0000-0000-000000000000",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 403, org


def test_rs256_keys_can_come_from_a_jwks_endpoint(tmp_path: Path) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from jwt.algorithms import RSAAlgorithm

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwks = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(jwks)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Keys)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/jwks.json"
        verifier = Authenticator(AuthSettings(algorithm="RS256", jwks_url=url), tmp_path)
        token = jwt.encode(
            {
                "sub": "svc",
                "aud": "dsw",
                "iss": "dsw",
                "exp": 9_999_999_999,
                "scope": "serving:read",
                "org": "o",
            },
            key,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
        assert verifier.verify(token).subject == "svc"
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        forged = jwt.encode(
            {"sub": "x", "aud": "dsw", "iss": "dsw", "exp": 9_999_999_999},
            other,
            algorithm="RS256",
            headers={"kid": "k1"},
        )
        with pytest.raises(Unauthorized):
            verifier.verify(forged)
    finally:
        server.shutdown()
        server.server_close()


def test_an_expired_token_is_refused_with_its_own_code(app_client: TestClient) -> None:
    authenticator: Authenticator = app_client.app.state.authenticator  # type: ignore[attr-defined]
    # Expired a minute ago: past the verifier's clock-skew leeway, if any.
    token = authenticator.issuer().issue("u", ["catalog:read"], org_id="o", ttl_seconds=-120)
    response = app_client.get(
        "/demo/v1/notes/00000000-0000-0000-0000-000000000000",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "token_expired"
