"""A read-your-writes token far past anything the primary has written goes to the primary
without a replica connection: a forged or foreign token cannot make every read cost a
replica's checkout and a replay check first. The control: a token just past the primary's
position, within `token_margin_bytes`, does ask a replica before falling back."""

from __future__ import annotations

from service.db import format_lsn, parse_lsn
from service.settings import Settings
from tests.integration.helpers import Client, unique_email

_SESSIONS = "switchyard_db_sessions_total{"


async def replica_sessions(client: Client) -> float:
    """Sessions opened on replicas so far (the registry is shared: callers take deltas)."""
    total = 0.0
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(_SESSIONS) and 'node="replica-' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_a_far_ahead_token_costs_no_replica_connection(
    own_client: Client, settings: Settings
) -> None:
    email = unique_email("far-token")
    written = await own_client.put(f"/customers/{email}", json={"name": "Far"})
    assert written.status_code in (200, 201), written.text
    position = parse_lsn(written.headers["X-DB-LSN"])
    margin = settings.database.token_margin_bytes

    async def read_with(token: int) -> str:
        before = await replica_sessions(own_client)
        response = await own_client.get(
            f"/customers/{email}", headers={"X-DB-Min-LSN": format_lsn(token)}
        )
        assert response.status_code == 200, response.text
        assert response.headers["X-DB-Node"] == "primary"  # no replica has it: the primary
        asked = await replica_sessions(own_client) - before
        return "asked a replica" if asked else "no replica"

    # Ahead of every node, but by less than the primary may write between two probes.
    assert await read_with(position + 1024 * 1024) == "asked a replica"
    # Beyond the primary's last probed position by more than that margin.
    assert await read_with(position + 2 * margin) == "no replica"
