"""Database URL handling: one accepted spelling for the engine, and no password in any output."""

from __future__ import annotations

import re

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
    """The URL with every password replaced by `***`, safe for logs, errors and health output.

    Done on the text rather than on a parse: a password with an unencoded `@`, `/` or `?`
    defeats URL parsers (SQLAlchemy's shows what follows its first `@`), and one given as a
    query parameter is not in the userinfo at all. Hiding too much is harmless; too little
    is a leak, so anything that cannot be told apart is hidden.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    at = _end_of_userinfo(rest)
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = user + (":***" if colon else "") + rest[at:]
    elif not _AFTER_USERINFO.fullmatch(rest):
        # No userinfo, and no plain host either (`u:secret` cut short): nothing can be shown.
        return f"{scheme}://***"
    return f"{scheme}://{_SECRET_PARAM.sub(_hide_value, rest)}"


# What may follow the userinfo: hosts with numeric ports, a database name, and a query that
# starts with `name=`.
_HOST = r"(?:\[[0-9A-Fa-f:.]*\]|[^:\[\]/?@,]*)(?::\d*)?"
_AFTER_USERINFO = re.compile(rf"{_HOST}(?:,{_HOST})*(?:/[^?@]*)?(?:\?[\w.-]+=.*)?", re.DOTALL)
_SECRET_PARAM = re.compile(r"([?&](?:ssl)?password=)[^&#]*", re.IGNORECASE)


def _end_of_userinfo(rest: str) -> int:
    """The index of the `@` that ends the userinfo, or -1 when there is none.

    The first `@` after which a plain host, database and query follow: an earlier `@` is
    part of the password, a later one part of the query.
    """
    at = rest.find("@")
    while at >= 0:
        if _AFTER_USERINFO.fullmatch(rest, at + 1):
            return at
        at = rest.find("@", at + 1)
    return rest.rfind("@")  # nothing looks like a host: hide all up to the last `@`


def _hide_value(match: re.Match[str]) -> str:
    return match.group(1) + "***"
