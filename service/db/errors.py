"""What can go wrong on the way to a node, as problem+json errors the plugin renders itself."""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar.plugins.problem_details import ProblemDetailsException
from sqlalchemy.exc import DBAPIError

# What a wait on a node can raise: through SQLAlchemy, or straight from asyncpg on the fast
# read path.
DRIVER_ERRORS = (DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError, OSError)

PROBLEM_BASE = "urn:switchyard:problem:"

# SQLSTATE classes that mean the node, not the request, is at fault.
# Connection exceptions, and the node-level operator interventions (57P01-57P05: shutdown,
# crash, cannot connect now...). Not 57014: a cancelled statement is the statement's fault.
_CONNECTION_CLASSES = ("08", "57P")
_READ_ONLY_VIOLATION = "25006"
_RECOVERY_CONFLICT = "40001"
_CANNOT_CONNECT_NOW = "57P03"


class DatabaseProblem(ProblemDetailsException):
    slug = "database-error"
    title_text = "Database error"
    status = 500

    def __init__(
        self,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail=detail,
            status_code=self.status,
            headers=headers,
            extra=extra,
            type_=PROBLEM_BASE + self.slug,
            title=self.title_text,
        )


class NodeUnavailableError(DatabaseProblem):
    """A node could not serve the request in time: refused, hung, restarting or shut down."""

    slug = "database-unavailable"
    title_text = "Database unavailable"
    status = 503

    def __init__(
        self, node: str, reason: str, retry_after: int = 1, *, node_fault: bool = True
    ) -> None:
        super().__init__(
            f"node {node!r} could not serve the request: {reason}; retry later",
            headers={"Retry-After": str(retry_after)},
            extra={"node": node},
        )
        self.node = node
        # False when the failure says nothing new about the node's health (busy pool, one
        # slow statement, a recovery conflict, a node already marked down): no ban for it.
        self.node_fault = node_fault


class NoNodeAvailableError(DatabaseProblem):
    slug = "no-node-available"
    title_text = "No database node available"
    status = 503

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ReadOnlyViolationError(DatabaseProblem):
    """A handler tried to write inside a read session: a bug in the handler, not in the input."""

    slug = "write-in-read-session"
    title_text = "Write attempted in a read-only session"
    status = 500


def sqlstate(exc: BaseException) -> str | None:
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    value = getattr(orig, "sqlstate", None)
    return value if isinstance(value, str) else None


def is_node_failure(exc: BaseException) -> bool:
    """Whether an error means the node (or the way to it) failed rather than the statement."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        code = sqlstate(exc)
        if code is None:
            # Driver-level errors with no SQLSTATE: the connection broke or never opened.
            return (
                isinstance(exc.orig, (OSError, ConnectionError))
                or "connection" in str(exc.orig).lower()
            )
        return code.startswith(_CONNECTION_CLASSES) or code == _RECOVERY_CONFLICT
    if isinstance(exc, asyncpg.PostgresError):
        code = str(exc.sqlstate)
        return code.startswith(_CONNECTION_CLASSES) or code == _RECOVERY_CONFLICT
    return isinstance(
        exc,
        (OSError, TimeoutError, asyncpg.ConnectionDoesNotExistError, asyncpg.InternalClientError),
    )


def translate(exc: BaseException, node: str) -> DatabaseProblem | None:
    """The problem to answer for a database error, or None when it is not ours to judge."""
    code = sqlstate(exc)
    if code == _READ_ONLY_VIOLATION:
        return ReadOnlyViolationError(
            f"the handler tried to write while its session on {node!r} is read-only; "
            "mark the route as a write (opt={'db_intent': 'write'}) or use an unsafe method"
        )
    if is_node_failure(exc):
        reason = (
            "recovery conflict on the standby"
            if code == _RECOVERY_CONFLICT
            else (
                "the node is starting up or shutting down"
                if code == _CANNOT_CONNECT_NOW
                else "connection failed"
            )
        )
        return NodeUnavailableError(node, reason, node_fault=code != _RECOVERY_CONFLICT)
    return None


class CommitFailedError(DatabaseProblem):
    """COMMIT did not succeed: nothing was written, or (connection lost) the outcome is unknown."""

    slug = "commit-failed"
    title_text = "The transaction could not be committed"
    status = 503

    def __init__(self, node: str, reason: str, status: int = 503) -> None:
        self.status = status
        headers = {"Retry-After": "1"} if status == 503 else None
        super().__init__(f"COMMIT on {node!r} failed: {reason}", headers=headers)

    @classmethod
    def from_error(cls, exc: DBAPIError, node: str) -> CommitFailedError:
        if is_node_failure(exc):
            return cls(node, "the connection was lost; the write may or may not have been applied")
        # Deferred constraints and serialization failures: nothing was written; retry may pass.
        return cls(node, f"rejected by the database (SQLSTATE {sqlstate(exc)})", status=409)


class ConstraintViolationError(DatabaseProblem):
    """The statement broke a constraint: a conflict (unique) or an invalid reference/value."""

    slug = "constraint-violation"
    title_text = "Constraint violation"

    def __init__(self, status: int, constraint: str | None, detail: str) -> None:
        self.status = status
        super().__init__(detail, extra={"constraint": constraint})


_UNIQUE, _FOREIGN_KEY, _CHECK, _NOT_NULL = "23505", "23503", "23514", "23502"
QUERY_CANCELED = "57014"


class StatementTimeoutError(DatabaseProblem):
    """The server cancelled a statement at its statement_timeout (or an operator did)."""

    slug = "statement-timeout"
    title_text = "Statement timed out"
    status = 504

    def __init__(self, node: str) -> None:
        super().__init__(
            f"the statement on {node!r} ran past its statement timeout and was cancelled",
            extra={"node": node},
        )


def statement_problem(exc: DBAPIError, node: str) -> DatabaseProblem | None:
    """409 for a unique violation, 422 for a broken reference, check or NOT NULL, 504 for a
    statement the server cancelled."""
    code = sqlstate(exc)
    if code == QUERY_CANCELED:
        return StatementTimeoutError(node)
    constraint = getattr(exc.orig.__cause__, "constraint_name", None) if exc.orig else None
    if code == _UNIQUE:
        return ConstraintViolationError(
            409, constraint, f"conflicts with an existing row ({constraint})"
        )
    if code in (_FOREIGN_KEY, _CHECK, _NOT_NULL):
        return ConstraintViolationError(422, constraint, f"violates {constraint or 'a constraint'}")
    return None
