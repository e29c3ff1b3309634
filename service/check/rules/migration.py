"""The migration URL: it must reach the primary itself, in a session of its own.

Alembic holds locks and runs DDL in one transaction per migration, and `switchyard migrate`
always uses DATABASE_MIGRATION_URL: a URL through transaction pooling, to a standby or to
another cluster fails there, usually on the day of a deploy.
"""

from __future__ import annotations

from collections.abc import Iterator

from service.check.errors import action_for
from service.check.finding import Finding
from service.check.rules.view import View

MIGRATION = "migration"
_FIX = "point DATABASE_MIGRATION_URL (database.migration_url) at the primary itself"


def findings(view: View) -> Iterator[Finding]:
    target = view.migration
    if target is None:
        return
    if not target.reachable:
        assert target.error_kind is not None
        yield Finding(
            severity="error",
            node=MIGRATION,
            code="migration.unreachable",
            message=f"migrations cannot connect to {target.address}: {target.error}",
            action=action_for(target.error_kind),
        )
        return
    cluster = view.election.memory.cluster_id
    problem: str | None = None
    if cluster is not None and target.system_identifier != str(cluster):
        problem = f"reaches another cluster (system identifier {target.system_identifier})"
    elif target.in_recovery:
        problem = "reaches a standby: every migration would fail as read-only"
    elif target.transaction_pooling:
        problem = (
            "goes through transaction pooling: a migration's locks and session would be "
            "split over server connections"
        )
    if problem is not None:
        yield Finding(
            severity="error",
            node=MIGRATION,
            code="migration.not_primary",
            message=f"the migration URL {target.address} {problem}",
            action=_FIX,
        )
