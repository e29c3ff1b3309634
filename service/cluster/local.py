"""LocalCluster: primary + streaming replicas + one PgBouncer from local binaries.

Everything lives under one base directory: a data dir per node, `run/` for unix sockets,
`log/` for server logs, `pgbouncer/` for its ini, logfile and pidfile, `state.json` for the
names and ports, `env` / `env.pgbouncer` for shells, and with TLS `tls/` for the lab's CA.
Nothing here remembers pids: they are read from pidfiles, so separate CLI invocations see
the truth.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.cluster import config, pgbouncer, postgres, roles, tls
from service.cluster.errors import ClusterError
from service.cluster.node_sql import NodeSql
from service.cluster.proc import (
    check_traversable,
    find_binary,
    folder_lock,
    make_server_dir,
    tail,
)
from service.cluster.procfs import proc_state, signal_tree, state_word, wait_until
from service.cluster.protocol import NodeInfo
from service.cluster.service_urls import ServiceUrls
from service.cluster.state import ClusterState, NodeRecord, load_state, plan_nodes, save_state

PRIMARY = "primary"
PGBOUNCER = "pgbouncer"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "psql", "pgbouncer")
# A re-pointed standby reconnects and switches timeline in well under a second here.
STREAMING_TIMEOUT = 20.0


class LocalCluster(NodeSql, ServiceUrls):
    def __init__(self, base_dir: Path, replicas: int = 2, tls: bool | None = None) -> None:
        if replicas < 0:
            raise ClusterError("replicas must be 0 or more")
        self.base_dir = Path(base_dir).absolute()
        self.replicas = replicas  # used by up() only; an existing cluster keeps its nodes
        # Used by up() only: None keeps what the cluster was created with (a new one: off).
        self.tls = tls
        self._state_file = self.base_dir / "state.json"
        self._state = load_state(self._state_file) or ClusterState()
        self._socket_dir = self.base_dir / "run"
        self._log_dir = self.base_dir / "log"
        self._pgb_dir = self.base_dir / "pgbouncer"
        self._pgb_pidfile = self._pgb_dir / "pgbouncer.pid"
        self._tls_dir = self.base_dir / "tls"
        self._clone_lock = threading.Lock()

    # ---- what exists ---------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(n.name, n.role, n.port, self.base_dir / n.name) for n in self._state.nodes]

    @property
    def pgbouncer_port(self) -> int:
        return self._state.pgbouncer_port

    @property
    def tls_ca(self) -> Path | None:
        return self._tls_dir / tls.CA_CERT if self._state.tls else None

    def exists(self) -> bool:
        return bool(self._state.nodes)

    def status(self) -> dict[str, str]:
        result = {n.name: state_word(postgres.postmaster_pid(n.data_dir)) for n in self.nodes}
        if self.exists():
            result[PGBOUNCER] = state_word(pgbouncer.daemon_pid(self._pgb_pidfile))
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
        changed = plan_nodes(self._state, self.replicas)
        primary = self._state.nodes[0]
        primary_dir = self.base_dir / primary.name
        if self.tls is not None and self.tls != self._state.tls:
            if postgres.is_initialized(primary_dir):
                raise ClusterError(
                    f"the cluster in {self.base_dir} was created "
                    f"{'with' if self._state.tls else 'without'} TLS; "
                    "`switchyard cluster down --destroy` first to change that"
                )
            self._state.tls, changed = self.tls, True
        if changed:
            save_state(self._state_file, self._state)
        if not postgres.is_initialized(primary_dir):
            postgres.initdb(
                primary_dir, self._socket_dir, primary.port, self.base_dir, self._state.tls
            )
            self._issue_cert(primary.name, primary_dir)
            # Replicas cloned from an earlier primary cannot follow this new one.
            for node in self._state.nodes[1:]:
                self.stop(node.name, "immediate")
                shutil.rmtree(self.base_dir / node.name, ignore_errors=True)
        # After a failover the configured primary may be the stale one: start the newest.
        lead = self._state.node(self._newest_writable_dir()) or primary
        self._start_pg(lead.name)
        postgres.ensure_app_database(lead.port)
        others = [n for n in self._state.nodes if n.name != lead.name]
        for node in others:
            data_dir = self.base_dir / node.name
            stale = postgres.is_initialized(data_dir) and not postgres.is_replica_dir(data_dir)
            if stale and postgres.postmaster_pid(data_dir) is None:
                # A running stale primary is a split brain someone made on purpose: left alone.
                self.rejoin(node.name, lead.name)
        if others:
            with ThreadPoolExecutor(max_workers=len(others)) as pool:
                # list() re-raises the first failure here instead of dropping it.
                list(pool.map(lambda n: self._up_replica(n, lead.port), others))
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

    # ---- roles: promotion, failover, rejoin ---------------------------------------------
    def promote(self, name: str) -> None:
        """Promote a running standby, whatever else runs: with the primary up, a split brain."""
        if not self.probe(name).in_recovery:
            raise ClusterError(f"{name} is not a standby; nothing to promote")
        postgres.promote(name, self._node(name).data_dir, self._log(name), self.base_dir)

    def follow(self, name: str, upstream: str) -> None:
        """Re-point a running standby at `upstream` without a restart (PostgreSQL >= 13).

        recovery_target_timeline keeps its default, `latest`, so the standby moves onto the
        upstream's newer timeline by itself.
        """
        if not self.probe(name).in_recovery:
            raise ClusterError(f"{name} is not a standby; `rejoin {name}` makes it one")
        conninfo = roles.primary_conninfo(self._node(upstream).port, name)
        postgres.psql(
            self._node(name).port,
            [
                f"ALTER SYSTEM SET primary_conninfo = {roles.sql_literal(conninfo)}",
                "SELECT pg_reload_conf()",
            ],
        )

    def failover(self, mode: str = "immediate") -> str:
        """Stop the primary, promote the standby with the most WAL, re-point the rest.

        Returns the promoted node's name once every other running standby streams from it.
        """
        old = self.current_primary()
        if old is None:
            raise ClusterError("no writable node to fail over from")
        self.stop(old, mode)
        standbys = self.roles()
        chosen = roles.pick_most_advanced(standbys)
        self.promote(chosen)
        followers = [name for name in standbys if name != chosen]
        for name in followers:
            self.follow(name, chosen)
        for name in followers:
            self.wait_streaming(name, chosen)
        return chosen

    def rejoin(self, name: str, upstream: str | None = None) -> None:
        """Make an old primary a standby of the current one: stop, pg_rewind, follow.

        `upstream` defaults to the current primary; the node is stopped (fast) first if it
        still runs, which is how a split brain made by `promote` is ended.
        """
        node = self._node(name)
        if upstream is None:
            running = {k: v for k, v in self.roles().items() if k != name}
            upstream = roles.pick_primary(running)
            if upstream is None:
                raise ClusterError(f"no other writable node for {name} to follow")
        if upstream == name:
            raise ClusterError(f"{name} cannot follow itself")
        source = self._node(upstream)
        # Right after a promotion the source's control file still names the old timeline
        # until its first checkpoint, and PostgreSQL 15's pg_rewind reads the timeline there:
        # it would find "no rewind required" and leave a node that cannot follow.
        postgres.psql(source.port, ["CHECKPOINT"])
        self.stop(name, "fast")
        postgres.rewind(name, node.data_dir, source.port, self.base_dir)
        # pg_rewind copied the source's own config files: this node's port and role come back.
        postgres.write_node_conf(
            node.data_dir, node.port, self._socket_dir, replica=True, tls=self._state.tls
        )
        self._issue_cert(name, node.data_dir)  # it copied the source's certificate too
        postgres.make_standby(node.data_dir, roles.primary_conninfo(source.port, name))
        self._start_pg(name)
        self.wait_streaming(name, upstream)

    def wait_streaming(self, name: str, upstream: str, timeout: float = STREAMING_TIMEOUT) -> None:
        """Return once `name` streams WAL from `upstream` (pg_stat_wal_receiver)."""
        port = self._node(upstream).port

        def streaming() -> bool:
            facts = self.probe(name)
            return facts.receiver_status == "streaming" and facts.upstream_port == port

        if not wait_until(streaming, timeout, interval=0.1):
            raise ClusterError(
                f"{name} does not stream from {upstream} after {timeout:.0f} s: "
                f"{self.probe(name)}\n--- last lines of {self._log(name)} ---\n"
                + tail(self._log(name))
            )

    # ---- internals -------------------------------------------------------------------------
    def _node(self, name: str) -> NodeInfo:
        for node in self.nodes:
            if node.name == name:
                return node
        known = ", ".join([n.name for n in self.nodes] + [PGBOUNCER]) if self.exists() else ""
        if not known:
            raise ClusterError(f"no cluster in {self.base_dir}; run `switchyard cluster up`")
        raise ClusterError(f"unknown node {name!r}; known: {known}")

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

    def _newest_writable_dir(self) -> str:
        """The data dir without standby.signal on the highest timeline (read from disk)."""
        writable = {
            n.name: postgres.data_dir_timeline(self.base_dir / n.name)
            for n in self._state.nodes
            if postgres.is_initialized(self.base_dir / n.name)
            and not postgres.is_replica_dir(self.base_dir / n.name)
        }
        top = max(writable.values(), default=1)
        best = [name for name, timeline in writable.items() if timeline == top]
        if len(best) > 1:
            raise ClusterError(
                f"split brain on disk: {', '.join(best)} are all primaries on timeline {top}; "
                "start the one to keep and `switchyard cluster rejoin` the others"
            )
        return best[0] if best else self._state.nodes[0].name

    def _up_replica(self, node: NodeRecord, primary_port: int) -> None:
        data_dir = self.base_dir / node.name
        # An initialized dir is kept whatever its role: it may be the promoted primary.
        if not postgres.is_initialized(data_dir):
            # One clone at a time: each forces a checkpoint, which could remove a WAL segment
            # a concurrent clone has yet to stream ("requested WAL segment ... has already
            # been removed", seen here). Starting the clones still overlaps.
            with self._clone_lock:
                postgres.basebackup(
                    data_dir,
                    node.name,
                    primary_port,
                    node.port,
                    self._socket_dir,
                    self.base_dir,
                    self._state.tls,
                )
            self._issue_cert(node.name, data_dir)  # the clone holds the primary's
        self._start_pg(node.name)

    def _issue_cert(self, name: str, folder: Path) -> None:
        """A certificate of its own for a node (or PgBouncer), signed by the lab's CA."""
        if not self._state.tls:
            return
        make_server_dir(self._tls_dir)  # PgBouncer, running as the server user, reads the CA
        ca = tls.load_or_create_authority(self._tls_dir)
        tls.write_server_pair(ca, name, folder / config.SERVER_CERT, folder / config.SERVER_KEY)

    def _pgbouncer_tls(self) -> tuple[Path, Path, Path] | None:
        if self.tls_ca is None:
            return None
        cert, key = self._pgb_dir / config.SERVER_CERT, self._pgb_dir / config.SERVER_KEY
        if not (cert.is_file() and key.is_file()):
            self._issue_cert(PGBOUNCER, self._pgb_dir)
        return self.tls_ca, cert, key

    def _up_pgbouncer(self) -> None:
        ports = {n.name: n.port for n in self._state.nodes}
        if pgbouncer.write_config(
            self._pgb_dir, self.pgbouncer_port, ports, self._socket_dir, self._pgbouncer_tls()
        ):  # e.g. a replica was added: the running daemon has the old database list
            pgbouncer.stop(self._pgb_pidfile, "fast")
        self._start_pgbouncer()

    def _start_pgbouncer(self) -> None:
        pgbouncer.start(self._pgb_dir, self.pgbouncer_port, self.base_dir)
