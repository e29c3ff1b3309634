"""Who holds which TCP connection, read from /proc (Linux): proof about a process's sockets
that no server-side view can give when several clients share one server."""

from __future__ import annotations

import os
from pathlib import Path

_ESTABLISHED, _LISTEN = "01", "0A"


def _socket_inodes(pid: int) -> set[str]:
    fds = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in os.listdir(fds):
        try:
            target = os.readlink(fds / fd)
        except FileNotFoundError:  # closed while we looked
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_rows() -> list[tuple[int, int, str, str]]:
    """(local port, remote port, state, inode) of every IPv4 TCP socket."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(f.split(":")[1], 16) for f in fields[1:3])
        rows.append((local, remote, fields[3], fields[9]))
    return rows


def connections_to(pid: int, port: int) -> int:
    """Established connections process `pid` holds to local TCP port `port`."""
    inodes = _socket_inodes(pid)
    return sum(
        1
        for _, remote, state, inode in _tcp_rows()
        if state == _ESTABLISHED and remote == port and inode in inodes
    )


def listener_pid(port: int) -> int:
    """The process listening on TCP port `port`."""
    listening = {
        inode for local, _, state, inode in _tcp_rows() if state == _LISTEN and local == port
    }
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if _socket_inodes(int(entry.name)) & listening:
                    return int(entry.name)
            except (FileNotFoundError, PermissionError, ProcessLookupError):
                continue
    raise AssertionError(f"no process listens on port {port}")


def spawned_children(parent: int) -> list[int]:
    """Children of `parent` started by multiprocessing's spawn (uvicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found
