"""The raw-stack peer for bench/read_path.py: Litestar + one asyncpg pool, nothing else.

Same query, same JSON shape (a msgspec Struct) and same uvicorn settings as
`switchyard run` (one worker, uvicorn's default loop/http, so uvloop/httptools when
installed, access log off), so the ratio to it is the cost of the routing layer alone.

    python bench/reference_app.py --port 8001 --dsn postgresql://user@127.0.0.1:5433/db
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import create_async_engine

_SELECT = "SELECT id, email, name, created_at, updated_at FROM customers WHERE email = $1"
POOL_SIZE = 10  # the same as the service's default pool_size


class Customer(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime


class EnginePool:
    """One plain SQLAlchemy engine (its QueuePool of asyncpg connections, no router): a
    pooled connection's `fetchrow`, as the service's replica fast path does."""

    def __init__(self, dsn: str) -> None:
        self.engine = create_async_engine(
            dsn.replace("postgresql://", "postgresql+asyncpg://", 1),
            pool_size=POOL_SIZE,
            max_overflow=0,
            isolation_level="AUTOCOMMIT",
        )

    async def fetchrow(self, query: str, *args: object) -> Any:
        async with self.engine.connect() as conn:
            assert conn.sync_connection is not None
            driver: Any = conn.sync_connection.connection.driver_connection
            return await driver.fetchrow(query, *args)

    async def fetchval(self, query: str) -> Any:
        row = await self.fetchrow(query)
        return row[0]

    async def warm(self) -> None:
        conns = [await self.engine.connect() for _ in range(POOL_SIZE)]
        for conn in conns:
            await conn.close()

    async def close(self) -> None:
        await self.engine.dispose()


def create_app(dsn: str, engine: str = "asyncpg") -> Litestar:
    @asynccontextmanager
    async def pool_lifespan(app: Litestar) -> AsyncIterator[None]:
        if engine == "sqlalchemy":
            pool: Any = EnginePool(dsn)
            await pool.warm()
        else:
            pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    @get("/customers/{email:str}")
    async def get_customer(email: str, state: State) -> Customer:
        row = await state.pool.fetchrow(_SELECT, email.strip().lower())
        if row is None:
            raise NotFoundException(f"customer {email!r}")
        return Customer(
            id=row["id"],
            email=row["email"],
            name=row["name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    @get("/health/ready")
    async def ready(state: State) -> dict[str, bool]:
        return {"ready": await state.pool.fetchval("SELECT true")}

    return Litestar(route_handlers=[get_customer, ready], lifespan=[pool_lifespan])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True, help="libpq URL of the replica to read")
    parser.add_argument(
        "--engine",
        choices=["asyncpg", "sqlalchemy"],
        default="asyncpg",
        help="a bare asyncpg pool, or one plain SQLAlchemy engine's pool",
    )
    args = parser.parse_args()
    # Mirrors service/cli.py `_run`: only the app and its port differ.
    uvicorn.run(
        create_app(args.dsn, args.engine),
        host="127.0.0.1",
        port=args.port,
        workers=1,
        log_level="info",
        access_log=False,
    )


if __name__ == "__main__":
    main()
