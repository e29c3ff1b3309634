"""Database URL handling: one accepted spelling for the engine, no password in any output,
and one reading of a URL's TLS arguments for the pools, the probe and the migrations."""

from __future__ import annotations

import functools
import re
import ssl
from typing import Any

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


# libpq's sslmode values; asyncpg's `ssl` query argument takes the same words, or true/false.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_SSL_BOOLEANS = {"true": "require", "on": "require", "1": "require", "false": "disable",
                 "off": "disable", "0": "disable"}  # fmt: skip
_TLS_KEYS = ("sslmode", "ssl", "sslrootcert", "sslcert", "sslkey")


def asyncpg_connect_args(url: str) -> tuple[str, dict[str, Any]]:
    """Split a URL into the URL without its TLS arguments and asyncpg's `ssl` argument.

    `sslmode=verify-full` checks the chain and the host name, `verify-ca` the chain only,
    `require` encrypts without checking, unless `sslrootcert` names a CA (libpq then checks
    the chain, and so do we). `sslrootcert` absent: the system's trust store. `sslcert` and
    `sslkey` give a client certificate. `ssl=<mode>` or `ssl=true` is asyncpg's spelling of
    the same. Raises InvalidURLError (never showing the URL) for what cannot work.
    """
    parsed = parse_url(url)
    query = dict(parsed.query)
    given = {key: _one(query.pop(key)) for key in _TLS_KEYS if key in query}
    clean = parsed.set(query=query).render_as_string(hide_password=False)
    if not given:
        return clean, {}
    mode = _mode(given.get("sslmode"), given.get("ssl"))
    if mode == "disable":
        return clean, {"ssl": False}
    if mode in ("allow", "prefer"):
        return clean, {"ssl": mode}  # asyncpg's own fallback; nothing to verify
    rootcert, cert, key = given.get("sslrootcert"), given.get("sslcert"), given.get("sslkey")
    if mode == "require" and rootcert:
        mode = "verify-ca"
    return clean, {"ssl": _context(mode, rootcert, cert, key)}


def _one(value: str | tuple[str, ...]) -> str:
    return value if isinstance(value, str) else value[-1]


def _mode(sslmode: str | None, ssl_arg: str | None) -> str:
    modes = set()
    if sslmode is not None:
        if sslmode not in SSL_MODES:
            raise InvalidURLError(f"sslmode={sslmode!r} is not one of {', '.join(SSL_MODES)}")
        modes.add(sslmode)
    if ssl_arg is not None:
        word = _SSL_BOOLEANS.get(ssl_arg.lower(), ssl_arg)
        if word not in SSL_MODES:
            raise InvalidURLError(f"ssl={ssl_arg!r} is not true, false or an sslmode")
        modes.add(word)
    if len(modes) > 1:
        raise InvalidURLError(f"sslmode and ssl disagree ({' vs '.join(sorted(modes))})")
    return modes.pop() if modes else "prefer"


@functools.cache
def _context(mode: str, rootcert: str | None, cert: str | None, key: str | None) -> ssl.SSLContext:
    """One context per distinct setting, shared by a node's pool and its probes (the probe
    connects every second: re-reading the CA file each time would be waste)."""
    verify = mode in ("verify-ca", "verify-full")
    try:
        context = (
            ssl.create_default_context(cafile=rootcert)
            if verify
            else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        )
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context.check_hostname = mode == "verify-full"
        if cert:
            context.load_cert_chain(cert, key)
    except FileNotFoundError as exc:
        raise InvalidURLError(f"TLS file not found: {exc.filename or rootcert}") from None
    except (OSError, ssl.SSLError) as exc:
        raise InvalidURLError(f"TLS files unusable (sslrootcert/sslcert/sslkey): {exc}") from None
    return context
