"""What a session is for: it decides which node may serve it and how it is opened."""

from __future__ import annotations

import enum

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Intent(enum.Enum):
    WRITE = "write"  # the primary, in a read-write transaction
    READ = "read"  # a serving replica, else the primary when fallback allows
    STRONG_READ = "strong_read"  # the primary, read-only
