"""Every error as application/problem+json (RFC 9457) with a stable `type`: one way to build one.

`Problem` is the one exception every part of the service raises for a problem response; the
ProblemDetailsPlugin renders it (and turns Litestar's own HTTP exceptions into the same shape).
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE

PROBLEM_BASE = "urn:switchyard:problem:"


class Problem(ProblemDetailsException):
    """A problem response: subclasses fix `slug`, `title_text` and `status`."""

    slug: ClassVar[str] = "error"
    title_text: ClassVar[str] = "Error"
    status: int = 500

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        slug: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        super().__init__(
            detail=detail,
            status_code=self.status,
            headers=headers,
            extra=extra,
            type_=PROBLEM_BASE + (slug or self.slug),
            title=title or self.title_text,
        )


class InvalidRequest(Problem):
    slug = "invalid-request"
    title_text = "Invalid request"
    status = 400


class InvalidHeader(Problem):
    slug = "invalid-header"
    title_text = "Invalid request header"
    status = 400

    def __init__(self, header: str, detail: str) -> None:
        super().__init__(f"{header}: {detail}", extra={"header": header})
        self.header = header


class NotFound(Problem):
    slug = "not-found"
    title_text = "Not found"
    status = 404


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> Problem:
    """A one-off problem a handler raises where no class of its own is worth having."""
    return Problem(detail, status=status, slug=slug, title=title, extra=extra or None)


def invalid_field(field: str, detail: str, status: int = 400) -> Problem:
    return InvalidRequest(f"{field}: {detail}", status=status, extra={"field": field})


def not_found(what: str) -> Problem:
    return NotFound(f"{what} does not exist")


def _from_http_exception(
    exc: HTTPException, max_body_bytes: int | None = None
) -> ProblemDetailsException:
    if isinstance(exc, ValidationException):
        errors = exc.extra if isinstance(exc.extra, list) else []
        fields = [e.get("key") for e in errors if isinstance(e, dict) and e.get("key")]
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        message = first.get("message") or exc.detail
        detail = f"{fields[0]}: {message}" if fields else str(message)
        return InvalidRequest(
            detail,
            status=exc.status_code,
            extra={"field": fields[0] if fields else None, "errors": errors},
        )
    if isinstance(exc, NotFoundException):
        return NotFound(exc.detail)
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the body may be at most {max_body_bytes} bytes; split the request"
            if max_body_bytes
            else "the body is larger than this service accepts; split the request",
            limit=max_body_bytes,
        )
    return Problem(
        exc.detail, status=exc.status_code, slug="http-error", title=exc.detail, headers=exc.headers
    )


def problem_details_plugin(max_body_bytes: int | None = None) -> ProblemDetailsPlugin:
    """`max_body_bytes`: the app's body limit, named in its 413 problem."""
    to_problem = functools.partial(_from_http_exception, max_body_bytes=max_body_bytes)
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: to_problem})
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """An unexpected exception (a bug) as a 500 problem; its traceback is logged under the
    response's X-Request-ID (service.api.request_id), which the detail points to."""
    unexpected = problem(
        500,
        "internal-error",
        "Internal server error",
        "the service failed unexpectedly; report the X-Request-ID of this response",
    )
    return unexpected.to_response(request)
