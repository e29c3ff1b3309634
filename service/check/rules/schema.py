"""The schema on the primary: the migration head applied, the tables the API needs present."""

from __future__ import annotations

from collections.abc import Iterator

from service.check.finding import Finding
from service.check.rules.view import View

_MIGRATE = "run `switchyard migrate` (it uses DATABASE_MIGRATION_URL, the direct primary)"


def findings(view: View) -> Iterator[Finding]:
    primary = view.primary
    if primary is None:
        return  # no writable node: said elsewhere, and the schema is the primary's
    d = view.deployment
    heads = set(d.migration_heads)
    revisions = primary.alembic_revisions
    if primary.alembic_error is not None:
        yield Finding(
            severity="warning",
            node=primary.name,
            code="schema.unreadable",
            message=f"the revision is unknown: {primary.alembic_error}",
            action="GRANT SELECT ON alembic_version to this role, or check as the migration user",
        )
    elif revisions is None:
        yield Finding(
            severity="error",
            node=primary.name,
            code="schema.unmigrated",
            message=f"{primary.name} has no alembic_version table: no migration was ever applied",
            action=_MIGRATE,
        )
    elif set(revisions) != heads:
        unknown = sorted(set(revisions) - set(d.known_revisions))
        if unknown:
            yield Finding(
                severity="error",
                node=primary.name,
                code="schema.unknown_revision",
                message=(
                    f"{primary.name} is at revision {', '.join(unknown)}, which this code does "
                    f"not know (its head is {', '.join(sorted(heads))}): newer code migrated it"
                ),
                action="deploy the code that matches the database, or restore the schema",
            )
        else:
            yield Finding(
                severity="error",
                node=primary.name,
                code="schema.behind",
                message=(
                    f"{primary.name} is at revision {', '.join(revisions) or '(none)'}, the "
                    f"code's head is {', '.join(sorted(heads))}"
                ),
                action=_MIGRATE,
            )
    missing = [t for t in d.required_tables if t not in primary.tables]
    if missing:
        yield Finding(
            severity="error",
            node=primary.name,
            code="schema.missing_tables",
            message=f"{primary.name} lacks the tables {', '.join(missing)}: the API cannot work",
            action=_MIGRATE,
        )
    yield from _privileges(view)


# What the API does on each kind of node: reads everywhere, upserts on the primary.
_NEEDED = {True: ("SELECT",), False: ("SELECT", "INSERT", "UPDATE")}


def _privileges(view: View) -> Iterator[Finding]:
    for node in [n for n in (view.primary, *view.standbys) if n is not None]:
        needed = _NEEDED[bool(node.in_recovery)]
        lacking = [f"{p} on {t}" for t, p in node.missing_privileges if p in needed]
        if lacking:
            yield Finding(
                severity="error",
                node=node.name,
                code="schema.privileges",
                message=f"this role may not {', '.join(lacking)}: those requests will fail",
                action=f"GRANT {', '.join(needed)} ON {', '.join(view.deployment.required_tables)}"
                " TO the service's role",
            )
