"""One health probe of one node, on a connection of its own (never a request pool's)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from service.db.deadline import Deadline
from service.urls import asyncpg_connect_args, parse_url

# The timeline: on a primary, from the name of its current WAL file, which names the new
# timeline at once after a promotion (pg_control_checkpoint() lags up to a checkpoint); on a
# standby, the timeline its WAL receiver streams, else the last restartpoint's.
_PROBE_SQL = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::bigint,
       (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint,
       CASE WHEN pg_is_in_recovery()
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                          (pg_control_checkpoint()).timeline_id)
            ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
       END,
       (pg_control_system()).system_identifier
"""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    in_recovery: bool
    lsn: int | None  # replay position on a standby, flush position on a primary
    received: int | None  # on a standby: WAL received from the primary so far
    timeline: int | None
    system_identifier: int | None


def asyncpg_dsn(url: str) -> str:
    return parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def probe(url: str, timeout: float) -> ProbeResult:
    """Raises on any failure (refused, hung past `timeout`, not accepting connections)."""
    url, tls_args = asyncpg_connect_args(url)  # the same TLS as the pool's
    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(
            asyncpg_dsn(url), timeout=timeout, statement_cache_size=0, **tls_args
        )
    # The socket is aborted at the deadline rather than the task cancelled: a cancelled
    # asyncpg query leaves a cancel request waiting on a frozen server.
    deadline = Deadline(conn, timeout)
    try:
        in_recovery, lsn, received, timeline, system_id = await conn.fetchrow(_PROBE_SQL)
    except BaseException:
        conn.terminate()
        if deadline.fired:
            raise TimeoutError from None
        raise
    finally:
        deadline.cancel()
    conn.terminate()  # a probe connection is never reused: no goodbye to wait for
    return ProbeResult(
        bool(in_recovery), _int(lsn), _int(received), _int(timeline), _int(system_id)
    )


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
