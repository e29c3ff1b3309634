"""The check at start-up: findings into the log and into `/health/db`.

It runs beside the service rather than before it (a hung node would hold start-up for a
connect timeout), and it never stops the service: it tells the operator what will go wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager

from litestar import Litestar

from service.check.finding import Finding
from service.check.run import run_checks
from service.settings import Settings

FINDINGS_KEY = "check_findings"

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


def startup_check(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that runs the check once in the background and keeps its findings on
    `app.state` (under FINDINGS_KEY) for `/health/db`."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async def run() -> None:
            try:
                findings = await run_checks(settings, workers=settings.server.workers)
            except Exception:  # the check must never take the service down
                LOGGER.exception("the start-up check failed")
                return
            log_findings(findings)
            app.state[FINDINGS_KEY] = findings

        task = asyncio.create_task(run(), name="switchyard-startup-check")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
