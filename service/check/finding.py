"""A finding: one thing `switchyard check` has to say, with what to do about it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
# Exit statuses a script can branch on: fine, warnings only, at least one error.
EXIT_STATUS: dict[Severity, int] = {"info": 0, "warning": 1, "error": 2}
# A finding about the deployment as a whole rather than one node.
CLUSTER = "*"


class Finding(msgspec.Struct, frozen=True, kw_only=True):
    severity: Severity
    node: str
    code: str
    message: str
    action: str = ""


def exit_status(findings: Iterable[Finding]) -> int:
    return max((EXIT_STATUS[f.severity] for f in findings), default=0)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then information; stable within each."""
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
