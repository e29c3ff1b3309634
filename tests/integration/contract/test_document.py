"""The OpenAPI document says what the service answers (issue 15's document part).

The document needs no database: the app here points at a closed port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import metadata
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import load_settings
from tests.integration.helpers import Client, closed_port

PROBLEM = "application/problem+json"
METHODS = ("get", "put", "post", "patch", "head")


@pytest.fixture(scope="module")
async def document() -> AsyncIterator[dict[str, Any]]:
    settings = load_settings({"DATABASE_URL": f"postgresql://app@127.0.0.1:{closed_port()}/app"})
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield await fetch(client)


async def fetch(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_title_and_version_come_from_the_package(document: dict[str, Any]) -> None:
    assert document["info"]["title"] == "Switchyard"
    assert document["info"]["version"] == metadata.version("switchyard")
    assert "X-DB-Min-LSN" in document["info"]["description"]


def test_every_error_status_is_a_documented_problem(document: dict[str, Any]) -> None:
    found = operations(document)
    assert len(found) > 20
    for method, path, operation in found:
        responses = operation["responses"]
        assert "500" in responses, (method, path)
        for code, response in responses.items():
            assert "X-Request-ID" in response["headers"], (method, path, code)
            if int(code) >= 400 and method != "head":
                assert list(response["content"]) == [PROBLEM], (method, path, code)
                assert response["content"][PROBLEM]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
        if path.startswith(("/customers", "/orders", "/analytics/")):
            assert {"400", "503", "504"} <= set(responses), (method, path)
            assert responses["503"]["headers"]["Retry-After"]["required"] is True
            headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            assert headers == {"X-DB-Consistency", "X-DB-Min-LSN", "X-DB-Max-Staleness"}
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}


def test_known_statuses_per_route(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert {"200", "201", "409", "413"} <= set(paths["/customers/{email}"]["put"]["responses"])
    assert {"200", "201", "409", "422"} <= set(paths["/orders"]["post"]["responses"])
    assert "404" in paths["/orders/{order_id}"]["get"]["responses"]
    assert "503" in paths["/health/ready"]["get"]["responses"]
    assert "413" in paths["/customers/batch"]["post"]["responses"]


def test_request_schemas_refuse_what_the_service_refuses(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("CustomerIn", "CustomerBatchItem", "OrderIn", "OrderStatusIn"):
        assert schemas[name]["additionalProperties"] is False, name
    order = schemas["OrderIn"]["properties"]
    assert order["currency"]["pattern"] == "^[A-Za-z]{3}$"
    assert "pattern" in order["customer_email"]
    amounts = {alternative["type"] for alternative in order["total_amount"]["oneOf"]}
    assert amounts == {"string", "number"}
    report = document["paths"]["/analytics/top-customers"]["get"]
    limit = next(p for p in report["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)
    assert "/analytics/{name}" not in document["paths"]


def test_writes_link_to_their_reads_with_the_lsn(document: dict[str, Any]) -> None:
    paths = document["paths"]
    targets = {
        ("/customers/{email}", "put"): "GetCustomer",
        ("/orders", "post"): "GetOrder",
        ("/orders/{order_id}", "patch"): "GetOrder",
    }
    read_ids = {
        "GetCustomer": paths["/customers/{email}"]["get"]["operationId"],
        "GetOrder": paths["/orders/{order_id}"]["get"]["operationId"],
    }
    for (path, method), link in targets.items():
        for code, response in paths[path][method]["responses"].items():
            if code.startswith("2"):
                found = response["links"][link]
                assert found["operationId"] == read_ids[link]
                assert found["parameters"]["header.X-DB-Min-LSN"] == "$response.header.X-DB-LSN"
                assert "X-DB-LSN" in response["headers"]


def test_every_get_has_its_head(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        if "get" in item:
            assert "head" in item, path
            assert all("content" not in r for r in item["head"]["responses"].values())
