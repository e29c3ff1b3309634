"""Run a report under a statement_timeout the server enforces, in either shape of read session.

A routed read session is a READ ONLY transaction (on the primary) or, on a replica, an
AUTOCOMMIT connection to a hot standby, which refuses writes by itself. `SET LOCAL` needs a
transaction: outside one it does nothing, and a plain `SET` would outlive the request (behind
PgBouncer's transaction pooling, on another client's connection). So on an AUTOCOMMIT connection
the report opens a READ ONLY transaction of its own and puts AUTOCOMMIT back afterwards.

When the timeout fires the server cancels the query (SQLSTATE 57014), the connection stays
usable and the answer is a 504. The client-side deadline sits a little above the server's and
only catches a node that stopped answering: then the connection is discarded and the answer is
the core's 503 (NodeUnavailableError), which re-runs the read on another node.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable, Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.analytics.params import ReportParams, bind_values
from service.analytics.registry import ROW_LIMIT_BIND, Report
from service.db import DbSession
from service.db.errors import QUERY_CANCELED, DatabaseProblem, sqlstate
from service.db.routing import Intent
from service.db.scope import rollback_quietly

CLIENT_GRACE_SECONDS = 1.0

# set_config(..., true) is SET LOCAL with the value bound instead of spliced into the SQL.
_SET_LOCAL_TIMEOUT = text("SELECT set_config('statement_timeout', :value, true)")


class ReportTimeoutError(DatabaseProblem):
    """The server cancelled the report at its statement timeout: 504, as a gateway would."""

    slug = "report-timeout"
    title_text = "Report timed out"
    status = 504

    def __init__(self, report: str, node: str, timeout: float) -> None:
        super().__init__(
            f"report {report!r} ran past its {timeout:g} s statement timeout on {node!r} and "
            "the server cancelled it; narrow its parameters (a shorter range) and retry",
            extra={"report": report, "node": node, "timeout_seconds": timeout},
        )


async def run_report(db: DbSession, report: Report, params: ReportParams) -> tuple[list[Any], bool]:
    """The report's rows in its row shape, and whether they were cut at `max_rows`."""
    values = {**bind_values(params), ROW_LIMIT_BIND: report.max_rows + 1}
    rows = await run_with_timeout(db, report.sql, values, report.name, report.timeout)
    shaped = [report.row(**row._mapping) for row in rows[: report.max_rows]]
    return shaped, len(rows) > report.max_rows


async def run_with_timeout(
    db: DbSession,
    statement: Executable,
    values: Mapping[str, Any],
    report: str,
    timeout: float,
) -> Sequence[Row[Any]]:
    # `db.bounded` rather than `db.execute`: the deadline is the report's, not the session's,
    # and a 57014 here is the report's own timeout (a 504 that names the report).
    conn = db.conn
    own_transaction = db.node.server_read_only and db.intent is not Intent.WRITE
    deadline = timeout + CLIENT_GRACE_SECONDS
    if own_transaction:
        await _begin_read_only(conn)
    started = time.monotonic()
    try:
        timeout_ms = {"value": f"{round(timeout * 1000)}ms"}
        await db.bounded(conn.execute(_SET_LOCAL_TIMEOUT, timeout_ms), deadline)
        return (await db.bounded(conn.execute(statement, values), deadline)).all()
    except DBAPIError as exc:
        # 57014 is also an operator's pg_cancel_backend; only the timeout's comes this late.
        if sqlstate(exc) == QUERY_CANCELED and time.monotonic() - started >= timeout:
            raise ReportTimeoutError(report, db.node.name, timeout) from exc
        raise
    finally:
        if own_transaction:
            # A rollback, on success and failure alike: the transaction only held SET LOCAL.
            await rollback_quietly(db)
            if not conn.invalidated:
                await conn.execution_options(isolation_level="AUTOCOMMIT")


async def _begin_read_only(conn: AsyncConnection) -> None:
    """Begin lazily: the driver sends BEGIN READ ONLY just before the first statement."""
    if conn.in_transaction():
        # Under AUTOCOMMIT this is SQLAlchemy's bookkeeping only; nothing is open on the server.
        await conn.commit()
    await conn.execution_options(isolation_level="READ COMMITTED", postgresql_readonly=True)
    await conn.begin()
