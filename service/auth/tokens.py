"""Tokens are never stored: the configuration holds the hex SHA-256 of each, and a request's
token is hashed and compared against every configured digest in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

# A prefix that secret scanners (and people) recognise in a leaked log or commit.
TOKEN_PREFIX = "sy_"
# Far above any token we mint; a longer header is not worth hashing.
MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    """Who a request is: the token's name (safe to log) and what it may do."""

    name: str
    scopes: frozenset[str]

    def __repr__(self) -> str:
        return f"TokenIdentity(name={self.name!r}, scopes={sorted(self.scopes)})"


@dataclass(frozen=True, slots=True)
class _Entry:
    digest: bytes
    identity: TokenIdentity

    def __repr__(self) -> str:  # the digest stays out of reprs, logs and tracebacks
        return f"_Entry({self.identity!r})"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh token: 256 bits from the OS's CSPRNG."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenTable:
    __slots__ = ("_entries",)

    def __init__(self, tokens: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        """`tokens`: (name, hex sha256, scopes) for each configured token."""
        self._entries = tuple(
            _Entry(bytes.fromhex(sha256), TokenIdentity(name, frozenset(scopes)))
            for name, sha256, scopes in tokens
        )

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TokenTable({[e.identity.name for e in self._entries]})"

    def identify(self, token: str) -> TokenIdentity | None:
        """The token's identity, or None. Every digest is compared, whichever matches, so the
        time taken says nothing about how close a guess came or which entry it hit."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.identity
        return found
