"""Amounts and currencies: exact decimals at two places, or a 400 naming the field."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest
from litestar.plugins.problem_details import ProblemDetailsException

from service.api.money import format_amount, parse_amount, parse_currency
from service.api.order_schemas import OrderIn


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", "0.00"), ("-0", "0.00"), ("19.9", "19.90"), ("1.500", "1.50"), ("1E+2", "100.00"),
     ("9999999999.99", "9999999999.99")],
)  # fmt: skip
def test_valid_amounts(text: str, expected: str) -> None:
    assert format_amount(parse_amount(Decimal(text))) == expected


@pytest.mark.parametrize(
    "text", ["-0.01", "1.005", "0.30000000000000004", "10000000000", "NaN", "Infinity", "1E+400"]
)
def test_invalid_amounts(text: str) -> None:
    with pytest.raises(ProblemDetailsException) as caught:
        parse_amount(Decimal(text))
    assert caught.value.status_code == 400
    assert caught.value.extra == {"field": "total_amount"}


def test_json_numbers_never_pass_through_a_float() -> None:
    body = b'{"external_id": "e", "customer_email": "a@b.co", "status": "pending", '
    decoded = msgspec.json.decode(body + b'"total_amount": 0.1, "currency": "EUR"}', type=OrderIn)
    assert decoded.total_amount == Decimal("0.1")  # float(0.1) would be 0.1000000000000000055...


@pytest.mark.parametrize(("code", "expected"), [("EUR", "EUR"), ("usd", "USD"), ("gBp", "GBP")])
def test_currency_is_upper_cased(code: str, expected: str) -> None:
    assert parse_currency(code) == expected


# "\u0131" is a dotless i: it upper-cases to an ASCII I, and must still be refused.
@pytest.mark.parametrize("code", ["", "EU", "EURO", "E1R", "€UR", "\u0131ab"])
def test_invalid_currencies(code: str) -> None:
    with pytest.raises(ProblemDetailsException):
        parse_currency(code)
