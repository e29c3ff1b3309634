"""The check's findings at start-up: in the log and in /health/db, without delaying the start."""

from __future__ import annotations

import asyncio
import logging

from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import LocalCluster
from tests.integration.conftest import MODE
from tests.integration.helpers import Client
from tests.integration.isolated.conftest import lab_settings


async def checks_of(client: Client, within: float = 30.0) -> list[dict[str, str]]:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while loop.time() < give_up:
        body = (await client.get("/health/db")).json()
        if body["checks"] or client.app.state.get("check_findings") is not None:
            return list(body["checks"])
        await asyncio.sleep(0.1)
    raise AssertionError("the start-up check never reported")


class Recorder(logging.Handler):
    """Litestar configures logging at start-up (caplog's root handler is gone by then): a
    handler on the check's own logger sees its records whatever the root has."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_healthy_lab_has_no_findings_and_an_apply_delay_is_one(lab: LocalCluster) -> None:
    async with AsyncTestClient(app=create_app(lab_settings(lab.env(MODE)))) as client:
        assert await checks_of(client) == []
    lab.set_apply_delay("replica-2", 30.0)
    recorder = Recorder()
    logging.getLogger("switchyard.check").addHandler(recorder)
    try:
        async with AsyncTestClient(app=create_app(lab_settings(lab.env(MODE)))) as client:
            found = await checks_of(client)
    finally:
        logging.getLogger("switchyard.check").removeHandler(recorder)
    assert [(f["node"], f["code"]) for f in found] == [("replica-2", "replication.apply_delay")]
    assert any("replication.apply_delay" in line for line in recorder.lines)
