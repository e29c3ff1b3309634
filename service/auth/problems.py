"""401 and 403 as problem+json, with the RFC 6750 `WWW-Authenticate: Bearer` challenge.

The detail says only "missing", "unknown" or which scope is lacking: nothing that helps a
guesser, and never the token or its digest.
"""

from __future__ import annotations

from litestar.plugins.problem_details import ProblemDetailsException

from service.db.errors import PROBLEM_BASE

REALM = 'Bearer realm="switchyard"'


def unauthorized(reason: str) -> ProblemDetailsException:
    """`reason`: "missing" or "unknown"."""
    challenge = REALM if reason == "missing" else f'{REALM}, error="invalid_token"'
    return ProblemDetailsException(
        status_code=401,
        type_=PROBLEM_BASE + "unauthorized",
        title="Unauthorized",
        detail=f"{reason} bearer token (send Authorization: Bearer <token>)",
        headers={"WWW-Authenticate": challenge},
    )


def forbidden(scope: str) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=403,
        type_=PROBLEM_BASE + "forbidden",
        title="Forbidden",
        detail=f"the token lacks scope {scope!r}",
        headers={"WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'},
        extra={"scope": scope},
    )
