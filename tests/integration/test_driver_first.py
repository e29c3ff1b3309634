"""A replica read that stays on the driver: its pooled connection comes back, and clean.

A driver-first session (a pooled replica connection in autocommit) hands its connection
back to the pool without SQLAlchemy's Connection and without a greenlet; these tests prove
that the very same server connection is reused, that one left inside a transaction is
dropped rather than pooled (else the next read would see that transaction's snapshot), and
that SQLAlchemy's connection, made on demand, is the same server connection.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
import pytest
from sqlalchemy import text

from service.db import Intent
from service.db.router import DatabaseRouter
from service.db.selection import Demand
from service.db.session import DbSession
from service.settings import Settings
from tests.integration.helpers import one_connection

# The client-side pool is what is under test: the direct pass has one on every node.
pytestmark = pytest.mark.mode_independent

_PID = "SELECT pg_backend_pid()"


async def _read_on_driver(router: DatabaseRouter) -> tuple[int, bool]:
    async with router.session(Demand(Intent.READ)) as db:
        assert db.driver_only is not None, "premise: a driver-first session"
        driver = _driver(db)
        return int(await driver.fetchval(_PID)), bool(driver.is_in_transaction())


def _driver(db: DbSession) -> Any:
    return cast(Any, db.driver)


async def test_a_driver_first_read_gives_back_its_connection_clean(settings: Settings) -> None:
    database = msgspec.structs.replace(
        settings.database, replicas=(one_connection(settings.database.replicas[0]),)
    )
    router = DatabaseRouter(database, settings.health)
    await router.start()
    try:
        first = await _read_on_driver(router)
        assert first[1] is False
        assert await _read_on_driver(router) == first  # the same connection, pooled again

        # Left inside a transaction on the driver: dropped, and the next read opens anew.
        async with router.session(Demand(Intent.READ)) as db:
            await _driver(db).execute("BEGIN")
        fresh = await _read_on_driver(router)
        assert fresh[0] != first[0]
        assert fresh[1] is False

        # SQLAlchemy's connection, asked for, is the same server connection, and its
        # release (through SQLAlchemy, in a greenlet) pools it as well.
        async with router.session(Demand(Intent.READ)) as db:
            on_driver = await _driver(db).fetchval(_PID)
            through_sqlalchemy = (await db.execute(text(_PID))).scalar_one()
            assert db.driver_only is None
        assert on_driver == through_sqlalchemy == fresh[0]
        assert await _read_on_driver(router) == fresh
    finally:
        await router.stop()
