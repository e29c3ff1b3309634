"""`auth.mode = "local"` serves without tokens, so it may listen on loopback only."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; any other name could resolve anywhere."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def refuse_reason(mode: str, host: str) -> str | None:
    """Why the service must not start on `host` in `mode`, or None when it may."""
    if mode != "local" or is_loopback(host):
        return None
    return (
        f"auth.mode is 'local' (no tokens), which serves on a loopback address only, not on "
        f"{host!r}. Set auth.mode = 'tokens' (SWITCHYARD_AUTH__MODE=tokens) with "
        "[[auth.tokens]] from `switchyard token new`, or auth.mode = 'off' when a gateway in "
        "front of the service authenticates"
    )
