"""The app factory: settings in, a Litestar app out; nothing is built at import time."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.plugins.prometheus import PrometheusController

from service.api.analytics import AnalyticsController
from service.api.customers import CustomerController
from service.api.health import HealthController
from service.api.orders import OrderController
from service.check import startup_check
from service.db.plugin import SwitchyardPlugin
from service.problems import problem_details_plugin
from service.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return Litestar(
        route_handlers=[
            CustomerController,
            OrderController,
            AnalyticsController,
            HealthController,
            PrometheusController,
        ],
        plugins=[SwitchyardPlugin(settings.database, settings.health), problem_details_plugin()],
        lifespan=[startup_check(settings)] if settings.server.startup_check else [],
    )
