"""The OpenAPI document as the client contract: every status, header and link a route has.

Litestar documents what a handler's signature says: its success body, the parameters it or its
dependencies read, and a generic 400. What the service also answers (problem responses from the
routing core and from validation, 413 past the body limit, 503 with `Retry-After`), the `X-DB-*`
headers the core reads and writes, what the bodies refuse (unknown fields, emails, currencies,
amounts), one operation per report with its own parameters, HEAD on every GET route, and the
links that carry a write's `X-DB-LSN` into the next read's `X-DB-Min-LSN`: all of that is
added here to the document Litestar builds, once per build, when `/schema/openapi.json` is
served (the JSON render plugin below).
"""

from __future__ import annotations

import copy
from importlib import metadata
from typing import Any

from litestar import Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin

from service.analytics import REPORTS
from service.analytics.params import describe_params
from service.api import contract_schemas as schemas

DESCRIPTION = """\
Customers and orders over one PostgreSQL primary and its streaming replicas, routed per request.

Writes (PUT, POST, PATCH) go to the primary and answer `X-DB-LSN`, the WAL position after their
COMMIT. Reads go to a replica that is up and within the maximum lag, else to the primary.
`X-DB-Consistency: strong` sends a read to the primary; `X-DB-Min-LSN` (a write's `X-DB-LSN`)
sends it to a replica that has replayed that position, else to the primary; `X-DB-Max-Staleness`
bounds how far behind its replica may be. Every response a node served names it in `X-DB-Node`.
Every error is `application/problem+json` (RFC 9457); a database that cannot serve is a 503
with `Retry-After`. The links of each write lead to the reads of what it wrote and carry its
`X-DB-LSN`: a client that follows them reads its own writes.
"""

PROBLEM_MEDIA = "application/problem+json"

# Statuses beyond Litestar's own, per operation. Every operation may also answer 500 (a bug,
# logged under its X-Request-ID); the database's routes 400 (an X-DB-* header), 503 and 504;
# a route with a body 400 and 413.
_EXTRA: dict[tuple[str, str], tuple[int, ...]] = {
    ("put", "/customers/{email}"): (201, 409),
    ("post", "/customers/batch"): (409,),
    ("get", "/customers/{email}"): (404,),
    ("get", "/customers/{email}/orders"): (404,),
    ("post", "/orders"): (200, 409, 422),
    ("get", "/orders/{order_id}"): (404,),
    ("patch", "/orders/{order_id}"): (404, 409),
    ("get", "/health/ready"): (503,),
}
_DATABASE_PREFIXES = ("/customers", "/orders", "/analytics/")
_REASONS = {
    400: "Malformed input or X-DB-* header (the problem names the field)",
    404: "No such row or report",
    409: "Conflict with the stored state",
    413: "Body or batch too large",
    422: "A reference to a row that does not exist, or a bad report parameter",
    500: "An unexpected failure, logged under this response's X-Request-ID",
    503: "No database node can serve the request now; retry after Retry-After seconds",
    504: "A statement or report ran past its timeout and was cancelled",
}

# Reads that follow each write: (operation of the read, its parameters from the write).
_LINKS: dict[tuple[str, str], dict[str, tuple[tuple[str, str], dict[str, str]]]] = {
    ("put", "/customers/{email}"): {
        "GetCustomer": (("get", "/customers/{email}"), {"path.email": "$request.path.email"}),
        "ListCustomerOrders": (
            ("get", "/customers/{email}/orders"),
            {"path.email": "$request.path.email"},
        ),
    },
    ("post", "/orders"): {
        "GetOrder": (("get", "/orders/{order_id}"), {"path.order_id": "$response.body#/id"}),
        "ListCustomerOrders": (
            ("get", "/customers/{email}/orders"),
            {"path.email": "$response.body#/customer_email"},
        ),
    },
    ("patch", "/orders/{order_id}"): {
        "GetOrder": (("get", "/orders/{order_id}"), {"path.order_id": "$request.path.order_id"}),
    },
    ("post", "/customers/batch"): {
        "ListCustomers": (("get", "/customers"), {}),
    },
}
_READ_YOUR_WRITE = {"header.X-DB-Min-LSN": "$response.header.X-DB-LSN"}


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Switchyard",
        version=metadata.version("switchyard"),
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[ScalarRenderPlugin(), ContractJsonRenderPlugin()],
    )


class ContractJsonRenderPlugin(JsonRenderPlugin):
    """`/schema/openapi.json`: Litestar's document with the contract added (see module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._built: tuple[int, dict[str, Any]] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        # Litestar builds the document again when a route is added: that is a new dict.
        if self._built is None or self._built[0] != id(openapi_schema):
            self._built = (id(openapi_schema), contract(openapi_schema))
        return super().render(request, self._built[1])


def contract(litestar_document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(litestar_document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas.COMPONENTS)
    schemas.tighten_bodies(components)
    paths: dict[str, dict[str, Any]] = document["paths"]
    _split_reports(paths)
    operation_ids = {
        (method, path): operation["operationId"]
        for path, item in paths.items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for path, item in paths.items():
        for method, operation in list(item.items()):
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            _document_operation(method, path, operation)
            links = _links_of(method, path, operation_ids)
            for code, response in operation["responses"].items():
                if links and code.startswith("2"):
                    response["links"] = links
        if "get" in item:
            item["head"] = _head_of(item["get"])
    metrics = paths.get("/metrics", {}).get("get")
    if metrics is not None:
        metrics["responses"]["200"]["content"] = {
            "text/plain": {"schema": {"type": "string"}}  # Prometheus' text format
        }
    return document


def _document_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    database = path.startswith(_DATABASE_PREFIXES)
    statuses = {500, *_EXTRA.get((method, path), ())}
    if database:
        statuses |= {400, 503, 504}
        operation.setdefault("parameters", []).extend(schemas.db_request_headers())
    if "requestBody" in operation:
        statuses |= {400, 413}
    if path.startswith("/analytics/"):
        statuses.add(422)  # a report's parameter out of its bounds
    schemas.tighten_parameters(operation.get("parameters", []))
    responses: dict[str, Any] = operation["responses"]
    success = next(code for code in responses if code.startswith("2"))
    for status in sorted(statuses):
        if 200 <= status < 300:
            responses.setdefault(str(status), copy.deepcopy(responses[success]))
        else:
            responses[str(status)] = _problem_response(status)
    for code, response in responses.items():
        headers = response.setdefault("headers", {})
        headers["X-Request-ID"] = schemas.REQUEST_ID_HEADER
        if database:
            headers["X-DB-Node"] = schemas.NODE_HEADER
            if code.startswith("2"):
                if method == "get":
                    headers["X-DB-Staleness"] = schemas.STALENESS_HEADER
                else:
                    headers["X-DB-LSN"] = schemas.LSN_HEADER


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _REASONS[status],
        "content": {PROBLEM_MEDIA: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if status == 503:
        response["headers"] = {"Retry-After": schemas.RETRY_AFTER_HEADER}
    return response


def _links_of(
    method: str, path: str, operation_ids: dict[tuple[str, str], str]
) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "operationId": operation_ids[target],
            "parameters": {**parameters, **_READ_YOUR_WRITE},
            "description": "Read what this write wrote, on a node that has replayed it",
        }
        for name, (target, parameters) in _LINKS.get((method, path), {}).items()
        if target in operation_ids
    }


def _head_of(get: dict[str, Any]) -> dict[str, Any]:
    head = copy.deepcopy(get)
    head["operationId"] = get["operationId"] + "Head"
    head["summary"] = "Like the GET, without the body"
    for response in head["responses"].values():
        response.pop("content", None)
        response.pop("links", None)
    return head


def _split_reports(paths: dict[str, dict[str, Any]]) -> None:
    """`/analytics/{name}` becomes one path per report, with that report's own parameters."""
    template = paths.pop("/analytics/{name}", None)
    if template is None:
        return
    operation = template["get"]
    for report in REPORTS:
        run = copy.deepcopy(operation)
        run["operationId"] = "AnalyticsRun" + "".join(
            word.title() for word in report.name.split("-")
        )
        run["summary"] = report.description
        run["parameters"] = [
            schemas.report_parameter(entry) for entry in describe_params(report.params)
        ]
        paths[f"/analytics/{report.name}"] = {"get": run}
