"""A replica that cannot be reached at start-up must not stop the service or its writes."""

from __future__ import annotations

import uuid

import msgspec
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.settings import NodeSettings, Settings
from tests.integration.helpers import closed_port


async def test_unreachable_replica_at_startup_still_serves_writes(settings: Settings) -> None:
    dead = NodeSettings(
        name="replica-dead",
        url=f"postgresql+asyncpg://switchyard@127.0.0.1:{closed_port()}/switchyard",
        mode=settings.database.primary.mode,
        pool=settings.database.primary.pool,
    )
    database = msgspec.structs.replace(settings.database, replicas=(dead,))
    app = create_app(msgspec.structs.replace(settings, database=database))
    async with AsyncTestClient(app=app) as client:
        email = f"lonely-{uuid.uuid4().hex[:10]}@example.com"
        response = await client.put(f"/customers/{email}", json={"name": "Lonely"})
        assert response.status_code == 201, response.text
        assert response.headers["X-DB-Node"] == "primary"
        # The monitor found the replica down before start-up finished: reads fall back to
        # the primary rather than failing (fallback = "primary" by default).
        read = await client.get(f"/customers/{email}")
        assert read.status_code == 200, read.text
        assert read.headers["X-DB-Node"] == "primary"
        nodes = {n["name"]: n["state"] for n in (await client.get("/health/db")).json()["nodes"]}
        assert nodes["replica-dead"] == "down"
