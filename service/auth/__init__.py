"""Who may do what: bearer tokens stored as SHA-256 digests, and a scope per route.

Settings-free: the app factory turns `[auth]` into a `TokenTable` and an `AuthPlugin`.
"""

from service.auth.plugin import AuthPlugin
from service.auth.scopes import SCOPES, ScopeRules
from service.auth.tokens import TokenIdentity, TokenTable, new_token, token_digest

__all__ = [
    "SCOPES",
    "AuthPlugin",
    "ScopeRules",
    "TokenIdentity",
    "TokenTable",
    "new_token",
    "token_digest",
]
