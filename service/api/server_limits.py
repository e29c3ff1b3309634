"""The HTTP server's limits on slow and oversized clients, for `switchyard run` (uvicorn).

uvicorn times out only idle keep-alive connections: a client that sends its request a byte
at a time (slowloris), or never finishes its headers, holds its connection forever, and
httptools accumulates a header of any size. This protocol is uvicorn's httptools one with
two limits more: every request must arrive whole within REQUEST_TIMEOUT of its first byte
(else 408 and the connection is closed), and its head (request line and headers) may be at
most MAX_HEAD_BYTES (else 400, as uvicorn answers any malformed request).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_TIMEOUT = 10.0
MAX_HEAD_BYTES = 16 * 1024  # h11's default limit for an incomplete request
KEEP_ALIVE_TIMEOUT = 5  # uvicorn's default, stated here so it is a decision

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\n"
    b"connection: close\r\n\r\n"
    b"Request Timeout."
)


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    _deadline: asyncio.TimerHandle | None = None
    _reading_head = True
    _head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is closed too

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # the first bytes of a request after a response
            self._arm()
        if self._reading_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still inside the head after this many bytes: the head alone is that large.
        if (
            self._reading_head
            and self._head_bytes > MAX_HEAD_BYTES
            and not self.transport.is_closing()
        ):
            self.send_400_response("Request head too large.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True

    def on_headers_complete(self) -> None:
        self._reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the request is in; the app's own deadlines take over

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT, self._too_slow)
        self._head_bytes = 0

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._reading_head:
            self.transport.write(_TIMED_OUT)  # no response has started: say why
        self.transport.close()
