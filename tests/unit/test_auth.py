"""Tokens, scope rules and the 401/403 problems, on a database-free app with the same paths
as the service (the real routes are exercised in tests/integration/test_auth.py)."""

from __future__ import annotations

import hashlib
import logging
import typing
from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, get, patch, post, put
from litestar.params import FromPath
from litestar.testing import AsyncTestClient

from service.auth import SCOPES, AuthPlugin, ScopeRules, TokenTable, new_token, token_digest
from service.auth.binding import refuse_reason
from service.auth.middleware import bearer_token
from service.problems import problem_details_plugin
from service.settings import ScopeName

READER, WRITER, ADMIN = "sy_reader-token", "sy_writer-token", "sy_admin-token"


def table() -> TokenTable:
    return TokenTable(
        [
            ("reader", token_digest(READER), ["read"]),
            ("writer", token_digest(WRITER), ["read", "write"]),
            ("ops", token_digest(ADMIN), ["admin", "analytics"]),
        ]
    )


def test_settings_and_rules_name_the_same_four_scopes() -> None:
    assert typing.get_args(ScopeName) == SCOPES


def test_a_token_is_identified_by_its_digest_only() -> None:
    tokens = table()
    reader = tokens.identify(READER)
    assert reader is not None
    assert (reader.name, reader.scopes) == ("reader", frozenset({"read"}))
    assert tokens.identify(READER + "x") is None
    assert tokens.identify(token_digest(READER)) is None  # the digest is not a token
    assert tokens.identify("x" * 10_000) is None


def test_digests_stay_out_of_reprs() -> None:
    tokens = table()
    shown = repr(tokens) + repr(tokens._entries) + repr(tokens.identify(READER))
    assert "reader" in shown
    assert token_digest(READER) not in shown
    assert hashlib.sha256(READER.encode()).digest().hex() not in shown


def test_minted_tokens_are_long_random_and_prefixed() -> None:
    a, b = new_token(), new_token()
    assert a != b
    assert a.startswith("sy_")
    assert len(a) >= 40


@pytest.mark.parametrize(
    ("template", "method", "needed"),
    [
        ("/health/live", "GET", None),
        ("/health/ready", "GET", None),
        ("/schema", "GET", None),
        ("/schema/openapi.json", "GET", None),
        ("/customers/{email:str}", "OPTIONS", None),
        ("/health/db", "GET", "admin"),
        ("/metrics", "GET", "admin"),
        ("/analytics", "GET", "analytics"),
        ("/analytics/{name:str}", "GET", "analytics"),
        ("/analytics/{name:str}", "HEAD", "analytics"),
        ("/customers/{email:str}", "GET", "read"),
        ("/customers/{email:str}", "HEAD", "read"),
        ("/customers/{email:str}/orders", "GET", "read"),
        ("/orders/{order_id:int}", "GET", "read"),
        ("/customers/{email:str}", "PUT", "write"),
        ("/customers/batch", "POST", "write"),
        ("/orders", "POST", "write"),
        ("/orders/{order_id:int}", "PATCH", "write"),
        ("/orders/{order_id:int}", "DELETE", "write"),
        # Near misses get the ordinary rule, not the open or admin one.
        ("/health/livex", "GET", "read"),
        ("/schemas", "GET", "read"),
        ("/analyticsx", "GET", "read"),
    ],
)
def test_scope_rules(template: str, method: str, needed: str | None) -> None:
    assert ScopeRules().required(template, method) == needed


def test_a_moved_openapi_document_stays_open_and_the_old_path_does_not() -> None:
    rules = ScopeRules("/docs/")
    assert rules.required("/docs/openapi.json", "GET") is None
    assert rules.required("/schema/openapi.json", "GET") == "read"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (b"Bearer abc", "abc"),
        (b"bearer   abc  ", "abc"),
        (b"Basic YTpi", None),
        (b"Bearer", None),
        (b"Bearer ", None),
        (b"abc", None),
    ],
)
def test_bearer_header_parsing(header: bytes, token: str | None) -> None:
    assert bearer_token({"headers": [(b"authorization", header)]}) == token  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "host", "refused"),
    [
        ("local", "127.0.0.1", False),
        ("local", "127.0.0.2", False),
        ("local", "localhost", False),
        ("local", "::1", False),
        ("local", "[::1]", False),
        ("local", "0.0.0.0", True),
        ("local", "::", True),
        ("local", "10.1.2.3", True),
        ("local", "example.com", True),
        ("tokens", "0.0.0.0", False),
        ("off", "0.0.0.0", False),
    ],
)
def test_local_mode_serves_on_loopback_only(mode: str, host: str, refused: bool) -> None:
    reason = refuse_reason(mode, host)
    assert (reason is not None) == refused
    if reason:
        assert "auth.mode" in reason


# ---- the middleware in an app ------------------------------------------------------------


@get("/customers/{email:str}")
async def get_customer(email: FromPath[str]) -> dict[str, str]:
    return {"email": email}


@put("/customers/{email:str}")
async def put_customer(email: FromPath[str]) -> dict[str, str]:
    return {"email": email}


@post("/orders")
async def post_order() -> dict[str, str]:
    return {}


@patch("/orders/{order_id:int}")
async def patch_order(order_id: FromPath[int]) -> dict[str, int]:
    return {"id": order_id}


@get("/health/db")
async def health_db() -> dict[str, str]:
    return {"nodes": "secret topology"}


@get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/analytics/{name:str}")
async def report(name: FromPath[str]) -> dict[str, str]:
    return {"report": name}


def app(tokens: TokenTable | None) -> Litestar:
    return Litestar(
        [get_customer, put_customer, post_order, patch_order, health_db, live, report],
        plugins=[AuthPlugin(tokens), problem_details_plugin()],
    )


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=app(table())) as test_client:
        yield test_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_no_token_is_a_401_problem_with_a_bearer_challenge(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/customers/a@example.com")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == 'Bearer realm="switchyard"'
    body = response.json()
    assert body["status"] == 401
    assert body["type"].endswith(":unauthorized")
    assert body["detail"].startswith("missing bearer token")


@pytest.mark.parametrize("header", ["Bearer sy_not-a-token", f"Bearer {READER}x", "Basic cjpy"])
async def test_a_wrong_token_is_a_401_that_says_only_missing_or_unknown(
    client: AsyncTestClient[Litestar], header: str
) -> None:
    response = await client.get("/customers/a@example.com", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    detail = response.json()["detail"]
    assert detail.split(" bearer token")[0] in ("missing", "unknown")
    assert READER not in response.text


@pytest.mark.parametrize(
    ("method", "path", "token", "status", "scope"),
    [
        ("GET", "/customers/a@example.com", READER, 200, None),
        ("GET", "/customers/a@example.com", ADMIN, 403, "read"),
        ("PUT", "/customers/a@example.com", READER, 403, "write"),
        ("PUT", "/customers/a@example.com", WRITER, 200, None),
        ("POST", "/orders", READER, 403, "write"),
        ("POST", "/orders", WRITER, 201, None),
        ("PATCH", "/orders/1", READER, 403, "write"),
        ("PATCH", "/orders/1", WRITER, 200, None),
        ("GET", "/health/db", WRITER, 403, "admin"),
        ("GET", "/health/db", ADMIN, 200, None),
        ("GET", "/health/db/", WRITER, 403, "admin"),  # the raw path cannot dodge the rule
        ("GET", "/analytics/x", READER, 403, "analytics"),
        ("GET", "/analytics/x", ADMIN, 200, None),
    ],
)
async def test_each_scope_against_its_opposite(
    client: AsyncTestClient[Litestar],
    method: str,
    path: str,
    token: str,
    status: int,
    scope: str | None,
) -> None:
    response = await client.request(method, path, headers=bearer(token))
    assert response.status_code == status, response.text
    if scope is not None:
        body = response.json()
        assert body["scope"] == scope
        assert body["detail"] == f"the token lacks scope {scope!r}"
        assert f'scope="{scope}"' in response.headers["www-authenticate"]


async def test_open_paths_need_no_token(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/schema/openapi.json")).status_code == 200
    # ...and a garbage token there is ignored, not a 401.
    assert (await client.get("/health/live", headers=bearer("junk"))).status_code == 200


async def test_openapi_documents_the_scheme_and_each_operations_scope(
    client: AsyncTestClient[Litestar],
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    assert document["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    paths = document["paths"]
    assert paths["/customers/{email}"]["get"]["security"] == [{"BearerToken": ["read"]}]
    assert paths["/customers/{email}"]["put"]["security"] == [{"BearerToken": ["write"]}]
    assert paths["/health/db"]["get"]["security"] == [{"BearerToken": ["admin"]}]
    assert paths["/analytics/{name}"]["get"]["security"] == [{"BearerToken": ["analytics"]}]
    assert "security" not in paths["/health/live"]["get"]
    refusals = paths["/customers/{email}"]["put"]["responses"]
    assert {"401", "403"} <= set(refusals)
    assert "application/problem+json" in refusals["403"]["content"]
    assert "401" not in paths["/health/live"]["get"]["responses"]


async def test_no_token_or_digest_reaches_the_logs(
    client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for token in (READER, WRITER, "sy_unknown"):
        await client.put("/customers/a@example.com", headers=bearer(token))
    logged = caplog.text
    for token in (READER, WRITER, "sy_unknown"):
        assert token not in logged
        assert token_digest(token) not in logged


async def test_without_a_token_table_nothing_is_checked_or_documented() -> None:
    async with AsyncTestClient(app=app(None)) as plain:
        assert (await plain.put("/customers/a@example.com")).status_code == 200
        assert (await plain.get("/health/db")).status_code == 200
        document = (await plain.get("/schema/openapi.json")).json()
        assert "securitySchemes" not in document.get("components", {})
        assert "security" not in document["paths"]["/health/db"]["get"]
