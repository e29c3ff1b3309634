"""What a request's own failure does, on a whole topology: the node it failed on is banned and
a read is re-run once elsewhere; a write is never re-run; statement deadlines are the
settings', a 504 when the server cancels the statement (direct mode) and a 503 when only the
client's deadline applies. Each test has a service of its own, so its bans never reach the
session-wide one."""

from __future__ import annotations

import asyncio

from litestar import Litestar

from service.cluster import Topology
from service.settings import Settings
from tests.integration.conftest import MODE, serving
from tests.integration.helpers import Client, primary_fetch, unique_email
from tests.integration.probes import attempts

REPLICAS = ("replica-1", "replica-2")


def app_of(client: Client) -> Litestar:
    app = client.app
    assert isinstance(app, Litestar)
    return app


async def test_a_node_fault_under_a_read_bans_that_replica_and_the_read_is_rerun(
    own_client: Client,
) -> None:
    responses = [await own_client.get("/_probe/die-on/replica-1") for _ in range(2)]
    # Round robin sent one of the two to replica-1, which lost its connection there.
    assert [(r.status_code, r.headers["X-DB-Node"]) for r in responses] == [
        (200, "replica-2"),
        (200, "replica-2"),
    ], [r.text for r in responses]
    states = {n["name"]: n["state"] for n in (await own_client.get("/health/db")).json()["nodes"]}
    assert states == {"primary": "up", "replica-1": "banned", "replica-2": "up"}


async def test_a_read_is_rerun_once_and_a_write_never(
    own_client: Client, cluster: Topology
) -> None:
    state = app_of(own_client).state
    # The control: a read whose connection dies runs twice (once per replica), then 503.
    read = await own_client.get("/_probe/die/read")
    assert read.status_code == 503, read.text
    assert attempts(state, "read") == 2

    email = unique_email("never-twice").lower()
    write = await own_client.post(f"/_probe/die/{email}")
    assert write.status_code == 503, write.text
    assert write.headers["X-DB-Node"] == "primary"
    assert attempts(state, email) == 1
    rows = await primary_fetch(cluster, "SELECT count(*) FROM customers WHERE email = $1", email)
    assert rows[0][0] == 0  # the transaction died with its connection: nothing half-written

    # A GET whose route declares a write is a write: not re-run either.
    routed = await own_client.get("/_probe/die-in-write-route/get-write")
    assert routed.status_code == 503, routed.text
    assert attempts(state, "get-write") == 1


async def test_statement_deadlines_are_the_settings_and_a_slow_statement_is_a_504(
    settings: Settings,
) -> None:
    """The server cancels a statement shortly before the client-side deadline (the connection
    kept): a 504 after about the intent's deadline, reads and writes each their own."""
    read_deadline, write_deadline = 0.6, 1.5
    defaults = (settings.database.read_statement_timeout, settings.database.write_statement_timeout)
    assert defaults == (2.0, 5.0), "the defaults the README and DESIGN promise"
    changed = {
        "read_statement_timeout": read_deadline,
        "write_statement_timeout": write_deadline,
    }
    async with serving(settings, database=changed) as client:
        loop = asyncio.get_running_loop()
        started = loop.time()
        read = await client.get("/_probe/sleep/1.0")
        took = loop.time() - started
        assert read.headers["content-type"] == "application/problem+json"
        if MODE == "direct":
            assert read.status_code == 504, read.text
            assert read.json()["type"].endswith("statement-timeout")
            assert read_deadline / 2 <= took < read_deadline + 0.5, took
        else:
            # Reported to the lead: behind PgBouncer no server-side statement_timeout applies
            # here, so only the client deadline ends it (a 503, and the read is re-run once on
            # the other replica) where the README promises a 504.
            assert read.status_code == 503, read.text
            assert 2 * read_deadline <= took < 2 * read_deadline + 0.5, took

        # A compiled read, which a replica runs on the driver (no SQLAlchemy), alike.
        started = loop.time()
        compiled = await client.get("/_probe/sleep-compiled/1.0")
        took = loop.time() - started
        assert compiled.status_code == (504 if MODE == "direct" else 503), compiled.text
        assert compiled.headers["content-type"] == "application/problem+json"
        if MODE == "direct":
            assert compiled.json()["type"].endswith("statement-timeout")
            assert read_deadline / 2 <= took < read_deadline + 0.5, took

        # The same statement fits a write's deadline ...
        assert (await client.post("/_probe/sleep/1.0")).status_code == 200
        # ... and a longer one is cut at it (behind PgBouncer by the client deadline: a 503).
        started = loop.time()
        write = await client.post("/_probe/sleep/3.0")
        took = loop.time() - started
        assert write.status_code == (504 if MODE == "direct" else 503), write.text
        assert write_deadline / 2 <= took < write_deadline + 0.5, took
