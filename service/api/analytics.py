"""Analytics: the report catalog, and one report run on a replica in a READ ONLY transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from service.analytics import REPORTS, ParamError, Report, ReportParams, run_report
from service.analytics.params import describe_params, echo, parse_params
from service.api.validated import DEPENDENCIES, validator
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


@dataclass(frozen=True, slots=True)
class ReportRequest:
    report: Report
    params: ReportParams


def _report_request(name: FromPath[str], request: Request[Any, Any, Any]) -> ReportRequest:
    """The report and its parameters, checked before the database is touched."""
    report = REPORTS.get(name)
    if report is None:
        raise not_found(f"report {name!r}")
    try:
        return ReportRequest(
            report, parse_params(report.params, request.query_params.multi_items())
        )
    except ParamError as exc:
        if exc.field is None:
            raise problem(422, "invalid-request", "Invalid request", str(exc)) from None
        raise invalid_field(exc.field, exc.message, status=422) from None


class AnalyticsController(Controller):
    path = "/analytics"
    dependencies = DEPENDENCIES

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

    @get("/{name:str}", dependencies=validator(_report_request))
    async def run(self, valid: NamedDependency[ReportRequest], db: Db) -> ReportResult:
        rows, truncated = await run_report(db, valid.report, valid.params)
        return ReportResult(
            report=valid.report.name, params=echo(valid.params), rows=rows, truncated=truncated
        )
