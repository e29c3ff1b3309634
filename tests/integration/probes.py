"""Test-only routes that look at the routed session from the database's side."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath
from sqlalchemy import text

from service.api.customers import _SELECT_BY_EMAIL
from service.db import Db
from tests.integration.helpers import SERVER_IDENTITY_SQL


class ProbeController(Controller):
    path = "/_probe"

    @get("/customers/{email:str}")
    async def customer_and_server(self, email: FromPath[str], db: Db) -> dict[str, Any]:
        """The customer read exactly as the API reads it, plus what the serving server is."""
        row = (await db.execute(_SELECT_BY_EMAIL, {"email": email})).first()
        standby = (await db.execute(text("SELECT pg_is_in_recovery()"))).scalar_one()
        identity = (await db.execute(text(SERVER_IDENTITY_SQL))).scalar_one()
        return {
            "found": row is not None,
            "standby": standby,
            "server": identity,
            "node": db.node.name,
        }

    @get("/write-in-read/{email:str}")
    async def write_in_read(self, email: FromPath[str], db: Db) -> None:
        await db.execute(
            text("INSERT INTO customers (email, name) VALUES (:email, 'sneaky')"), {"email": email}
        )

    @post("/deferred/{key:int}")
    async def violate_at_commit(self, key: FromPath[int], db: Db) -> None:
        """Two rows with one key under a DEFERRED unique constraint: only COMMIT can refuse."""
        insert = text("INSERT INTO probe_deferred (k) VALUES (:k)")
        await db.execute(insert, {"k": key})
        await db.execute(insert, {"k": key})
