"""`switchyard check` output: one line per finding for people, JSON for scripts."""

from __future__ import annotations

from collections import Counter

import msgspec

from service.check.finding import Finding, exit_status
from service.check.run import Report

_LABEL = {"error": "ERROR", "warning": "WARN ", "info": "info "}


def line(finding: Finding) -> str:
    text = f"{_LABEL[finding.severity]} {finding.node:<10} {finding.message}"
    return f"{text}\n{'':17}-> {finding.action}" if finding.action else text


def summary(report: Report) -> str:
    counts = Counter(f.severity for f in report.findings)
    reachable = sum(1 for n in report.nodes if n.reachable)
    verdict = {0: "fine", 1: "works, with warnings", 2: "will not work as configured"}
    return (
        f"switchyard check: {reachable}/{len(report.nodes)} nodes reachable, "
        f"{counts['error']} error(s), {counts['warning']} warning(s): "
        f"{verdict[exit_status(report.findings)]}"
    )


def text(report: Report) -> str:
    return "\n".join([*(line(f) for f in report.findings), summary(report)])


def as_json(report: Report) -> str:
    body = msgspec.to_builtins(report)
    body["status"] = exit_status(report.findings)
    return msgspec.json.encode(body).decode()
