"""WAL positions: PostgreSQL's text form (`0/3009138`) and the integer routing compares."""

from __future__ import annotations

import re

from service.problems import InvalidHeader

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


def parse_lsn(value: str, header: str = "X-DB-Min-LSN") -> int:
    """The integer position of `value`; a malformed one is the client's 400."""
    match = _LSN.match(value.strip())
    if match is None:
        raise InvalidHeader(header, "must be an LSN like 0/3009138")
    high, low = match.groups()
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"
