"""The sticky window: read-your-writes for clients that send no X-DB-Min-LSN.

After a write, the response sets a signed cookie holding the write's LSN and an expiry. For
the window's length that client's reads carry the LSN as if it had sent the token itself, so
they are served by a replica that has replayed the write, else by the primary (stricter
than Rails' "primary for N seconds", and kinder to the primary). Instances that share the
secret accept each other's cookies; nothing is stored server-side.
"""

from __future__ import annotations

import hashlib
import hmac
import time

COOKIE = "switchyard_lsn"


class StickyWindow:
    __slots__ = ("_key", "seconds")

    def __init__(self, seconds: float, secret: str) -> None:
        self.seconds = seconds
        self._key = secret.encode()

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]

    def cookie(self, lsn: str, now: float | None = None, secure: bool = False) -> str:
        """The Set-Cookie header value for a write that committed at `lsn`; `secure` when
        the request came over HTTPS, so the browser never sends it back in clear."""
        expires = int((now or time.time()) + self.seconds)
        payload = f"{lsn}~{expires}"
        max_age = max(1, round(self.seconds))
        return (
            f"{COOKIE}={payload}~{self._sign(payload)}; Max-Age={max_age}; Path=/; "
            "HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        )

    def lsn(self, value: str | None, now: float | None = None) -> str | None:
        """The LSN in a cookie that is genuine and unexpired, else None."""
        if not value or not value.isascii():
            # Only we write these cookies, in ASCII; compare_digest raises on anything else.
            return None
        payload, _, signature = value.rpartition("~")
        lsn, _, expires = payload.partition("~")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            if int(expires) < (now or time.time()):
                return None
        except ValueError:
            return None
        return lsn
