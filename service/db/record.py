"""Where one request's session went: written by the session dependency, read when the
response starts (headers) and by the read re-run."""

from __future__ import annotations

from dataclasses import dataclass

from service.db.intent import Intent

RECORD_KEY = "switchyard.routing"
EXCLUDE_KEY = "switchyard.exclude"


@dataclass(slots=True)
class RoutingRecord:
    intent: Intent
    node: str | None = None
    lsn: str | None = None  # the write's commit position, the client's next token
    sticky_lsn: int | None = None  # the token the client's sticky cookie carried
    staleness: float | None = None  # on a replica: how stale its answer could be, in seconds
    retry_without: str | None = None  # set when a read's node failed: re-run it elsewhere
