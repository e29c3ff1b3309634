"""Analytics: named reports in plain SQL with bound parameters, run on replicas.

A report is one `text()` statement, a msgspec Struct that declares and validates its
parameters, a row shape, a server-enforced statement timeout and a row limit. `REPORTS` holds
the built-in ones; tests and other modules may register more.
"""

from service.analytics.execution import ReportTimeoutError, run_report
from service.analytics.params import ParamError, ReportParams
from service.analytics.registry import Registry, Report
from service.analytics.reports import REPORTS

__all__ = [
    "REPORTS",
    "ParamError",
    "Registry",
    "Report",
    "ReportParams",
    "ReportTimeoutError",
    "run_report",
]
