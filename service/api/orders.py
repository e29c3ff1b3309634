"""Orders: idempotent creation by external_id, status transitions, reads on replicas."""

from __future__ import annotations

from litestar import Controller


class OrderController(Controller):
    path = "/orders"
