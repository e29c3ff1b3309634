"""What the tables allow, named once for the API and the reports: ids are bigint, and an
order's status is one of four (the migration's `orders_status` check lists the same)."""

from __future__ import annotations

from typing import Literal

MAX_ID = 2**63 - 1
OrderStatus = Literal["pending", "completed", "cancelled", "refunded"]
