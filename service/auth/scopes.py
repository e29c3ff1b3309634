"""Which scope a request needs, from its route's path template and its method."""

from __future__ import annotations

from typing import Final, Literal

Scope = Literal["read", "write", "analytics", "admin"]
SCOPES: Final = ("read", "write", "analytics", "admin")

# Load balancers and orchestrators call these without credentials.
OPEN_PATHS: Final = frozenset({"/health/live", "/health/ready"})
# Topology, LSNs, pool numbers and last errors: for operators only.
ADMIN_PATHS: Final = frozenset({"/health/db", "/metrics"})
ANALYTICS_PREFIX: Final = "/analytics"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


class ScopeRules:
    """`required(template, method)`: None for open routes, else the one scope needed.

    It is given Litestar's path *template* (`/customers/{email:str}`), never the raw path,
    so `/health/db/` or `/Analytics` cannot slip past a rule by spelling.
    """

    __slots__ = ("_open_prefix",)

    def __init__(self, openapi_path: str | None = "/schema") -> None:
        self._open_prefix = (openapi_path or "").rstrip("/")

    def required(self, template: str, method: str) -> Scope | None:
        # OPTIONS only says which methods exist, and CORS preflights never carry credentials.
        if method == "OPTIONS" or template in OPEN_PATHS or self._is_openapi(template):
            return None
        if template in ADMIN_PATHS:
            return "admin"
        if template == ANALYTICS_PREFIX or template.startswith(ANALYTICS_PREFIX + "/"):
            return "analytics"
        return "read" if method in _SAFE_METHODS else "write"

    def _is_openapi(self, template: str) -> bool:
        prefix = self._open_prefix
        return bool(prefix) and (template == prefix or template.startswith(prefix + "/"))
