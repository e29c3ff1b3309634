"""Re-run a read, whole, on another node when its node failed before the response started.

Reads run READ ONLY, so running one twice is safe. Whether a failure earns a re-run is
decided where it is caught, by the session dependency, which marks the request's
RoutingRecord; the exception handler that would render the failure's 503 returns a
`ReadReRun` instead, and its "response" hands the request to the app's router again with
that node excluded. Writes are never re-run, nor is a re-run re-run.

Being the failure's response, the re-run costs a request nothing until a node fails: no
middleware wraps every read's `send` and `receive`. The re-run reads the same scope, so a
body the first run read comes from Litestar's cache of it in the scope's state.
"""

from __future__ import annotations

from typing import Any, cast

from litestar import Request, Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from service.db import metrics
from service.db.record import EXCLUDE_KEY, RECORD_KEY, RoutingRecord


class ReadReRun(Response[None]):
    """Not an answer: the failed read, handed to the app again without `node`."""

    def __init__(self, node: str) -> None:
        super().__init__(None)
        self.node = node

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        return cast(ASGIResponse, self._run_again)

    async def _run_again(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.RETRIES.inc()
        state = scope["state"]
        state.pop(RECORD_KEY, None)
        state[EXCLUDE_KEY] = frozenset({self.node})
        # The app's ASGI handler (its exception handling and router), not the app itself:
        # `send` is already wrapped in the app's before_send hooks.
        await scope["litestar_app"].asgi_handler(scope, receive, send)


def read_rerun(request: Request[Any, Any, Any]) -> ReadReRun | None:
    """The re-run the session dependency marked this request's failure for, if any."""
    record: RoutingRecord | None = request.scope["state"].get(RECORD_KEY)
    if record is None or record.retry_without is None:
        return None
    return ReadReRun(record.retry_without)
