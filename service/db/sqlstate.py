"""SQLSTATE classification: which database errors mean the node failed, not the statement."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

from service.db.failure import FailureKind

# What a wait on a node can raise: through SQLAlchemy, or straight from asyncpg on the fast
# read path.
DRIVER_ERRORS = (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

# Connection exceptions, and the node-level operator interventions (57P01-57P05: shutdown,
# crash, cannot connect now...). Not 57014: a cancelled statement is the statement's fault.
_CONNECTION_CLASSES = ("08", "57P")
READ_ONLY_VIOLATION = "25006"
RECOVERY_CONFLICT = "40001"
CANNOT_CONNECT_NOW = "57P03"
QUERY_CANCELED = "57014"
UNIQUE, FOREIGN_KEY, CHECK, NOT_NULL = "23505", "23503", "23514", "23502"


def sqlstate(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    value = getattr(orig, "sqlstate", None)
    return value if isinstance(value, str) else None


def node_failure(exc: BaseException) -> FailureKind | None:
    """The way the node (or the path to it) failed, or None when the statement is at fault."""
    code = sqlstate(exc)
    if code == RECOVERY_CONFLICT:
        return FailureKind.RECOVERY_CONFLICT
    if code == CANNOT_CONNECT_NOW:
        return FailureKind.STARTING_OR_STOPPING
    if code is not None:
        return FailureKind.REFUSED if code.startswith(_CONNECTION_CLASSES) else None
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return FailureKind.LOST
        # Driver-level errors with no SQLSTATE: the connection broke or never opened.
        if isinstance(exc.orig, OSError | ConnectionError) or "connection" in str(exc.orig).lower():
            return FailureKind.REFUSED
        return None
    if isinstance(exc, OSError | TimeoutError | asyncpg.InternalClientError):
        return FailureKind.REFUSED
    if isinstance(exc, asyncpg.ConnectionDoesNotExistError):
        return FailureKind.LOST
    return None
