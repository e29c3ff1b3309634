"""Long-running lab daemons we start ourselves (Patroni, etcd): spawn, find again, stop.

Unlike PostgreSQL and PgBouncer they do not daemonize or write pidfiles, so we write one.
When we are root they run as the server account through `setpriv`, which execs rather than
forks: the pid we record is the daemon's own, and signals reach it directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from service.cluster.proc import find_binary, is_root, server_account
from service.cluster.procfs import proc_state, read_pidfile, wait_until

STOP_TIMEOUT = 20.0

# Popen objects of the daemons this process started: polling them reaps the dead ones, which
# would otherwise stay zombies (alive to kill(pid, 0)) until this process exits.
_children: dict[int, subprocess.Popen[bytes]] = {}


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def running_pid(pidfile: Path, marker: str) -> int | None:
    """The pid in `pidfile` if that process lives and its command line holds `marker`.

    The marker (the daemon's config or data path) tells our daemon from a recycled pid.
    """
    pid = read_pidfile(pidfile)
    if pid is None:
        return None
    alive = proc_state(pid) is not None
    child = _children.get(pid)
    # Polled after the /proc look, so a child seen dead (a zombie) is reaped now, not left
    # for Popen.__del__ to report as "still running" at exit.
    if child is not None and child.poll() is not None:
        alive = False
    if not alive or not any(marker in arg for arg in cmdline(pid)):
        return None
    return pid


def exit_code(pid: int) -> int | None:
    """The exit status of a daemon this process spawned, None while it runs (or not ours)."""
    child = _children.get(pid)
    return None if child is None else child.poll()


def spawn(cmd: Sequence[str | Path], pidfile: Path, log_file: Path, cwd: Path) -> int:
    """Start `cmd` in its own session as the server account; output appended to `log_file`."""
    args = [str(c) for c in cmd]
    if is_root():
        account = server_account().pw_name
        args = [
            str(find_binary("setpriv")),
            f"--reuid={account}",
            f"--regid={account}",
            "--init-groups",
            "--",
            *args,
        ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    with log_file.open("ab") as log:
        child = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            # A Ctrl-C aimed at the CLI or pytest must not reach the daemons it leaves behind.
            start_new_session=True,
        )
    _children[child.pid] = child
    pidfile.write_text(f"{child.pid}\n")
    return child.pid


def stop(pidfile: Path, marker: str, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal the daemon and wait until it is gone; SIGKILL if it outstays STOP_TIMEOUT."""
    pid = running_pid(pidfile, marker)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)  # a frozen daemon would never act on the signal
            os.kill(pid, sig)
        child = _children.get(pid)
        if child is not None:
            _reap(child)
        elif not wait_until(lambda: running_pid(pidfile, marker) is None, STOP_TIMEOUT, 0.1):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_until(lambda: running_pid(pidfile, marker) is None, 5)
    pidfile.unlink(missing_ok=True)


def _reap(child: subprocess.Popen[bytes]) -> None:
    """Wait for our own child to exit: /proc shows a multi-threaded daemon (Patroni) as a
    zombie while its threads still exit, and only waiting for it really reaps it."""
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(5)
