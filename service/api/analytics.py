"""Analytics: named reports in raw SQL with bound parameters, run on replicas."""

from __future__ import annotations

from litestar import Controller


class AnalyticsController(Controller):
    path = "/analytics"
