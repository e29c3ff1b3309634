"""Probe every configured node at once, then judge what was found."""

from __future__ import annotations

import asyncio

import msgspec

from service.analytics import REPORTS
from service.check.collect import collect
from service.check.facts import Deployment, NodeFacts
from service.check.finding import Finding
from service.check.rules import evaluate
from service.check.rules.migration import MIGRATION
from service.check.schema_head import REQUIRED_TABLES, revisions
from service.settings import NodeSettings, Settings

# Per statement on an already-open connection; the connect has the node's own timeout.
STATEMENT_TIMEOUT = 2.0


class Report(msgspec.Struct, frozen=True, kw_only=True):
    deployment: Deployment
    nodes: list[NodeFacts]
    findings: list[Finding]
    migration: NodeFacts | None = None  # DATABASE_MIGRATION_URL, when not the primary's URL


def deployment_of(settings: Settings, workers: int | None, instances: int) -> Deployment:
    heads, known = revisions()
    return Deployment(
        workers=workers or settings.server.workers,
        instances=instances,
        migration_heads=heads,
        known_revisions=known,
        required_tables=REQUIRED_TABLES,
        longest_report_timeout=max((r.timeout for r in REPORTS), default=0.0),
    )


def migration_target(settings: Settings) -> NodeSettings | None:
    """The migration URL as a node of its own, when it is not simply the primary's URL."""
    database = settings.database
    if not database.migration_url or database.migration_url == database.primary.url:
        return None
    return NodeSettings(name=MIGRATION, url=database.migration_url, pool=database.primary.pool)


async def gather_facts(
    settings: Settings, timeout: float = STATEMENT_TIMEOUT
) -> tuple[list[NodeFacts], NodeFacts | None]:
    """Every configured node's facts, and the migration URL's (None when it is the primary's)."""
    database = settings.database
    probes = [collect(database.primary, "primary", REQUIRED_TABLES, timeout)]
    probes += [collect(node, "replica", REQUIRED_TABLES, timeout) for node in database.replicas]
    if (target := migration_target(settings)) is not None:
        probes.append(collect(target, "primary", REQUIRED_TABLES, timeout))
    facts = list(await asyncio.gather(*probes))
    if target is None:
        return facts, None
    return facts[:-1], facts[-1]


async def check(settings: Settings, *, workers: int | None = None, instances: int = 1) -> Report:
    deployment = deployment_of(settings, workers, instances)
    nodes, migration = await gather_facts(settings)
    return Report(
        deployment=deployment,
        nodes=nodes,
        migration=migration,
        # Off the event loop: comparing a standby's upstream with the nodes may resolve names.
        findings=await asyncio.to_thread(evaluate, nodes, settings, deployment, migration),
    )


async def run_checks(
    settings: Settings, *, workers: int | None = None, instances: int = 1
) -> list[Finding]:
    """Everything wrong with the configured topology, errors first.

    For start-up: `workers` defaults to `server.workers`; never raises for a node that is
    down (that is a finding), and takes at most about connect timeout + a few statements.
    """
    return (await check(settings, workers=workers, instances=instances)).findings
