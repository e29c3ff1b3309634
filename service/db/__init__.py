"""The routing core: nodes, intent, routed sessions, and the Litestar plugin that wires them."""

from litestar.di import NamedDependency

from service.db.plugin import SwitchyardPlugin
from service.db.routing import Intent
from service.db.session import DbSession

# What a handler declares to get a routed session: `async def h(db: Db) -> ...`.
Db = NamedDependency[DbSession]

__all__ = ["Db", "DbSession", "Intent", "SwitchyardPlugin"]
