"""Connection failures in plain words (tests/integration/test_check.py raises the real ones)."""

from __future__ import annotations

import socket
import ssl

import asyncpg

from service.check.errors import action_for, classify


def test_each_failure_gets_its_kind_and_a_remedy() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    cases = {
        TimeoutError(): "timeout",
        ConnectionRefusedError(111, "Connection refused"): "refused",
        socket.gaierror(-2, "Name or service not known"): "host",
        cert: "certificate",
        asyncpg.InvalidPasswordError("password authentication failed"): "authentication",
        asyncpg.InvalidCatalogNameError('database "x" does not exist'): "database",
        ConnectionError("PostgreSQL server at 127.0.0.1 rejected SSL upgrade"): "tls",
        asyncpg.CannotConnectNowError("the database system is starting up"): "not_accepting",
        asyncpg.TooManyConnectionsError("sorry, too many clients already"): "full",
        RuntimeError("something else"): "other",
    }
    for exc, kind in cases.items():
        assert classify(exc)[0] == kind, exc
        assert action_for(kind)
    assert "self-signed" in classify(cert)[1]
