"""Cursors: round trips, and anything we did not issue is a 400 naming `cursor`."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from litestar.plugins.problem_details import ProblemDetailsException

from service.api.pagination import decode_cursor, encode_cursor, next_cursor


@pytest.mark.parametrize("last_id", [0, 1, 41, 2**63 - 1])
def test_round_trip(last_id: int) -> None:
    cursor = encode_cursor("customers", last_id)
    assert cursor.isascii()
    assert "=" not in cursor  # safe in a query string as is
    assert decode_cursor("customers", cursor) == last_id


def test_no_cursor_is_the_first_page() -> None:
    assert decode_cursor("customers", None) == 0


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "%%%",
        "not-a-cursor",
        "é",
        "x" * 500,
        _b64(b"[1]"),
        _b64(b'{"k": "customers"}'),
        _b64(b'{"k": "customers", "id": -1}'),
        _b64(b'{"k": "customers", "id": 9223372036854775808}'),
        _b64(b'{"k": "customers", "id": "7"}'),
        _b64(b'{"k": "customers", "id": 7, "extra": 1}'),
        encode_cursor("orders", 7),  # another list's cursor
    ],
)
def test_malformed_cursors_are_400(cursor: str) -> None:
    with pytest.raises(ProblemDetailsException) as caught:
        decode_cursor("customers", cursor)
    assert caught.value.status_code == 400
    assert caught.value.extra == {"field": "cursor"}


def test_next_cursor_only_when_there_is_more() -> None:
    rows = [SimpleNamespace(id=i) for i in (3, 5, 8)]
    assert next_cursor("orders", rows, 3) is None
    assert next_cursor("orders", rows[:2], 3) is None
    cursor = next_cursor("orders", rows, 2)
    assert cursor is not None
    assert decode_cursor("orders", cursor) == 5
