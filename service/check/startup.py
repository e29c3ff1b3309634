"""The check at start-up: findings into the log, for the lifespan to call before serving.

findings = await run_checks(settings)      # never raises for a node that is down
log_findings(findings)                      # warnings and errors, one line each
app.state.check_findings = findings        # e.g. for /health/db
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from service.check.finding import Finding

LOGGER = logging.getLogger("switchyard.check")
_LEVEL = {"error": logging.ERROR, "warning": logging.WARNING, "info": logging.DEBUG}


def log_findings(findings: Iterable[Finding], logger: logging.Logger = LOGGER) -> None:
    for finding in findings:
        action = f" -> {finding.action}" if finding.action else ""
        logger.log(
            _LEVEL[finding.severity],
            "check %s [%s] %s: %s%s",
            finding.severity,
            finding.code,
            finding.node,
            finding.message,
            action,
        )
