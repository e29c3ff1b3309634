"""The routing core: nodes, intent, routed sessions, and the Litestar plugin that wires them.

These names are the core's public surface; the API, analytics and other apps use only them.
"""

from contextlib import AbstractAsyncContextManager
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from service.db.intent import Intent
from service.db.lsn import format_lsn, parse_lsn
from service.db.plugin import PLUGIN_KEY, STATE_KEY, SwitchyardPlugin
from service.db.problems import DatabaseProblem, StatementTimeoutError
from service.db.query import ReadQuery
from service.db.session import DbSession
from service.db.snapshot import HealthSnapshot, NodeSnapshot, snapshot

# What a handler declares to get a routed session: `async def h(db: Db) -> ...`, or an ORM
# session on the same routed connection: `async def h(orm: Orm) -> ...`.
Db = NamedDependency[DbSession]
Orm = NamedDependency[AsyncSession]


def routed_session(request: Request[Any, Any, Any]) -> AbstractAsyncContextManager[DbSession]:
    """The request's routed session (what `db: Db` gets), for an app's own provider that must
    run something first, e.g. validate input before a connection is checked out."""
    plugin: SwitchyardPlugin = request.app.state[PLUGIN_KEY]
    return plugin.request_session(request)


def health_snapshot(state: State) -> HealthSnapshot:
    """What the monitor knows now, from the app's state (no I/O: it never opens a connection)."""
    return snapshot(state[STATE_KEY])


__all__ = [
    "DatabaseProblem",
    "Db",
    "DbSession",
    "HealthSnapshot",
    "Intent",
    "NodeSnapshot",
    "Orm",
    "ReadQuery",
    "StatementTimeoutError",
    "SwitchyardPlugin",
    "format_lsn",
    "health_snapshot",
    "parse_lsn",
    "routed_session",
]
