"""The findings rules: pure functions from the nodes' facts to what is wrong with them."""

from __future__ import annotations

from service.check.facts import Deployment, NodeFacts
from service.check.finding import Finding, ordered
from service.check.rules import capacity, migration, nodes, pooler, replication, schema
from service.check.rules.view import View
from service.settings import Settings

_RULES = (nodes, pooler, capacity, schema, migration, replication)


def evaluate(
    facts: list[NodeFacts],
    settings: Settings,
    deployment: Deployment,
    migration_facts: NodeFacts | None = None,
) -> list[Finding]:
    view = View(facts, settings, deployment, migration_facts)
    return ordered(finding for rule in _RULES for finding in rule.findings(view))
