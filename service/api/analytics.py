"""Analytics: the report catalog, and one report run on a replica in a READ ONLY transaction."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromPath

from service.analytics import REPORTS, ParamError, run_report
from service.analytics.params import describe_params, echo, parse_params
from service.db import Db
from service.problems import invalid_field, not_found, problem


class ReportInfo(msgspec.Struct, frozen=True):
    name: str
    description: str
    params: list[dict[str, Any]]
    timeout_seconds: float
    max_rows: int


class Catalog(msgspec.Struct, frozen=True):
    reports: list[ReportInfo]


class ReportResult(msgspec.Struct, frozen=True):
    report: str
    params: dict[str, Any]
    rows: list[Any]
    # True when the result had more than the report's max_rows and was cut there.
    truncated: bool


class AnalyticsController(Controller):
    path = "/analytics"

    @get("/")
    async def catalog(self) -> Catalog:
        return Catalog(
            reports=[
                ReportInfo(
                    name=report.name,
                    description=report.description,
                    params=describe_params(report.params),
                    timeout_seconds=report.timeout,
                    max_rows=report.max_rows,
                )
                for report in REPORTS
            ]
        )

    @get("/{name:str}")
    async def run(
        self, name: FromPath[str], request: Request[Any, Any, Any], db: Db
    ) -> ReportResult:
        report = REPORTS.get(name)
        if report is None:
            raise not_found(f"report {name!r}")
        try:
            params = parse_params(report.params, request.query_params.multi_items())
        except ParamError as exc:
            if exc.field is None:
                raise problem(422, "invalid-request", "Invalid request", str(exc)) from None
            raise invalid_field(exc.field, exc.message, status=422) from None
        rows, truncated = await run_report(db, report, params)
        return ReportResult(report=name, params=echo(params), rows=rows, truncated=truncated)
