"""The registry refuses reports whose SQL and parameters disagree; money stays exact."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import msgspec
import pytest
from sqlalchemy import text

from service.analytics import REPORTS, Registry, Report, ReportParams, ReportTimeoutError
from service.analytics.reports import DailyRevenueRow


class OneParam(ReportParams, frozen=True):
    days: int = 1


class Row(msgspec.Struct):
    n: int


def report(sql: str, name: str = "r") -> Report:
    return Report(name, "d", text(sql), OneParam, Row, 1.0, 10)


def test_a_report_whose_binds_match_its_params_registers() -> None:
    registry = Registry()
    registry.register(report("SELECT CAST(:days AS int) AS n LIMIT :row_limit", "b"))
    registry.register(report("SELECT CAST(:days AS int) AS n LIMIT :row_limit", "a"))
    assert [r.name for r in registry] == ["a", "b"]
    assert registry.get("c") is None
    with pytest.raises(ValueError, match="already registered"):
        registry.register(report("SELECT CAST(:days AS int) AS n LIMIT :row_limit", "a"))


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1 AS n LIMIT :row_limit",  # the parameter is ignored
        "SELECT CAST(:days AS int) AS n",  # no row limit
        "SELECT CAST(:dayz AS int) AS n LIMIT :row_limit",  # a typo
    ],
)
def test_sql_and_params_that_disagree_are_refused(sql: str) -> None:
    with pytest.raises(ValueError, match="do not match"):
        report(sql)


@pytest.mark.parametrize("builtin", list(REPORTS), ids=lambda r: r.name)
def test_no_builtin_report_puts_a_bind_inside_a_quoted_literal(builtin: Report) -> None:
    literals = re.findall(r"'[^']*'", builtin.sql.text)
    assert not [lit for lit in literals if re.search(r":\w", lit)]
    assert builtin.timeout > 0
    assert builtin.max_rows >= 1


def test_money_encodes_as_an_exact_decimal_string() -> None:
    row = DailyRevenueRow(
        day=dt.date(2024, 1, 1),
        currency="USD",
        order_count=2,
        revenue=Decimal("9999999999.99") + Decimal("0.01") + Decimal("19.90"),
    )
    assert b'"revenue":"10000000019.90"' in msgspec.json.encode(row)


def test_a_report_timeout_is_a_504_problem() -> None:
    problem = ReportTimeoutError("daily-revenue", "replica-1", 0.2)
    assert problem.status_code == 504
    assert problem.type_ is not None
    assert problem.type_.endswith("report-timeout")
    assert problem.extra == {"report": "daily-revenue", "node": "replica-1", "timeout_seconds": 0.2}
