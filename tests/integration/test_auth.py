"""Scoped tokens on the real service: each rule against its opposite, and a refused write
leaves the row exactly as it was (checked on the primary, directly)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.auth import token_digest
from service.cluster import Topology
from service.settings import AuthSettings, Settings, TokenSettings
from tests.integration.conftest import build_app
from tests.integration.helpers import Client, primary_fetch, unique_email

READER, WRITER, ANALYST, ADMIN = (f"sy_{role}-{uuid.uuid4().hex}" for role in range(4))
BEARER = {token: {"Authorization": f"Bearer {token}"} for token in (READER, WRITER, ANALYST, ADMIN)}


def _token(name: str, token: str, *scopes: str) -> TokenSettings:
    return msgspec.convert(
        {"name": name, "sha256": token_digest(token), "scopes": list(scopes)}, TokenSettings
    )


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[Client]:
    auth = AuthSettings(
        mode="tokens",
        tokens=(
            _token("reader", READER, "read"),
            _token("writer", WRITER, "read", "write"),
            _token("analyst", ANALYST, "analytics"),
            _token("ops", ADMIN, "admin"),
        ),
    )
    app = build_app(msgspec.structs.replace(settings, auth=auth))
    async with AsyncTestClient[Litestar](app=app) as test_client:
        yield test_client


async def _stored_name(cluster: Topology, email: str) -> str | None:
    rows = await primary_fetch(cluster, "SELECT name FROM customers WHERE email = $1", email)
    return rows[0]["name"] if rows else None


async def test_a_write_without_the_scope_is_refused_and_the_row_unchanged(
    api: Client, cluster: Topology
) -> None:
    email = unique_email("auth").lower()
    created = await api.put(f"/customers/{email}", json={"name": "Before"}, headers=BEARER[WRITER])
    assert created.status_code == 201, created.text

    for headers, status in (({}, 401), (BEARER[READER], 403), (BEARER[ADMIN], 403)):
        refused = await api.put(f"/customers/{email}", json={"name": "After"}, headers=headers)
        assert refused.status_code == status, refused.text
        assert await _stored_name(cluster, email) == "Before"
    assert refused.json()["scope"] == "write"

    allowed = await api.put(f"/customers/{email}", json={"name": "After"}, headers=BEARER[WRITER])
    assert allowed.status_code == 200, allowed.text
    assert await _stored_name(cluster, email) == "After"


async def test_a_refused_create_writes_nothing(api: Client, cluster: Topology) -> None:
    email = unique_email("auth-new").lower()
    refused = await api.put(f"/customers/{email}", json={"name": "X"}, headers=BEARER[READER])
    assert refused.status_code == 403
    assert "X-DB-Node" not in refused.headers  # refused before any database work
    assert await _stored_name(cluster, email) is None


async def test_an_order_status_change_needs_write(api: Client, cluster: Topology) -> None:
    email = unique_email("auth-order")
    order = {
        "external_id": f"auth-{uuid.uuid4().hex}",
        "customer_email": email,
        "status": "pending",
        "total_amount": "10.00",
        "currency": "EUR",
    }
    assert (
        await api.put(f"/customers/{email}", json={"name": "O"}, headers=BEARER[WRITER])
    ).is_success
    assert (await api.post("/orders", json=order, headers=BEARER[READER])).status_code == 403
    created = await api.post("/orders", json=order, headers=BEARER[WRITER])
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]
    path = f"/orders/{order_id}"
    refused = await api.patch(path, json={"status": "cancelled"}, headers=BEARER[READER])
    assert refused.status_code == 403
    rows = await primary_fetch(cluster, "SELECT status FROM orders WHERE id = $1", order_id)
    assert rows[0]["status"] == "pending"
    allowed = await api.patch(path, json={"status": "cancelled"}, headers=BEARER[WRITER])
    assert allowed.status_code == 200, allowed.text


@pytest.mark.parametrize(
    ("path", "allowed", "refused"),
    [
        ("/customers", READER, ANALYST),
        ("/analytics", ANALYST, READER),
        (
            "/analytics/order-status-breakdown?from=2001-01-01T00:00:00Z&to=2001-02-01T00:00:00Z",
            ANALYST,
            WRITER,
        ),
        ("/health/db", ADMIN, WRITER),
        ("/metrics", ADMIN, READER),
    ],
)
async def test_reads_need_their_own_scope(
    api: Client, path: str, allowed: str, refused: str
) -> None:
    assert (await api.get(path)).status_code == 401
    denied = await api.get(path, headers=BEARER[refused])
    assert denied.status_code == 403
    ok = await api.get(path, headers=BEARER[allowed])
    assert ok.status_code == 200, ok.text


async def test_health_db_is_not_shown_to_a_read_token(api: Client) -> None:
    denied = await api.get("/health/db", headers=BEARER[READER])
    assert denied.status_code == 403
    assert "primary" not in denied.text  # no topology in the refusal


@pytest.mark.parametrize("path", ["/health/live", "/health/ready", "/schema/openapi.json"])
async def test_probes_and_the_openapi_document_stay_open(api: Client, path: str) -> None:
    assert (await api.get(path)).status_code == 200


async def test_an_unknown_token_is_a_401_with_a_bearer_challenge(api: Client) -> None:
    response = await api.get("/customers", headers={"Authorization": "Bearer sy_forged"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="switchyard"')
    assert response.json()["detail"].startswith("unknown bearer token")


async def test_the_default_local_mode_asks_for_no_token(client: Client) -> None:
    """The shared client runs with the settings' default: make run's behaviour, unchanged."""
    assert (await client.get("/health/db")).status_code == 200


async def test_head_needs_read_like_get(api: Client) -> None:
    assert (await api.head("/customers")).status_code == 401
    assert (await api.head("/customers", headers=BEARER[ANALYST])).status_code == 403
    assert (await api.head("/customers", headers=BEARER[READER])).status_code == 200
