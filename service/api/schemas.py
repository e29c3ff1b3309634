"""Request and response bodies: msgspec Structs with limits, checked before any SQL runs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CustomerIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name


class Customer(msgspec.Struct, kw_only=True):
    id: int
    email: str
    name: str
    created_at: datetime
    updated_at: datetime
