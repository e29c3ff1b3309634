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
    if revisions is None:
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
