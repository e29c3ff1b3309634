"""The one etcd member the Patroni lab keeps its leader key in (Debian's etcd-server).

It listens on two free loopback ports and keeps its data under the cluster folder, never on
the package's default ports 2379/2380, where the service Debian installs would listen.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from service.cluster import daemon
from service.cluster.errors import ClusterError
from service.cluster.proc import make_server_dir, tail
from service.cluster.procfs import wait_until

NAME = "etcd"
INSTALL_HINT = "install it with: apt-get install -y etcd-server (or `make system-deps`)"
START_TIMEOUT = 20.0
MEMBER = "switchyard-lab"


def find_etcd() -> Path:
    found = shutil.which("etcd") or "/usr/bin/etcd"
    if not Path(found).is_file():
        raise ClusterError(f"etcd not found; {INSTALL_HINT}")
    return Path(found)


def command(data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        str(find_etcd()),
        "--name", MEMBER,
        "--data-dir", str(data_dir),
        "--listen-client-urls", client,
        "--advertise-client-urls", client,
        "--listen-peer-urls", peer,
        "--initial-advertise-peer-urls", peer,
        "--initial-cluster", f"{MEMBER}={peer}",
        "--initial-cluster-state", "new",
    ]  # fmt: skip


def healthy(client_port: int, timeout: float = 1.0) -> bool:
    try:
        url = f"http://127.0.0.1:{client_port}/health"
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return bool(json.loads(answer.read()).get("health") == "true")
    except (OSError, ValueError):
        return False


class Etcd:
    """Start, find and stop the lab's etcd; its pid lives in `<folder>/etcd.pid`."""

    def __init__(self, folder: Path, client_port: int, peer_port: int) -> None:
        self.folder = folder
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = folder / "data"
        self.pidfile = folder / "etcd.pid"
        self.log_file = folder / "etcd.log"

    def pid(self) -> int | None:
        return daemon.running_pid(self.pidfile, str(self.data_dir))

    def start(self) -> None:
        pid = self.pid()
        if pid is None:
            make_server_dir(self.folder, 0o700)
            cmd = command(self.data_dir, self.client_port, self.peer_port)
            pid = daemon.spawn(cmd, self.pidfile, self.log_file, self.folder)

        def up() -> bool:
            code = daemon.exit_code(pid)
            if code is not None:
                raise ClusterError(f"etcd exited ({code}) while starting\n{tail(self.log_file)}")
            return healthy(self.client_port)

        if not wait_until(up, START_TIMEOUT, 0.1):
            raise ClusterError(
                f"etcd was not healthy on 127.0.0.1:{self.client_port} within "
                f"{START_TIMEOUT:.0f} s\n{tail(self.log_file)}"
            )

    def stop(self) -> None:
        daemon.stop(self.pidfile, str(self.data_dir))
