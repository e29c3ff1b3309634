"""`switchyard check`: the configured topology and everything wrong with it, in one screen.

Facts come from each node over short-lived connections of the check's own (`collect`); pure
rules turn them into findings (`rules`); `render` prints them. `run_checks` is the entry
point for start-up.
"""

from service.check.finding import Finding, Severity, exit_status
from service.check.run import check, run_checks
from service.check.startup import FINDINGS_KEY, log_findings, startup_check

__all__ = [
    "FINDINGS_KEY",
    "Finding",
    "Severity",
    "check",
    "exit_status",
    "log_findings",
    "run_checks",
    "startup_check",
]
