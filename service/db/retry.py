"""Re-run a read, whole, on another node when its node failed before the response started.

Reads run READ ONLY, so running one twice is safe. The failed attempt's 503 is held back and
the request is handed to the app again with that node excluded; writes are never retried.
Whether a failure earns a re-run is decided where it is caught, by the session dependency,
which marks the request's RoutingRecord; this middleware only acts on the mark.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from service.db import metrics
from service.db.intent import SAFE_METHODS
from service.db.record import EXCLUDE_KEY, RECORD_KEY, RoutingRecord


class ReadRetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        received: list[ReceiveMessage] = []
        held: list[Message] = []

        async def recording_receive() -> ReceiveMessage:
            message = await receive()
            received.append(message)
            return message

        async def hold_retryable_failure(message: Message) -> None:
            if held or (
                message["type"] == "http.response.start" and _failed_node(scope) is not None
            ):
                held.append(message)
                return
            await send(message)

        await self.app(scope, recording_receive, hold_retryable_failure)
        failed = _failed_node(scope)
        if not held or failed is None:
            return
        metrics.RETRIES.inc()
        state = scope["state"]
        state.pop(RECORD_KEY, None)
        state[EXCLUDE_KEY] = frozenset({failed})
        replay = list(received)

        async def replaying_receive() -> ReceiveMessage:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replaying_receive, send)


def _failed_node(scope: Scope) -> str | None:
    record: RoutingRecord | None = scope.get("state", {}).get(RECORD_KEY)
    return None if record is None else record.retry_without
