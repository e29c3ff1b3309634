"""Validation before the database: a request's input is checked before its session opens.

Litestar resolves a handler's dependencies first and validates the handler's own parameters
after (`HTTPRoute._get_response_data`: `resolve_dependencies`, then the signature model), so a
`?limit=0` would check out a connection, or answer 503 with the database down, before its 400.
Dependencies run in order of what they depend on, so here `db` depends on `valid`: the
handler's input, parsed by a dependency of its own (`dependencies={VALID: Provide(...)}`).
A request that fails there never reaches a pool. Controllers take `DEPENDENCIES`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from service.db import DbSession, routed_session

VALID = "valid"


async def _db_after_validation(
    request: Request[Any, Any, Any], valid: NamedDependency[Any]
) -> AsyncGenerator[DbSession, None]:
    async with routed_session(request) as db:
        yield db


async def _db_after_body_validation(
    request: Request[Any, Any, Any], valid: NamedDependency[Any], data: JSONBody[Any] = None
) -> AsyncGenerator[DbSession, None]:
    # `data` unused: Litestar 2 builds a route's kwargs model with a KeyError when a
    # dependency of a dependency reads the body and the one in between declares no `data`.
    async with routed_session(request) as db:
        yield db


def _nothing_to_validate() -> None:
    return None


DEPENDENCIES = {
    "db": Provide(_db_after_validation),
    VALID: Provide(_nothing_to_validate, sync_to_thread=False),
}


def validator(parse: Any, *, body: bool = False) -> dict[str, Provide]:
    """A handler's `dependencies`: `parse` (a plain function of path, query or, with `body`,
    `data`) is its input check, run before the database is touched; its result is the
    handler's `valid`. A handler with a body declares `data` too: the OpenAPI document takes
    the body's schema from the handler (else from the first dependency, here `db`'s `Any`)."""
    dependencies = {VALID: Provide(parse, sync_to_thread=False)}
    if body:
        dependencies["db"] = Provide(_db_after_body_validation)
    return dependencies
