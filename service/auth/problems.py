"""401 and 403 as problem+json, with the RFC 6750 `WWW-Authenticate: Bearer` challenge.

The detail says only "missing", "unknown" or which scope is lacking: nothing that helps a
guesser, and never the token or its digest.
"""

from __future__ import annotations

from service.problems import Problem

REALM = 'Bearer realm="switchyard"'


def unauthorized(reason: str) -> Problem:
    """`reason`: "missing" or "unknown"."""
    challenge = REALM if reason == "missing" else f'{REALM}, error="invalid_token"'
    return Problem(
        f"{reason} bearer token (send Authorization: Bearer <token>)",
        status=401,
        slug="unauthorized",
        title="Unauthorized",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden(scope: str) -> Problem:
    return Problem(
        f"the token lacks scope {scope!r}",
        status=403,
        slug="forbidden",
        title="Forbidden",
        headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        extra={"scope": scope},
    )
