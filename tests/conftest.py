"""Suite-wide: say which random order ran, even under `-q` (which hides pytest's header)."""

from __future__ import annotations

import pytest


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if not config.pluginmanager.has_plugin("randomly"):
        return
    seed = config.getoption("randomly_seed", default=None)
    terminalreporter.write_line(f"test order: random, replay it with --randomly-seed={seed}")
