"""What `switchyard check` prints and logs, from findings built by hand."""

from __future__ import annotations

import logging

import msgspec
import pytest

from service.check.render import as_json, line, text
from service.check.run import Report
from service.check.startup import log_findings
from tests.unit.check_facts import deployment, findings, primary, replica


def broken() -> Report:
    nodes = [primary(alembic_revisions=None), replica(apply_delay_ms=1500)]
    return Report(deployment=deployment(), nodes=nodes, findings=findings(nodes))


def test_text_is_one_line_per_finding_with_its_remedy_under_it_and_a_verdict() -> None:
    report = broken()
    lines = text(report).splitlines()
    assert lines[0].startswith("ERROR primary    primary has no alembic_version table")
    assert lines[1].strip().startswith("-> run `switchyard migrate`")
    assert any(x.startswith("WARN  replica-1  applies WAL 1500 ms late") for x in lines)
    assert lines[-1] == (
        "switchyard check: 2/2 nodes reachable, 1 error(s), 1 warning(s): "
        "will not work as configured"
    )
    info = next(f for f in report.findings if f.severity == "info")
    assert "\n" not in line(info)  # information has no remedy line


def test_json_carries_status_nodes_and_findings() -> None:
    body = msgspec.json.decode(as_json(broken()))
    assert body["status"] == 2
    assert [n["name"] for n in body["nodes"]] == ["primary", "replica-1"]
    assert body["nodes"][0]["system_identifier"] == "7000000000000000001"  # text, exact
    first = body["findings"][0]
    assert set(first) == {"severity", "node", "code", "message", "action"}
    assert first["code"] == "schema.unmigrated"


def test_log_findings_logs_problems_at_their_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="switchyard.check")
    log_findings(broken().findings)
    levels = {r.levelname for r in caplog.records}
    assert levels == {"ERROR", "WARNING"}  # information stays at DEBUG
    assert any("[replication.apply_delay] replica-1" in r.getMessage() for r in caplog.records)
