"""Money as exact decimals: parsed from JSON text, never through a float.

`total_amount` is a NUMERIC(12, 2) column. JSON numbers are decoded straight into Decimal
from their text (msgspec does this for Decimal fields), so `0.1` is exactly 0.1 and a value
such as `0.30000000000000004` (what a float sum looks like) is rejected for having more than
two places rather than silently rounded.
"""

from __future__ import annotations

import re
from decimal import Decimal

from service.problems import invalid_field

CENT = Decimal("0.01")
# NUMERIC(12, 2): ten digits before the point. Checked here so an oversized amount is a 400,
# not a numeric-overflow error from the database.
MAX_AMOUNT = Decimal("9999999999.99")
_CURRENCY = re.compile("[A-Za-z]{3}")


def parse_amount(value: Decimal, field: str = "total_amount") -> Decimal:
    """The amount at exactly two places, or a 400 naming the field."""
    if not value.is_finite():
        raise invalid_field(field, "must be a finite decimal number")
    if value < 0:
        raise invalid_field(field, "must not be negative")
    if value > MAX_AMOUNT:
        raise invalid_field(field, f"must be at most {MAX_AMOUNT}")
    cents = value.quantize(CENT)
    if cents != value:
        raise invalid_field(field, "must have at most two decimal places")
    # `+ 0` turns a negative zero into 0.00 so it compares and prints like every other zero.
    return cents + 0


def format_amount(value: Decimal) -> str:
    """The wire form: always two places ("19.90"), never exponent notation."""
    return f"{value.quantize(CENT):f}"


def parse_currency(value: str, field: str = "currency") -> str:
    """An ISO 4217-shaped code; lower case is accepted and upper-cased (`eur` -> `EUR`)."""
    if not _CURRENCY.fullmatch(value):
        raise invalid_field(field, "must be three ASCII letters, like EUR")
    return value.upper()
