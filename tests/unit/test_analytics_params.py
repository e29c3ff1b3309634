"""Report parameters: query text to typed values, and every failure naming its parameter."""

from __future__ import annotations

import datetime as dt

import pytest

from service.analytics.params import ParamError, describe_params, echo, parse_params
from service.analytics.reports import (
    DailyRevenueParams,
    StatusBreakdownParams,
    TopCustomersParams,
)

FROM, TO = "2024-03-01T00:00:00Z", "2024-03-02T00:00:00+01:00"


def test_defaults_fill_in_and_text_becomes_typed_values() -> None:
    params = parse_params(DailyRevenueParams, [("days", "7")])
    assert params == DailyRevenueParams(days=7, status="completed", currency=None)
    top = parse_params(TopCustomersParams, [("since", "2024-01-31"), ("limit", "100")])
    assert (top.since, top.limit) == (dt.date(2024, 1, 31), 100)


def test_from_is_a_timezone_aware_datetime_bound_as_from_() -> None:
    params = parse_params(StatusBreakdownParams, [("from", FROM), ("to", TO)])
    assert params.from_ == dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    assert echo(params) == {
        "from": "2024-03-01T00:00:00Z",
        "to": "2024-03-02T00:00:00+01:00",
        "currency": None,
    }


@pytest.mark.parametrize(
    ("cls", "items", "field"),
    [
        (DailyRevenueParams, [("days", "0")], "days"),
        (DailyRevenueParams, [("days", "367")], "days"),
        (DailyRevenueParams, [("days", "1.5")], "days"),
        (DailyRevenueParams, [("status", "done")], "status"),
        (DailyRevenueParams, [("currency", "US")], "currency"),
        (DailyRevenueParams, [("nope", "1")], "nope"),
        (DailyRevenueParams, [("days", "1"), ("days", "2")], "days"),
        (TopCustomersParams, [], "since"),
        (TopCustomersParams, [("since", "2024-01-01"), ("limit", "101")], "limit"),
        (
            TopCustomersParams,
            [("since", "2024-01-01"), ("email_prefix", "x" * 201)],
            "email_prefix",
        ),
        (StatusBreakdownParams, [("from", "2024-03-01T00:00:00"), ("to", TO)], "from"),
        (StatusBreakdownParams, [("from", FROM)], "to"),
        (StatusBreakdownParams, [("from", FROM), ("to", FROM)], "to"),
    ],
)
def test_each_failure_names_its_parameter(
    cls: type[DailyRevenueParams], items: list[tuple[str, str]], field: str
) -> None:
    with pytest.raises(ParamError) as caught:
        parse_params(cls, items)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert caught.value.message


def test_the_catalog_shows_types_defaults_and_bounds() -> None:
    described = {p["name"]: p for p in describe_params(DailyRevenueParams)}
    assert described["days"] == {
        "name": "days",
        "type": "integer",
        "required": False,
        "default": 30,
        "description": "UTC calendar days, today included",
        "minimum": 1,
        "maximum": 366,
    }
    assert described["status"]["enum"] == ["cancelled", "completed", "pending", "refunded"]
    assert described["currency"]["pattern"] == "^[A-Z]{3}$"
    ranges = {p["name"]: p for p in describe_params(StatusBreakdownParams)}
    assert ranges["from"]["required"] is True
    assert ranges["from"]["type"] == "datetime"
    assert ranges["from"]["timezone_required"] is True
