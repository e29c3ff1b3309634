"""What the code expects of the schema: the migration heads and every revision it knows."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from service.migrate import alembic_config

# The tables the API reads and writes (DESIGN: "Tables").
REQUIRED_TABLES = ("customers", "orders")


def revisions() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(heads, all known revisions) of the migrations shipped with this code."""
    # The same migrations folder `switchyard migrate` applies; the URL is never used here.
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/"))
    known = tuple(rev.revision for rev in script.walk_revisions())
    return tuple(script.get_heads()), known
