"""An old primary that comes back as a standby of the new one (rewound with pg_rewind) is
served again once it has caught up, and never answers older than what was already served."""

from __future__ import annotations

import asyncio

from service.cluster import LocalCluster
from tests.integration.helpers import Client, unique_email
from tests.integration.isolated.conftest import PROBE_INTERVAL
from tests.integration.isolated.nodes import health_of, sql, wait_for


async def test_a_rewound_old_primary_is_readmitted_as_a_replica(
    lab: LocalCluster, client: Client
) -> None:
    await asyncio.to_thread(lab.promote, "replica-1")  # split brain: the old primary runs on
    await wait_for(
        client, lambda h: h["primary"]["state"] == "fenced", 4 * PROBE_INTERVAL, "fenced"
    )
    written = []
    for _ in range(10):
        email = unique_email("rejoin")
        response = await client.put(f"/customers/{email}", json={"name": "r"})
        assert response.headers["x-db-node"] == "replica-1"
        written.append((email, response.headers["x-db-lsn"]))
    # A client that kept writing to the old primary: its row is on the old timeline only.
    await sql(lab, "primary", "INSERT INTO customers (email, name) VALUES ('lost@x.io', 'l')")
    await asyncio.to_thread(lab.rejoin, "primary")
    # replica-2 replayed the old primary's timeline past the fork: it needs a rewind too.
    await asyncio.to_thread(lab.rejoin, "replica-2")
    await wait_for(
        client,
        lambda h: h["primary"]["state"] == "up" and h["primary"]["role"] == "replica",
        30.0,
        "the rewound old primary serving as a replica",
    )
    health = await health_of(client)
    assert health["replica-1"]["_primary"] == "replica-1"
    assert health["primary"]["timeline"] == health["replica-1"]["timeline"]
    # It serves reads again, and every write made on the new timeline is there.
    served_by = set()
    for email, token in written:
        response = await client.get(f"/customers/{email}", headers={"X-DB-Min-LSN": token})
        assert response.status_code == 200
        served_by.add(response.headers["x-db-node"])
    for _ in range(12):
        response = await client.get(f"/customers/{written[-1][0]}")
        assert response.status_code == 200  # monotonic: never a 404 for a row already read
        served_by.add(response.headers["x-db-node"])
    assert "primary" in served_by
    # The rewind took the old timeline's row away, on every node.
    for _ in range(6):
        lost = await client.get("/customers/lost@x.io")
        assert lost.status_code == 404, lost.headers["x-db-node"]
