"""Processes seen through /proc and pidfiles: liveness, children, signals, polling.

Servers are found through their own pidfiles rather than remembered pids, because each CLI
invocation is a new process; the /proc checks guard against stale pidfiles and reused pids.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path


def read_pidfile(path: Path) -> int | None:
    """First line of a pidfile (postmaster.pid and pgbouncer's both start with the pid)."""
    try:
        first = path.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name sits in parentheses and may contain spaces: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def proc_state(pid: int) -> str | None:
    """Kernel state letter ('S', 'R', 'T' for stopped, ...) or None for gone or zombie."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return fields[0]


def state_word(pid: int | None) -> str:
    """How the lab reports a daemon: "running", "frozen" (SIGSTOPped) or "stopped"."""
    if pid is None:
        return "stopped"
    return "frozen" if proc_state(pid) == "T" else "running"


def proc_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def signal_tree(pid: int, sig: signal.Signals) -> None:
    """Signal a daemon and its direct children (PostgreSQL's backends and workers).

    On SIGSTOP the parent goes first so that it cannot react to (or respawn) a stopped child;
    on SIGCONT the children go first so that nothing runs half-awake against a stopped parent.
    """
    kids = children(pid)
    order = [pid, *kids] if sig == signal.SIGSTOP else [*kids, pid]
    for target in order:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate()` until true or the timeout passes; returns its last verdict."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
