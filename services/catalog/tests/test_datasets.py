from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

Auth = Callable[..., dict[str, str]]


def create(client: TestClient, auth: Auth, name: str = "sales", **extra: object) -> dict:
    response = client.post("/catalog/v1/datasets", json={"name": name, **extra}, headers=auth())
    assert response.status_code == 201, response.text
    return response.json()


def test_create_get_list_update_delete(client: TestClient, auth: Auth) -> None:
    created = create(client, auth, tags=["retail"])
    dataset_id = created["id"]
    got = client.get(f"/catalog/v1/datasets/{dataset_id}", headers=auth())
    assert got.status_code == 200
    assert got.headers["etag"] == '"1"'
    listed = client.get("/catalog/v1/datasets?tag=retail", headers=auth()).json()
    assert [item["id"] for item in listed["items"]] == [dataset_id]

    patched = client.patch(
        f"/catalog/v1/datasets/{dataset_id}",
        json={"description": "weekly sales"},
        headers={**auth(), "If-Match": '"1"'},
    )
    assert patched.status_code == 200
    assert patched.json()["description"] == "weekly sales"
    assert patched.headers["etag"] == '"2"'

    stale = client.patch(
        f"/catalog/v1/datasets/{dataset_id}",
        json={"description": "again"},
        headers={**auth(), "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"

    assert client.delete(f"/catalog/v1/datasets/{dataset_id}", headers=auth()).status_code == 204
    assert client.get(f"/catalog/v1/datasets/{dataset_id}", headers=auth()).status_code == 404


def test_duplicate_name_is_a_conflict(client: TestClient, auth: Auth) -> None:
    create(client, auth)
    response = client.post("/catalog/v1/datasets", json={"name": "sales"}, headers=auth())
    assert response.status_code == 409
    assert response.json()["code"] == "name_taken"


def test_validation_errors_list_each_field(client: TestClient, auth: Auth) -> None:
    response = client.post(
        "/catalog/v1/datasets",
        json={"name": "", "error_threshold_percent": 150, "surprise": 1},
        headers=auth(),
    )
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {error["pointer"] for error in body["errors"]}
    assert pointers == {"/body/name", "/body/error_threshold_percent", "/body/surprise"}


def test_idempotent_creation_replays_the_first_response(client: TestClient, auth: Auth) -> None:
    headers = {**auth(), "Idempotency-Key": "k-1"}
    first = client.post("/catalog/v1/datasets", json={"name": "a"}, headers=headers)
    second = client.post("/catalog/v1/datasets", json={"name": "a"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers["idempotent-replayed"] == "true"
    other = client.post("/catalog/v1/datasets", json={"name": "b"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_pagination_walks_every_item_once(client: TestClient, auth: Auth) -> None:
    names = [f"d{index:02d}" for index in range(7)]
    for name in names:
        create(client, auth, name)
    seen: list[str] = []
    url = "/catalog/v1/datasets?limit=3&orderby=name"
    while url:
        page = client.get(url, headers=auth()).json()
        seen += [item["name"] for item in page["items"]]
        url = (
            f"/catalog/v1/datasets?limit=3&orderby=name&cursor={page['next']}"
            if page["next"]
            else ""
        )
    assert seen == names
    bad = client.get("/catalog/v1/datasets?orderby=secret", headers=auth())
    assert bad.status_code == 400


def test_tenant_isolation(client: TestClient, auth: Auth) -> None:
    dataset_id = create(client, auth)["id"]
    for headers in (auth(org_id="org-b"), auth(sandboxes=("dev",))):
        assert client.get(f"/catalog/v1/datasets/{dataset_id}", headers=headers).status_code == 404
        assert client.get("/catalog/v1/datasets", headers=headers).json()["items"] == []
        assert (
            client.delete(f"/catalog/v1/datasets/{dataset_id}", headers=headers).status_code == 404
        )


def test_auth_is_required_and_scoped(client: TestClient, auth: Auth) -> None:
    missing = client.get("/catalog/v1/datasets")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    garbage = client.get("/catalog/v1/datasets", headers={"Authorization": "Bearer nope"})
    assert garbage.status_code == 401
    read_only = auth(scopes=["catalog:read"])
    assert client.get("/catalog/v1/datasets", headers=read_only).status_code == 200
    denied = client.post("/catalog/v1/datasets", json={"name": "x"}, headers=read_only)
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"
    other_org = client.get("/catalog/v1/datasets", headers={**auth(), "x-org-id": "org-b"})
    assert other_org.status_code == 403
    expired = client.get("/catalog/v1/datasets", headers=auth(ttl_seconds=-120))
    assert expired.status_code == 401
    assert expired.json()["code"] == "token_expired"


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert "dsw_http_requests_total" in client.get("/metrics").text


def test_request_ids_travel_into_events(client: TestClient, auth: Auth) -> None:
    from sqlalchemy import select

    from dsw_catalog.models import OutboxEvent

    headers = {**auth(), "x-request-id": "req-trace-1"}
    assert (
        client.post("/catalog/v1/datasets", json={"name": "t"}, headers=headers).status_code == 201
    )
    database = client.app.state.runtime.database  # type: ignore[attr-defined]
    with database.system_session() as session:
        envelopes = [row.envelope for row in session.scalars(select(OutboxEvent))]
    assert [envelope["correlationid"] for envelope in envelopes] == ["req-trace-1"]
    assert envelopes[0]["type"] == "dsw.catalog.dataset.created"
    assert envelopes[0]["orgid"] == "org-a"
