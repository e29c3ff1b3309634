"""Keyset pagination: opaque cursors that carry the last id a page ended on.

A cursor is URL-safe base64 (no padding) of `{"k": kind, "id": last_id}`. The kind ties a
cursor to the list that issued it, so a customers cursor sent to an orders list is a 400,
not a silently wrong page. Clients must treat cursors as opaque; only we read them.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from litestar.params import Parameter

from service.problems import invalid_field
from service.table_values import MAX_ID

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_MAX_CURSOR_LENGTH = 200

# The `limit` query parameter as handlers declare it; Litestar answers 400 outside 1..500.
Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, description="page size, 1..500")]


class _Position(msgspec.Struct, forbid_unknown_fields=True):
    k: str
    id: Annotated[int, msgspec.Meta(ge=0, le=MAX_ID)]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Position)


def encode_cursor(kind: str, last_id: int) -> str:
    raw = _encoder.encode(_Position(kind, last_id))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(kind: str, cursor: str | None) -> int:
    """The id to continue after (0 for the first page); a cursor we did not issue is a 400."""
    if cursor is None:
        return 0
    try:
        if len(cursor) > _MAX_CURSOR_LENGTH:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = _decoder.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError):
        raise _malformed() from None
    if position.k != kind:
        raise _malformed()
    return position.id


def next_cursor(kind: str, rows: Sequence[Any], limit: int) -> str | None:
    """A cursor after the page's last row when the query found more than `limit` rows.

    Queries fetch `limit + 1` rows: the extra one says whether another page exists, so the
    last page reports `null` instead of sending the client to an empty page.
    """
    if len(rows) <= limit:
        return None
    return encode_cursor(kind, int(rows[limit - 1].id))


def _malformed() -> Exception:
    return invalid_field("cursor", "malformed or not issued for this list; use next_cursor as is")
