"""LocalCluster: primary + streaming replicas + one PgBouncer from local binaries.

Everything lives under one base directory: a data dir per node, `run/` for unix sockets,
`log/` for server logs, `pgbouncer/` for its ini, logfile and pidfile, `state.json` for the
names and ports, and `env` / `env.pgbouncer` for shells. Nothing here remembers pids: they
are read from pidfiles, so separate CLI invocations see the truth.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.cluster import config, pgbouncer, postgres
from service.cluster.errors import ClusterError
from service.cluster.proc import (
    check_traversable,
    find_binary,
    folder_lock,
    make_server_dir,
)
from service.cluster.procfs import proc_state, signal_tree, wait_until
from service.cluster.protocol import NodeInfo
from service.cluster.service_urls import PGBOUNCER, ServiceUrls, apply_delay_sql
from service.cluster.state import ClusterState, NodeState, load_state, plan_nodes, save_state

PRIMARY = "primary"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "psql", "pgbouncer")
# ALTER SYSTEM + pg_reload_conf() only asks the server to re-read its config.
RELOAD_SETTLE_S = 0.05


class LocalCluster(ServiceUrls):
    def __init__(self, base_dir: Path, replicas: int = 2) -> None:
        if replicas < 0:
            raise ClusterError("replicas must be 0 or more")
        self.base_dir = Path(base_dir).absolute()
        self.replicas = replicas  # used by up() only; an existing cluster keeps its nodes
        self._state_file = self.base_dir / "state.json"
        self._state = load_state(self._state_file) or ClusterState()
        self._socket_dir = self.base_dir / "run"
        self._log_dir = self.base_dir / "log"
        self._pgb_dir = self.base_dir / "pgbouncer"
        self._pgb_pidfile = self._pgb_dir / "pgbouncer.pid"
        self._clone_lock = threading.Lock()

    # ---- what exists ---------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(n.name, n.role, n.port, self.base_dir / n.name) for n in self._state.nodes]

    @property
    def pgbouncer_port(self) -> int:
        return self._state.pgbouncer_port

    def exists(self) -> bool:
        return bool(self._state.nodes)

    def status(self) -> dict[str, str]:
        result = {n.name: _word(postgres.postmaster_pid(n.data_dir)) for n in self.nodes}
        if self.exists():
            result[PGBOUNCER] = _word(pgbouncer.daemon_pid(self._pgb_pidfile))
        return result

    # ---- whole-cluster lifecycle -------------------------------------------------------
    def up(self) -> None:
        for binary in REQUIRED_BINARIES:
            find_binary(binary)  # fail before touching the disk
        self._prepare_dirs()
        with folder_lock(self.base_dir):
            # Another process may have changed the cluster while we waited for the lock.
            self._state = load_state(self._state_file) or ClusterState()
            self._up_locked()

    def _up_locked(self) -> None:
        if plan_nodes(self._state, self.replicas):
            save_state(self._state_file, self._state)
        primary = self._state.nodes[0]
        primary_dir = self.base_dir / primary.name
        if not postgres.is_initialized(primary_dir):
            postgres.initdb(primary_dir, self._socket_dir, primary.port, self.base_dir)
            # Replicas cloned from an earlier primary cannot follow this new one.
            for node in self._state.nodes[1:]:
                self.stop(node.name, "immediate")
                shutil.rmtree(self.base_dir / node.name, ignore_errors=True)
        self._start_pg(primary.name)
        postgres.ensure_app_database(primary.port)
        replicas = self._state.nodes[1:]
        if replicas:
            with ThreadPoolExecutor(max_workers=len(replicas)) as pool:
                # list() re-raises the first failure here instead of dropping it.
                list(pool.map(self._up_replica, replicas))
        self._up_pgbouncer()
        for suffix, mode in (("", "direct"), (".pgbouncer", "pgbouncer")):
            (self.base_dir / f"env{suffix}").write_text(config.export_lines(self.env(mode)))

    def down(self) -> None:
        if not self.exists():
            return
        # PgBouncer first so that clients see it go, then replicas before their primary:
        # a fast shutdown of the primary waits for connected walsenders to drain.
        pgbouncer.stop(self._pgb_pidfile, "fast")
        for node in reversed(self.nodes):
            self.stop(node.name, "fast")

    def destroy(self) -> None:
        try:
            self.down()
        finally:
            # Nothing may keep running on deleted files and a port nobody knows about.
            for node in self.nodes:
                pid = postgres.postmaster_pid(node.data_dir)
                if pid is not None:
                    signal_tree(pid, signal.SIGKILL)
            with contextlib.suppress(ClusterError):
                pgbouncer.stop(self._pgb_pidfile, "immediate")
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self._state = ClusterState()

    # ---- failure injection ---------------------------------------------------------------
    def stop(self, name: str, mode: str = "immediate") -> None:
        if name == PGBOUNCER:
            pgbouncer.stop(self._pgb_pidfile, mode)
            return
        node = self._node(name)
        postgres.stop(name, node.data_dir, mode, self._log(name), self.base_dir)

    def start(self, name: str) -> None:
        if name == PGBOUNCER:
            self._start_pgbouncer()
        else:
            self._start_pg(self._node(name).name)

    def restart(self, name: str) -> None:
        self.stop(name, "fast")
        self.start(name)

    def freeze(self, name: str) -> None:
        pid = self._running_pid(name)
        signal_tree(pid, signal.SIGSTOP)
        if not wait_until(lambda: proc_state(pid) == "T", 2):
            raise ClusterError(f"{name} (pid {pid}) did not stop on SIGSTOP")

    def thaw(self, name: str) -> None:
        pid = self._running_pid(name)
        signal_tree(pid, signal.SIGCONT)
        wait_until(lambda: proc_state(pid) != "T", 2)

    def set_apply_delay(self, name: str, seconds: float) -> None:
        statements = apply_delay_sql(seconds)
        postgres.psql(self._replica(name).port, statements)
        time.sleep(RELOAD_SETTLE_S)

    def pause_replay(self, name: str) -> None:
        postgres.psql(self._replica(name).port, ["SELECT pg_wal_replay_pause()"])

    def resume_replay(self, name: str) -> None:
        postgres.psql(self._replica(name).port, ["SELECT pg_wal_replay_resume()"])

    # ---- internals -------------------------------------------------------------------------
    def _unknown_node(self, name: str) -> str:
        if not self.exists():
            return f"no cluster in {self.base_dir}; run `switchyard cluster up`"
        return super()._unknown_node(name)

    def _running_pid(self, name: str) -> int:
        if name == PGBOUNCER:
            pid = pgbouncer.daemon_pid(self._pgb_pidfile)
        else:
            pid = postgres.postmaster_pid(self._node(name).data_dir)
        if pid is None:
            raise ClusterError(f"{name} is not running")
        return pid

    def _log(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def _prepare_dirs(self) -> None:
        check_traversable(self.base_dir)  # before creating anything in the wrong place
        self.base_dir.mkdir(parents=True, exist_ok=True)
        check_traversable(self.base_dir)  # a umask of 077 shows up only now
        for folder in (self._socket_dir, self._log_dir, self._pgb_dir):
            make_server_dir(folder)

    def _start_pg(self, name: str) -> None:
        postgres.start(name, self.base_dir / name, self._log(name), self.base_dir)

    def _up_replica(self, node: NodeState) -> None:
        data_dir = self.base_dir / node.name
        if not (postgres.is_initialized(data_dir) and postgres.is_replica_dir(data_dir)):
            primary_port = self._state.nodes[0].port
            # One clone at a time: each forces a checkpoint, which could remove a WAL segment
            # a concurrent clone has yet to stream ("requested WAL segment ... has already
            # been removed", seen here). Starting the clones still overlaps.
            with self._clone_lock:
                postgres.basebackup(
                    data_dir, node.name, primary_port, node.port, self._socket_dir, self.base_dir
                )
        self._start_pg(node.name)

    def _up_pgbouncer(self) -> None:
        ports = {n.name: n.port for n in self._state.nodes}
        if pgbouncer.write_config(
            self._pgb_dir, self.pgbouncer_port, ports, self._socket_dir
        ):  # e.g. a replica was added: the running daemon has the old database list
            pgbouncer.stop(self._pgb_pidfile, "fast")
        self._start_pgbouncer()

    def _start_pgbouncer(self) -> None:
        pgbouncer.start(
            self._pgb_dir / "pgbouncer.ini",
            self._pgb_pidfile,
            self._pgb_dir / "pgbouncer.log",
            self.pgbouncer_port,
            self.base_dir,
        )


def _word(pid: int | None) -> str:
    if pid is None:
        return "stopped"
    return "frozen" if proc_state(pid) == "T" else "running"
