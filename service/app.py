"""The app factory: settings in, a Litestar app out; nothing is built at import time."""

from __future__ import annotations

import logging

from litestar import Litestar
from litestar.plugins.prometheus import PrometheusController

from service.api import request_id
from service.api.analytics import AnalyticsController
from service.api.contract import openapi_config
from service.api.customers import CustomerController
from service.api.head import HeadAsGet
from service.api.health import HealthController
from service.api.limits import MAX_BODY_BYTES
from service.api.orders import OrderController
from service.api.request import ApiRequest
from service.auth import AuthPlugin, TokenTable
from service.check import startup_check
from service.db.plugin import SwitchyardPlugin
from service.problems import internal_error, problem_details_plugin
from service.settings import AuthSettings, Settings, load_settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or load_settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = Litestar(
        route_handlers=[
            CustomerController,
            OrderController,
            AnalyticsController,
            HealthController,
            PrometheusController,
        ],
        plugins=[
            AuthPlugin(_token_table(settings.auth)),
            SwitchyardPlugin(settings.database, settings.health),
            problem_details_plugin(MAX_BODY_BYTES),
        ],
        lifespan=[startup_check(settings)] if settings.server.startup_check else [],
        openapi_config=openapi_config(),
        exception_handlers={Exception: internal_error},
        request_class=ApiRequest,
        request_max_body_size=MAX_BODY_BYTES,
        before_send=[request_id.tag_response],
        after_exception=[request_id.remember_exception],
    )
    # Outside the router, so HEAD reaches the GET handlers instead of a 405.
    app.asgi_handler = HeadAsGet(app.asgi_handler)
    return app


def _token_table(auth: AuthSettings) -> TokenTable | None:
    """None unless tokens are on: `local` and `off` add nothing to the request path."""
    if auth.mode != "tokens":
        return None
    return TokenTable((t.name, t.sha256, t.scopes) for t in auth.tokens)
