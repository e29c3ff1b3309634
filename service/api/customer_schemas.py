"""Customer request and response bodies: msgspec Structs with limits, checked before any SQL.

Text fields refuse NUL: PostgreSQL `text` cannot store it, and letting one through would turn
bad input into a database error instead of a 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

_NO_NUL = r"^[^\x00]*$"

# Emails get their full check (and lower-casing) in service.api.emails.normalise_email; the
# bound here only stops absurd strings before that runs. 254 is the longest valid address.
EmailText = Annotated[str, msgspec.Meta(min_length=1, max_length=254, pattern=_NO_NUL)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_NO_NUL)]
ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=_NO_NUL)]

MAX_BATCH = 1000


class CustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class CustomerBatchItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: EmailText
    name: Name


class CustomerBatchIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # No max_length here on purpose: over MAX_BATCH is a 413 (see the handler), not a 400.
    customers: Annotated[list[CustomerBatchItem], msgspec.Meta(min_length=1)]


class BatchResult(msgspec.Struct, kw_only=True):
    inserted: int
    updated: int


class Customer(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime


class CustomerPage(msgspec.Struct, kw_only=True):
    items: list[Customer]
    next_cursor: str | None
