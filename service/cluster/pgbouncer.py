"""The lab's single PgBouncer: start, stop, and find its process."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from service.cluster import config
from service.cluster.errors import ClusterError
from service.cluster.proc import find_binary, port_open, run_as_server, tail, write_server_file
from service.cluster.procfs import proc_name, proc_state, read_pidfile, wait_until

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


def daemon_pid(pidfile: Path) -> int | None:
    pid = read_pidfile(pidfile)
    if pid is None or proc_state(pid) is None:
        return None
    return pid if proc_name(pid) == "pgbouncer" else None


def write_config(
    folder: Path,
    listen_port: int,
    node_ports: dict[str, int],
    socket_dir: Path,
    tls: tuple[Path, Path, Path] | None = None,
) -> bool:
    """Write pgbouncer.ini and userlist.txt into `folder`; True if the ini changed."""
    ini = folder / "pgbouncer.ini"
    text = config.pgbouncer_ini(
        listen_port,
        node_ports,
        socket_dir,
        folder / "userlist.txt",
        folder / "pgbouncer.log",
        folder / "pgbouncer.pid",
        tls,
    )
    changed = not ini.is_file() or ini.read_text() != text
    write_server_file(ini, text)
    write_server_file(folder / "userlist.txt", config.pgbouncer_userlist())
    return changed


def start(folder: Path, port: int, cwd: Path) -> None:
    """Start the PgBouncer whose files `write_config` put in `folder` (idempotent)."""
    ini, pidfile, logfile = (folder / f"pgbouncer.{ext}" for ext in ("ini", "pid", "log"))
    pid = daemon_pid(pidfile)
    if pid is not None:
        if proc_state(pid) == "T":
            os.kill(pid, signal.SIGCONT)
        return
    # A pidfile left by kill -9 makes PgBouncer refuse to start.
    pidfile.unlink(missing_ok=True)
    run_as_server([find_binary("pgbouncer"), "-d", ini], cwd=cwd, timeout=10, detach=True)

    # `pgbouncer -d` exits 0 even when the daemon dies right after (bad ini, port taken):
    # only a listening port proves it runs.
    def listening() -> bool:
        if port_open(port):
            return True
        if read_pidfile(pidfile) is not None and daemon_pid(pidfile) is None:
            raise ClusterError(
                f"pgbouncer exited right after starting\n--- last lines of {logfile} ---\n"
                + tail(logfile)
            )
        return False

    if not wait_until(listening, START_TIMEOUT):
        raise ClusterError(
            f"pgbouncer did not listen on 127.0.0.1:{port} within {START_TIMEOUT:.0f} s\n"
            f"--- last lines of {logfile} ---\n{tail(logfile)}"
        )


def stop(pidfile: Path, mode: str = "fast") -> None:
    """SIGTERM (fast) or SIGKILL (immediate), then wait until the port is really released."""
    if mode not in ("immediate", "fast"):
        raise ClusterError(f"unknown stop mode {mode!r}; use 'immediate' or 'fast'")
    pid = daemon_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # a frozen daemon would never see the SIGTERM
        os.kill(pid, signal.SIGKILL if mode == "immediate" else signal.SIGTERM)
    # After SIGTERM it lingers for a second or two; its pidfile goes last.
    if not wait_until(lambda: daemon_pid(pidfile) is None, STOP_TIMEOUT):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: proc_state(pid) is None, 2)
    # SIGKILL leaves the pidfile behind; root may remove it even when postgres owns it.
    pidfile.unlink(missing_ok=True)
