"""Database URL handling: one accepted spelling for the engine, and no password in any output."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_ASYNC_DRIVER = "postgresql+asyncpg"
_ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+asyncpg"}


class InvalidURLError(ValueError):
    pass


def parse_url(url: str) -> URL:
    """Parse a PostgreSQL URL into SQLAlchemy's form with the asyncpg driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidURLError("not a URL (expected postgresql://user@host:port/dbname)")
    if scheme not in _ACCEPTED_SCHEMES:
        raise InvalidURLError(
            f"unsupported scheme {scheme!r} (use postgresql://, postgres:// or postgresql+asyncpg://)"
        )
    try:
        parsed = make_url(f"{_ASYNC_DRIVER}://{rest}")
    except (ArgumentError, ValueError):
        raise InvalidURLError("malformed URL") from None
    if not parsed.host and "host" not in parsed.query:
        raise InvalidURLError("the URL names no host")
    return parsed


def normalise_url(url: str) -> str:
    """`postgres://` and `postgresql://` become `postgresql+asyncpg://`; the rest is kept."""
    return parse_url(url).render_as_string(hide_password=False)


def redact_url(url: str) -> str:
    """The URL with any password replaced by `***`, safe for logs, errors and health output."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # Unparseable, so there is no telling where a password would be: show the scheme only.
        scheme, sep, _ = url.partition("://")
        return f"{scheme}://***" if sep else "***"
