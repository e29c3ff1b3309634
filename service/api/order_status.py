"""The order lifecycle: which status may follow which.

pending -> completed | cancelled, completed -> refunded; cancelled and refunded are final.
Re-applying the current status is not a transition but a no-op the API answers with 200, so
a client may retry a PATCH safely.
"""

from __future__ import annotations

from typing import get_args

from service.table_values import OrderStatus

STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    "pending": frozenset({"completed", "cancelled"}),
    "completed": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}

# The other way round, for the conditional UPDATE: which current statuses may become `target`.
SOURCES: dict[OrderStatus, list[OrderStatus]] = {
    target: sorted(source for source in STATUSES if target in TRANSITIONS[source])
    for target in STATUSES
}


def can_become(current: OrderStatus, target: OrderStatus) -> bool:
    return target in TRANSITIONS[current]


def describe_next(current: OrderStatus) -> str:
    allowed = sorted(TRANSITIONS[current])
    return " or ".join(allowed) if allowed else "nothing (it is final)"
