"""Run a report under its own statement timeout, the server's (a 504 naming the report when it
fires); `DbSession.run_with_timeout` holds the mechanics for either shape of read session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Executable

from service.analytics.params import ReportParams, bind_values
from service.analytics.registry import ROW_LIMIT_BIND, Report
from service.db import DatabaseProblem, DbSession, ReadQuery, StatementTimeoutError


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
    rows = await run_with_timeout(db, report.query, values, report.name, report.timeout)
    shaped = [report.row(**row) for row in rows[: report.max_rows]]
    return shaped, len(rows) > report.max_rows


async def run_with_timeout(
    db: DbSession,
    statement: Executable | ReadQuery,
    values: Mapping[str, Any],
    report: str,
    timeout: float,
) -> Sequence[Mapping[str, Any]]:
    try:
        return await db.run_with_timeout(statement, values, timeout)
    except StatementTimeoutError as exc:
        raise ReportTimeoutError(report, db.node.name, timeout) from exc
