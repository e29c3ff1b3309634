"""A failed connection, said in plain words: what happened and what to do about it."""

from __future__ import annotations

import socket
import ssl

import asyncpg

from service.check.facts import ErrorKind

_ACTIONS: dict[ErrorKind, str] = {
    "refused": "start the server, or fix the host and port in its URL",
    "timeout": (
        "the server accepted the connection but did not answer: check that it is not frozen, "
        "overloaded or behind a firewall that drops packets"
    ),
    "authentication": "fix the user or password in its URL, or the server's pg_hba.conf",
    "certificate": (
        "give the client the CA that signed the server's certificate (sslrootcert), or fix the "
        "host name the certificate is checked against"
    ),
    "tls": "match the URL's sslmode to what the server offers (ssl = on in postgresql.conf)",
    "database": "create the database, or fix the database name at the end of its URL",
    "host": "fix the host name in its URL (DNS does not know it)",
    "not_accepting": (
        "wait while it starts or recovers; on a standby that never accepts sessions, set "
        "hot_standby = on"
    ),
    "full": "find what holds the connections (pg_stat_activity), or raise max_connections",
    "query": (
        "the check needs PostgreSQL 13 or later; the message names what this role could not "
        "read (pg_monitor grants most of it)"
    ),
    "other": "read the server's log for the reason",
}


def action_for(kind: ErrorKind) -> str:
    return _ACTIONS[kind]


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """The kind of failure and a sentence a person can read; never includes a password."""
    detail = str(exc).strip() or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return "timeout", "timed out: no answer within the connect timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "refused: nothing listens on that address"
    if isinstance(exc, socket.gaierror):
        return "host", f"unknown host: {detail}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "certificate", f"certificate rejected: {exc.verify_message or detail}"
    if isinstance(exc, ssl.SSLError):
        return "tls", f"TLS failed: {detail}"
    if isinstance(
        exc, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
    ):
        return "authentication", f"authentication failed: {detail}"
    if isinstance(exc, asyncpg.CannotConnectNowError):
        return "not_accepting", f"not accepting sessions: {detail}"
    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return "full", f"no connection slot left: {detail}"
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return "database", f"unknown database: {detail}"
    if isinstance(exc, OSError) and exc.errno is not None:
        return "refused" if "refused" in detail.lower() else "other", detail
    if "certificate" in detail.lower():  # e.g. asyncpg: the root certificate file is missing
        return "certificate", f"certificate problem: {detail}"
    if "ssl" in detail.lower():  # asyncpg: "rejected SSL upgrade" when the server has no TLS
        return "tls", f"TLS failed: {detail}"
    return "other", detail
