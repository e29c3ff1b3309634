"""The problem responses of the routing core, and the translation of database errors into them."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from service.db import sqlstate as codes
from service.db.failure import FailureKind
from service.problems import Problem


class DatabaseProblem(Problem):
    slug = "database-error"
    title_text = "Database error"


class NodeUnavailableError(DatabaseProblem):
    """A node could not serve the request in time: refused, hung, restarting or shut down."""

    slug = "database-unavailable"
    title_text = "Database unavailable"
    status = 503

    def __init__(
        self, node: str, kind: FailureKind, reason: str | None = None, retry_after: int = 1
    ) -> None:
        super().__init__(
            f"node {node!r} could not serve the request: {reason or kind.value}; retry later",
            headers={"Retry-After": str(retry_after)},
            extra={"node": node},
        )
        self.node = node
        self.kind = kind


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


class CommitFailedError(DatabaseProblem):
    """COMMIT did not succeed: nothing was written, or (connection lost) the outcome is unknown."""

    slug = "commit-failed"
    title_text = "The transaction could not be committed"
    status = 503

    def __init__(self, node: str, reason: str, status: int = 503) -> None:
        headers = {"Retry-After": "1"} if status == 503 else None
        super().__init__(f"COMMIT on {node!r} failed: {reason}", status=status, headers=headers)

    @classmethod
    def from_error(cls, exc: DBAPIError, node: str) -> CommitFailedError:
        if codes.node_failure(exc) is not None:
            return cls(node, "the connection was lost; the write may or may not have been applied")
        # Deferred constraints and serialization failures: nothing was written; retry may pass.
        return cls(node, f"rejected by the database (SQLSTATE {codes.sqlstate(exc)})", status=409)


class ConstraintViolationError(DatabaseProblem):
    """The statement broke a constraint: a conflict (unique) or an invalid reference/value."""

    slug = "constraint-violation"
    title_text = "Constraint violation"

    def __init__(self, status: int, constraint: str | None, detail: str) -> None:
        super().__init__(detail, status=status, extra={"constraint": constraint})


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


def translate(exc: BaseException, node: str) -> DatabaseProblem | None:
    """The problem to answer for a database error that is not the statement's own fault."""
    if codes.sqlstate(exc) == codes.READ_ONLY_VIOLATION:
        return ReadOnlyViolationError(
            f"the handler tried to write while its session on {node!r} is read-only; "
            "mark the route as a write (opt={'db_intent': 'write'}) or use an unsafe method"
        )
    kind = codes.node_failure(exc)
    return None if kind is None else NodeUnavailableError(node, kind)


def statement_problem(exc: BaseException, node: str) -> DatabaseProblem | None:
    """409 for a unique violation, 422 for a broken reference, check or NOT NULL, 504 for a
    statement the server cancelled. `exc` is SQLAlchemy's error or the driver's own (a read
    run straight on the asyncpg connection)."""
    code = codes.sqlstate(exc)
    if code == codes.QUERY_CANCELED:
        return StatementTimeoutError(node)
    driver_error = exc.orig.__cause__ if isinstance(exc, DBAPIError) and exc.orig else exc
    constraint = getattr(driver_error, "constraint_name", None)
    if code == codes.UNIQUE:
        return ConstraintViolationError(
            409, constraint, f"conflicts with an existing row ({constraint})"
        )
    if code in (codes.FOREIGN_KEY, codes.CHECK, codes.NOT_NULL):
        return ConstraintViolationError(422, constraint, f"violates {constraint or 'a constraint'}")
    return None
