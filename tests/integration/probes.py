"""Test-only routes that look at the routed session from the database's side."""

from __future__ import annotations

from collections import Counter
from typing import Any

from litestar import Controller, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from sqlalchemy import Float, bindparam, func, select, text

from service.api.customers import _SELECT_BY_EMAIL
from service.db import Db, ReadQuery
from tests.integration.helpers import SERVER_IDENTITY_SQL

_SLEEP = ReadQuery(select(func.pg_sleep(bindparam("s", type_=Float))))


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

    @get("/strong-route", opt={"db_intent": "strong_read"})
    async def strong_route(self, db: Db) -> dict[str, Any]:
        """A GET whose route asks for a strong read: no header, only the route option."""
        return await _where(db)

    @get("/write-route", opt={"db_intent": "write"})
    async def write_route(self, db: Db) -> dict[str, Any]:
        """A GET whose route says it writes: the primary, in a transaction that may write."""
        return await _where(db)

    @get("/plain-route")
    async def plain_route(self, db: Db) -> dict[str, Any]:
        return await _where(db)

    @get("/sleep/{seconds:float}")
    async def sleep_in_read(self, seconds: FromPath[float], db: Db) -> None:
        await db.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})

    @get("/sleep-compiled/{seconds:float}")
    async def sleep_in_compiled_read(self, seconds: FromPath[float], db: Db) -> None:
        """A compiled read: on a replica's autocommit connection it runs on the driver."""
        await db.fetch_one(_SLEEP, {"s": seconds})

    @post("/sleep/{seconds:float}", status_code=200)
    async def sleep_in_write(self, seconds: FromPath[float], db: Db) -> None:
        await db.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})

    @get("/die/{key:str}")
    async def die_in_read(self, key: FromPath[str], db: Db, state: State) -> None:
        """Count the attempt, then lose the connection: a read the service may re-run."""
        _count(state, key)
        await db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    @get("/die-on/{node:str}")
    async def die_on(self, node: FromPath[str], db: Db) -> dict[str, Any]:
        """Lose the connection when served by `node`; answer normally anywhere else."""
        if db.node.name == node:
            await db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return await _where(db)

    @get("/die-in-write-route/{key:str}", opt={"db_intent": "write"})
    async def die_in_write_route(self, key: FromPath[str], db: Db, state: State) -> None:
        _count(state, key)
        await db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    @post("/die/{email:str}")
    async def die_in_write(self, email: FromPath[str], db: Db, state: State) -> None:
        """Insert a row, count the attempt, then lose the connection before COMMIT."""
        _count(state, email)
        await db.execute(
            text("INSERT INTO customers (email, name) VALUES (:email, 'doomed')"), {"email": email}
        )
        await db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))


def _count(state: State, key: str) -> None:
    # Per app (its State), so two apps in one run never share counts.
    attempts: Counter[str] = state.setdefault("probe_attempts", Counter())
    attempts[key] += 1


def attempts(state: State, key: str) -> int:
    counted: Counter[str] = state.get("probe_attempts", Counter())
    return counted[key]


async def _where(db: Db) -> dict[str, Any]:
    server = (
        await db.execute(
            text(
                "SELECT pg_is_in_recovery() AS standby, "
                "current_setting('transaction_read_only') AS read_only"
            )
        )
    ).one()
    return {"node": db.node.name, "standby": server.standby, "read_only": server.read_only}
