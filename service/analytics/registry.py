"""The report registry: what a report is, and the checks that keep its SQL and params in step."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import TextClause

from service.analytics.params import ReportParams
from service.db import ReadQuery

# Every report's SQL ends in `LIMIT :row_limit`; the runner binds max_rows + 1 so it can tell a
# result that fits from one that was cut, without the server producing more rows than that.
ROW_LIMIT_BIND = "row_limit"


@dataclass(frozen=True, slots=True)
class Report:
    name: str
    description: str
    sql: TextClause
    params: type[ReportParams]
    row: type[msgspec.Struct]
    # Seconds; enforced by the server (statement_timeout), so a cancelled report frees its backend.
    timeout: float
    max_rows: int
    # The SQL compiled once for the driver: on a replica it runs without SQLAlchemy's layers.
    query: ReadQuery = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", ReadQuery(self.sql))
        if self.timeout <= 0 or self.max_rows < 1:
            raise ValueError(f"report {self.name!r}: timeout and max_rows must be positive")
        binds = set(self.sql.compile().params)
        fields = set(self.params.__struct_fields__)
        # A parameter the SQL ignores, or a bind nothing fills, is a bug: refuse it at import.
        if binds != fields | {ROW_LIMIT_BIND}:
            raise ValueError(
                f"report {self.name!r}: SQL binds {sorted(binds)} do not match "
                f"parameters {sorted(fields)} plus {ROW_LIMIT_BIND!r}"
            )


class Registry:
    def __init__(self) -> None:
        self._reports: dict[str, Report] = {}

    def register(self, report: Report) -> Report:
        if report.name in self._reports:
            raise ValueError(f"report {report.name!r} is already registered")
        self._reports[report.name] = report
        return report

    def unregister(self, name: str) -> None:
        self._reports.pop(name, None)

    def get(self, name: str) -> Report | None:
        return self._reports.get(name)

    def __iter__(self) -> Iterator[Report]:
        return iter(sorted(self._reports.values(), key=lambda report: report.name))
