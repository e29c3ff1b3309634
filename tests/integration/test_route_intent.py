"""A route's `opt={"db_intent": ...}` decides where a request goes, without any header."""

from __future__ import annotations

from tests.integration.helpers import Client

REPLICAS = ("replica-1", "replica-2")


async def test_a_strong_read_route_reads_on_the_primary_in_a_read_only_transaction(
    client: Client,
) -> None:
    for _ in range(2):  # round robin cannot land it on a replica either time
        strong = await client.get("/_probe/strong-route")
        assert strong.status_code == 200, strong.text
        assert strong.headers["X-DB-Node"] == "primary"
        assert strong.json() == {"node": "primary", "standby": False, "read_only": "on"}


async def test_a_write_route_gets_the_primary_in_a_transaction_that_may_write(
    client: Client,
) -> None:
    for _ in range(2):
        write = await client.get("/_probe/write-route")
        assert write.status_code == 200, write.text
        assert write.json() == {"node": "primary", "standby": False, "read_only": "off"}


async def test_the_same_get_without_the_option_reads_on_a_replica(client: Client) -> None:
    """The control: the routes above differ from this one only by their option."""
    for _ in range(2):
        plain = await client.get("/_probe/plain-route")
        assert plain.status_code == 200, plain.text
        body = plain.json()
        assert body["node"] in REPLICAS
        assert body["standby"] is True
