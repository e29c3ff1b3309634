"""Every error as application/problem+json (RFC 9457) with a stable `type`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.status_codes import HTTP_413_REQUEST_ENTITY_TOO_LARGE

from service.api.limits import MAX_BODY_BYTES
from service.db.errors import PROBLEM_BASE


def problem(
    status: int, slug: str, title: str, detail: str, **extra: Any
) -> ProblemDetailsException:
    return ProblemDetailsException(
        status_code=status,
        type_=PROBLEM_BASE + slug,
        title=title,
        detail=detail,
        extra=extra or None,
    )


def invalid_field(field: str, detail: str, status: int = 400) -> ProblemDetailsException:
    return problem(status, "invalid-request", "Invalid request", f"{field}: {detail}", field=field)


def not_found(what: str) -> ProblemDetailsException:
    return problem(404, "not-found", "Not found", f"{what} does not exist")


def _from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ValidationException):
        errors = exc.extra if isinstance(exc.extra, list) else []
        fields = [e.get("key") for e in errors if isinstance(e, dict) and e.get("key")]
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        message = first.get("message") or exc.detail
        detail = f"{fields[0]}: {message}" if fields else str(message)
        return ProblemDetailsException(
            status_code=exc.status_code,
            type_=PROBLEM_BASE + "invalid-request",
            title="Invalid request",
            detail=detail,
            extra={"field": fields[0] if fields else None, "errors": errors},
        )
    if isinstance(exc, NotFoundException):
        return problem(404, "not-found", "Not found", exc.detail)
    if exc.status_code == HTTP_413_REQUEST_ENTITY_TOO_LARGE:
        return problem(
            413,
            "body-too-large",
            "Request body too large",
            f"the body may be at most {MAX_BODY_BYTES} bytes; split the request",
            limit=MAX_BODY_BYTES,
        )
    return ProblemDetailsException(
        status_code=exc.status_code,
        type_=PROBLEM_BASE + "http-error",
        title=exc.detail,
        detail=exc.detail,
        headers=exc.headers,
    )


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: _from_http_exception})
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
