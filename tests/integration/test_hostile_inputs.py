"""Inputs that answered 500, and requests that cost the database before they were validated.

The database-down app points every node at a loopback port nothing listens on: a request
that reached the database answers 503 there, so any 4xx it gives instead was decided before
a session was opened.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from service.api.limits import MAX_BODY_BYTES
from service.api.schemas import MAX_BATCH
from service.app import create_app
from service.settings import Settings, load_settings
from tests.integration.helpers import Client, closed_port, unique_email

PROBLEM = "application/problem+json"


@get("/_boom")
async def boom() -> None:
    raise RuntimeError("a bug in a handler")


@pytest.fixture(scope="module")
async def down() -> AsyncIterator[Client]:
    settings = load_settings({"DATABASE_URL": f"postgresql://app@127.0.0.1:{closed_port()}/app"})
    app = create_app(settings)
    app.register(boom)
    async with AsyncTestClient(app=app) as client:
        yield client


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


ORDER = {
    "external_id": "x-1",
    "customer_email": "a@example.com",
    "status": "pending",
    "total_amount": "1.00",
    "currency": "EUR",
}


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/customers?limit=0", None, 400),
        ("GET", "/customers?limit=501", None, 400),
        ("GET", "/customers?cursor=not-ours", None, 400),
        ("GET", "/customers/not-an-email", None, 400),
        ("GET", "/customers/a%00b@example.com", None, 400),
        ("GET", "/customers/a@example.com/orders?limit=0", None, 400),
        ("GET", "/customers/not-an-email/orders", None, 400),
        ("PUT", "/customers/not-an-email", {"name": "N"}, 400),
        ("PUT", "/customers/a@example.com", {"name": ""}, 400),
        ("PUT", "/customers/a@example.com", {"name": "N", "extra": 1}, 400),
        ("POST", "/customers/batch", {"customers": []}, 400),
        ("POST", "/customers/batch", {"customers": [{"email": "x", "name": "N"}]}, 400),
        (
            "POST",
            "/customers/batch",
            {"customers": [{"email": "a@example.com", "name": "N"}] * (MAX_BATCH + 1)},
            413,
        ),
        ("POST", "/orders", {**ORDER, "total_amount": "1.001"}, 400),
        ("POST", "/orders", {**ORDER, "currency": "EU"}, 400),
        ("POST", "/orders", {**ORDER, "status": "bogus"}, 400),
        ("POST", "/orders", {"external_id": "x"}, 400),
        ("GET", "/orders/0", None, 404),
        ("GET", "/orders/99999999999999999999", None, 404),
        ("PATCH", "/orders/0", {"status": "completed"}, 404),
        ("PATCH", "/orders/1", {"status": "bogus"}, 400),
        ("GET", "/analytics/no-such-report", None, 404),
        ("GET", "/analytics/daily-revenue?days=0", None, 422),
        ("GET", "/analytics/top-customers?since=2024-01-01&email_prefix=%00", None, 422),
    ],
)
async def test_invalid_requests_are_refused_before_the_database(
    down: Client, method: str, path: str, body: Any, status: int
) -> None:
    response = await down.request(method, path, json=body)
    assert_problem(response, status)
    assert "X-DB-Node" not in response.headers  # no node was chosen for it


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/customers?limit=1", None),
        ("GET", "/customers/a@example.com", None),
        ("PUT", "/customers/a@example.com", {"name": "N"}),
        ("POST", "/orders", ORDER),
        ("GET", "/analytics/daily-revenue?days=1", None),
    ],
)
async def test_valid_requests_do_reach_the_database(
    down: Client, method: str, path: str, body: Any
) -> None:
    """The control: the same routes with valid input do reach the (down) database."""
    response = await down.request(method, path, json=body)
    assert_problem(response, 503)


async def test_a_body_past_the_limit_is_413_and_the_largest_batch_fits(down: Client) -> None:
    oversized = b'{"name": "' + b"n" * MAX_BODY_BYTES + b'"}'
    response = await down.put(
        "/customers/a@example.com",
        content=oversized,
        headers={"content-type": "application/json"},
    )
    assert assert_problem(response, 413)["type"].endswith("body-too-large")
    # The largest request the API takes: a full batch at the longest email and name.
    domain = "d" * 180 + ".example.com"
    largest = {
        "customers": [
            {"email": f"{i:064d}@{domain}"[:254], "name": "\u00e9" * 200} for i in range(MAX_BATCH)
        ]
    }
    encoded = msgspec.json.encode(largest)
    assert len(encoded) < MAX_BODY_BYTES
    response = await down.post(
        "/customers/batch", content=encoded, headers={"content-type": "application/json"}
    )
    assert_problem(response, 503)  # accepted and valid: only the database is missing


async def test_json_nested_ten_thousand_levels_is_400(down: Client) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    for path in ("/customers/a@example.com", "/customers/batch"):
        method = "PUT" if path.endswith(".com") else "POST"
        response = await down.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
        assert_problem(response, 400)


async def test_every_response_carries_a_request_id(down: Client) -> None:
    given = "client-chosen_id.42"
    for method, path in [
        ("GET", "/health/live"),
        ("GET", "/no/such/path"),
        ("DELETE", "/customers/a@example.com"),
        ("GET", "/customers?limit=0"),
        ("GET", "/customers?limit=1"),
    ]:
        response = await down.request(method, path, headers={"X-Request-ID": given})
        assert response.headers["X-Request-ID"] == given, (method, path)
        generated = (await down.request(method, path)).headers["X-Request-ID"]
        assert len(generated) == 32
        assert generated != given
    for insane in ["", "a b", "x" * 129, "id;drop", "\u00e9t\u00e9"]:
        response = await down.get("/health/live", headers=[(b"x-request-id", insane.encode())])
        assert response.headers["X-Request-ID"] != insane
        assert len(response.headers["X-Request-ID"]) == 32


async def test_a_5xx_is_logged_with_its_traceback_and_request_id(
    down: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="switchyard.http")
    response = await down.get("/_boom", headers={"X-Request-ID": "trace-me-500"})
    assert_problem(response, 500)
    assert response.headers["X-Request-ID"] == "trace-me-500"
    response = await down.get("/customers?limit=1", headers={"X-Request-ID": "trace-me-503"})
    assert_problem(response, 503)
    records = {
        rid: [r for r in caplog.records if rid in r.getMessage()]
        for rid in ("trace-me-500", "trace-me-503")
    }
    for rid, found in records.items():
        assert len(found) == 1, rid
        assert found[0].exc_info is not None, rid
    assert "a bug in a handler" in caplog.text
    assert "RuntimeError" in caplog.text
    # A 4xx is the client's business: not logged as an error.
    await down.get("/customers?limit=0", headers={"X-Request-ID": "trace-me-400"})
    assert "trace-me-400" not in caplog.text


def get_routes(app: Litestar) -> list[str]:
    return sorted(
        route.path
        for route in app.routes
        if "GET" in getattr(route, "methods", ()) and not route.path.startswith("/schema")
    )


def concrete(path: str, email: str) -> str:
    return (
        path.replace("{email:str}", email)
        .replace("{order_id:int}", "1")
        .replace("{name:str}", "daily-revenue")
    )


async def test_every_get_route_answers_head_like_the_get(client: Client) -> None:
    email = unique_email("head")
    assert (await client.put(f"/customers/{email}", json={"name": "Head"})).status_code == 201
    app = client.app
    assert isinstance(app, Litestar)
    paths = get_routes(app)
    assert "/customers/{email:str}" in paths
    assert "/health/ready" in paths
    for template in paths:
        if "{" in template.replace("{email:str}", "").replace("{order_id:int}", "").replace(
            "{name:str}", ""
        ):
            continue  # a path parameter this test cannot fill
        path = concrete(template, email)
        got = await client.get(path, headers={"X-DB-Consistency": "strong"})
        head = await client.head(path, headers={"X-DB-Consistency": "strong"})
        assert head.status_code == got.status_code != 405, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == got.headers.get("content-type"), path
    got = await client.get(f"/customers/{email}", headers={"X-DB-Consistency": "strong"})
    head = await client.head(f"/customers/{email}", headers={"X-DB-Consistency": "strong"})
    assert got.status_code == head.status_code == 200
    assert head.headers["content-length"] == got.headers["content-length"] != "0"
    assert head.headers["X-DB-Node"] == "primary"


@pytest.mark.parametrize(
    ("report", "query"),
    [
        ("top-customers", "since=2024-01-01&email_prefix=%00"),
        ("top-customers", "since=2024-01-01&currency=E%00R"),
        ("daily-revenue", "status=%00"),
        ("order-status-breakdown", "from=0001-01-01T00:00:00%2B01:00&to=2024-01-01T00:00:00Z"),
        ("order-status-breakdown", "from=2024-01-01T00:00:00Z&to=9999-12-31T23:59:59-01:00"),
        ("revenue-by-currency", "from=0001-01-01T00:00:00%2B00:01&to=2024-01-01T00:00:00Z"),
    ],
)
async def test_report_params_the_database_cannot_hold_are_422(
    client: Client, report: str, query: str
) -> None:
    response = await client.get(f"/analytics/{report}?{query}")
    body = assert_problem(response, 422)
    assert body["field"] in query


async def test_the_widest_timestamps_utc_holds_run(client: Client) -> None:
    query = "from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59.999999Z"
    response = await client.get(f"/analytics/order-status-breakdown?{query}")
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
async def sticky_client(settings: Settings) -> AsyncIterator[Client]:
    database = msgspec.structs.replace(
        settings.database, sticky_window=5.0, sticky_secret=uuid.uuid4().hex
    )
    app = create_app(msgspec.structs.replace(settings, database=database))
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.mark.parametrize(
    "cookie",
    [
        b"switchyard_lsn=\xe9",
        b"switchyard_lsn=0/1~9999999999~\xe9\xe9",
        b"switchyard_lsn=0/1~9999999999~00000000000000000000000000000000",
        b"switchyard_lsn=~~",
        b"switchyard_lsn=FFFFFFFF/FFFFFFFF~1~x",
        b"switchyard_lsn=" + b"~" * 4000,
    ],
)
async def test_a_forged_sticky_cookie_is_ignored(sticky_client: Client, cookie: bytes) -> None:
    email = unique_email("nobody")
    response = await sticky_client.get(f"/customers/{email}", headers=[(b"cookie", cookie)])
    assert_problem(response, 404)


async def test_allow_lists_every_method_of_the_route_and_head(down: Client) -> None:
    options = await down.options("/orders/1")
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, PATCH"
    refused = await down.delete("/customers/a@example.com")
    assert_problem(refused, 405)
    assert refused.headers["allow"] == "GET, HEAD, OPTIONS, PUT"
    assert (await down.options("/customers/batch")).headers["allow"] == "OPTIONS, POST"
