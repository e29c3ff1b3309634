"""PatroniCluster: the same three nodes under Patroni, with one etcd and one PgBouncer.

Layout under the base directory: `ha.json` (names and ports), `etcd/`, `patroni/<name>.json`
and `<name>.pid`, a data dir per member, `run/` for sockets, `log/` for Patroni's and
PostgreSQL's logs, `pgbouncer/`. Patroni decides who leads: `nodes` keeps the configured
names ("primary" is only the member that bootstraps), `leader()` and `current_primary()` say
who leads now. PgBouncer routes by node name like the plain lab, so a client that goes
through it still picks the node itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from service.cluster import config, daemon, ha_state, patroni, pgbouncer, postgres
from service.cluster.errors import ClusterError
from service.cluster.etcd import Etcd, find_etcd
from service.cluster.ha_state import HaState
from service.cluster.node_sql import NodeSql
from service.cluster.patroni import Member, MemberPlan
from service.cluster.proc import (
    check_traversable,
    find_binary,
    folder_lock,
    make_server_dir,
    pg_bindir,
    tail,
)
from service.cluster.procfs import signal_tree, state_word, wait_until
from service.cluster.protocol import NodeInfo
from service.cluster.service_urls import ServiceUrls

PGBOUNCER = "pgbouncer"
ETCD = "etcd"
# Measured here: a 3-member bring-up takes 8-13 s; a loaded CI machine gets room on top.
UP_TIMEOUT = 90.0
MEMBER_TIMEOUT = 60.0
SWITCHOVER_TIMEOUT = 60.0
# One member that answers /cluster suffices; the healthy wait polls it this often.
POLL_S = 0.1


class PatroniCluster(NodeSql, ServiceUrls):
    def __init__(self, base_dir: Path, replicas: int = 2) -> None:
        if replicas < 0:
            raise ClusterError("replicas must be 0 or more")
        self.base_dir = Path(base_dir).absolute()
        self.replicas = replicas  # used by the first up() only
        self._state_file = self.base_dir / "ha.json"
        self._state = ha_state.load(self._state_file) or HaState()
        self._socket_dir = self.base_dir / "run"
        self._log_dir = self.base_dir / "log"
        self._patroni_dir = self.base_dir / "patroni"
        self._pgb_dir = self.base_dir / "pgbouncer"
        self._pgb_pidfile = self._pgb_dir / "pgbouncer.pid"

    # ---- what exists ---------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return [
            NodeInfo(m.name, m.role, m.port, self.base_dir / m.name) for m in self._state.members
        ]

    @property
    def pgbouncer_port(self) -> int:
        return self._state.pgbouncer_port

    def exists(self) -> bool:
        return bool(self._state.members)

    def rest_port(self, name: str) -> int:
        return self._member(name).rest_port

    def status(self) -> dict[str, str]:
        """Each node's postmaster, plus "pgbouncer" and "etcd"; `patroni_status()` has the
        Patroni daemons (a killed Patroni leaves its postmaster running)."""
        result = {n.name: state_word(postgres.postmaster_pid(n.data_dir)) for n in self.nodes}
        if self.exists():
            result[PGBOUNCER] = state_word(pgbouncer.daemon_pid(self._pgb_pidfile))
            result[ETCD] = state_word(self._etcd().pid())
        return result

    def patroni_status(self) -> dict[str, str]:
        return {n.name: state_word(self._patroni_pid(n.name)) for n in self.nodes}

    # ---- Patroni's view --------------------------------------------------------------------
    def members(self) -> list[Member] | None:
        """Patroni's `/cluster` from the first member that answers (1 s each); None if none."""
        return patroni.cluster_members([m.rest_port for m in self._state.members])

    def leader(self) -> str | None:
        """The member holding the leader lock, per `/cluster`; None while nobody holds it."""
        for member in self.members() or []:
            if member.role == "leader":
                return member.name
        return None

    def wait_leader(self, timeout: float = MEMBER_TIMEOUT, other_than: str | None = None) -> str:
        """Return the leader once one (other than `other_than`) holds the lock and is
        writable: the lock comes ~0.2 s before the promotion finishes."""
        found: list[str] = []

        def led() -> bool:
            name = self.leader()
            if name is None or name == other_than:
                return False
            try:
                writable = not self.probe(name).in_recovery
            except ClusterError:
                return False
            found[:] = [name]
            return writable

        if not wait_until(led, timeout, POLL_S):
            raise ClusterError(
                f"no writable leader{f' other than {other_than}' if other_than else ''} within "
                f"{timeout:.0f} s; members: {self.members()}"
            )
        return found[0]

    def wait_healthy(self, timeout: float = UP_TIMEOUT) -> str:
        """Return the leader once it is writable and every other member streams on its
        timeline."""
        names = {m.name for m in self._state.members}
        leader: list[str] = []

        def healthy() -> bool:
            members = self.members() or []
            leads = [m for m in members if m.role == "leader" and m.state == "running"]
            if len(leads) != 1 or {m.name for m in members} != names:
                return False
            head = leads[0]
            followers = [m for m in members if m is not head]
            if not all(m.state == "streaming" and m.timeline == head.timeline for m in followers):
                return False
            try:
                if self.probe(head.name).in_recovery:
                    return False
            except ClusterError:
                return False
            leader[:] = [head.name]
            return True

        if not wait_until(healthy, timeout, POLL_S):
            raise ClusterError(
                f"Patroni cluster not healthy within {timeout:.0f} s; members: {self.members()}"
                + "".join(
                    f"\n--- last lines of {self._patroni_log(m.name)} ---\n"
                    + tail(self._patroni_log(m.name), 8)
                    for m in self._state.members
                )
            )
        return leader[0]

    # ---- whole-cluster lifecycle -------------------------------------------------------------
    def up(self) -> None:
        """Start etcd, then the bootstrap member, then the rest, then PgBouncer; returns once
        the leader is writable and every replica streams (idempotent)."""
        patroni_bin = patroni.find_patroni()
        find_etcd()
        for binary in ("initdb", "pg_ctl", "pg_basebackup", "pg_rewind", "psql", "pgbouncer"):
            find_binary(binary)  # fail before touching the disk
        check_traversable(self.base_dir)
        if (self.base_dir / "state.json").exists():
            raise ClusterError(
                f"{self.base_dir} holds a plain lab (state.json); choose another --dir for Patroni"
            )
        self.base_dir.mkdir(parents=True, exist_ok=True)
        check_traversable(self.base_dir)
        for folder in (self._socket_dir, self._log_dir, self._patroni_dir, self._pgb_dir):
            make_server_dir(folder)
        with folder_lock(self.base_dir):
            self._state = ha_state.load(self._state_file) or ha_state.plan(self.replicas)
            ha_state.save(self._state_file, self._state)
            self._etcd().start()
            self._write_configs()
            first, *rest = [m.name for m in self._state.members]
            # The configured primary bootstraps alone, so it (not a race) becomes the leader.
            self._start_patroni(first, patroni_bin)
            leader = self.wait_leader(UP_TIMEOUT)
            for name in rest:
                self._start_patroni(name, patroni_bin)
            postgres.ensure_app_database(self._member(leader).port)
            ports = {m.name: m.port for m in self._state.members}
            if pgbouncer.write_config(self._pgb_dir, self.pgbouncer_port, ports, self._socket_dir):
                pgbouncer.stop(self._pgb_pidfile, "fast")
            self._start_pgbouncer()
            self.wait_healthy(UP_TIMEOUT)
            for suffix, mode in (("", "direct"), (".pgbouncer", "pgbouncer")):
                (self.base_dir / f"env{suffix}").write_text(config.export_lines(self.env(mode)))

    def down(self) -> None:
        """PgBouncer, then every Patroni at once (each stops its PostgreSQL), then any
        postmaster a killed Patroni left behind, then etcd."""
        if not self.exists():
            return
        pgbouncer.stop(self._pgb_pidfile, "fast")
        names = [m.name for m in self._state.members]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(self._stop_member_fast, names))
        self._etcd().stop()

    def destroy(self) -> None:
        try:
            self.down()
        finally:
            # Nothing may keep running on deleted files and ports nobody knows about.
            for member in self._state.members:
                with contextlib.suppress(ClusterError):
                    daemon.stop(
                        self._pidfile(member.name), self._marker(member.name), signal.SIGKILL
                    )
                pid = postgres.postmaster_pid(self.base_dir / member.name)
                if pid is not None:
                    signal_tree(pid, signal.SIGKILL)
            with contextlib.suppress(ClusterError):
                pgbouncer.stop(self._pgb_pidfile, "immediate")
            if self.exists():
                self._etcd().stop()
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self._state = HaState()

    # ---- Topology's per-node operations --------------------------------------------------------
    def stop(self, name: str, mode: str = "immediate") -> None:
        """A member: "fast" is SIGTERM to Patroni (it stops PostgreSQL and, if it leads, hands
        the lock over); "immediate" is SIGKILL to Patroni, then `pg_ctl stop -m immediate`."""
        if mode not in ("immediate", "fast"):
            raise ClusterError(f"unknown stop mode {mode!r}; use 'immediate' or 'fast'")
        if name == PGBOUNCER:
            pgbouncer.stop(self._pgb_pidfile, mode)
        elif name == ETCD:
            self._etcd().stop()
        elif mode == "fast":
            self._stop_member_fast(self._node(name).name)
        else:
            self.kill_patroni(name)
            postgres.stop(
                name, self._node(name).data_dir, "immediate", self._pg_log(name), self.base_dir
            )

    def start(self, name: str) -> None:
        """Start a member's Patroni; returns once its PostgreSQL accepts connections."""
        if name == PGBOUNCER:
            self._start_pgbouncer()
            return
        if name == ETCD:
            self._etcd().start()
            return
        node = self._node(name)
        self._start_patroni(node.name, patroni.find_patroni())

        def answering() -> bool:
            try:
                return postgres.psql(node.port, ["SELECT 1"]) == "1"
            except ClusterError:
                return False

        if not wait_until(answering, MEMBER_TIMEOUT, POLL_S):
            raise ClusterError(
                f"{name} did not accept connections within {MEMBER_TIMEOUT:.0f} s\n"
                f"--- last lines of {self._patroni_log(name)} ---\n{tail(self._patroni_log(name))}"
            )

    def restart(self, name: str) -> None:
        self.stop(name, "fast")
        self.start(name)

    def freeze(self, name: str) -> None:
        """SIGSTOP a member whole: its Patroni first (so it cannot react), then PostgreSQL."""
        pid = self._patroni_pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGSTOP)
        postmaster = postgres.postmaster_pid(self._node(name).data_dir)
        if postmaster is not None:
            signal_tree(postmaster, signal.SIGSTOP)
        if pid is None and postmaster is None:
            raise ClusterError(f"{name} is not running")

    def thaw(self, name: str) -> None:
        postmaster = postgres.postmaster_pid(self._node(name).data_dir)
        if postmaster is not None:
            signal_tree(postmaster, signal.SIGCONT)
        pid = self._patroni_pid(name)
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    # ---- faults a Patroni cluster is there to survive -------------------------------------------
    def kill_postmaster(self, name: str) -> None:
        """kill -9 of a member's postmaster (pid from postmaster.pid); Patroni stays up."""
        pid = postgres.postmaster_pid(self._node(name).data_dir)
        if pid is None:
            raise ClusterError(f"{name}'s PostgreSQL is not running")
        os.kill(pid, signal.SIGKILL)

    def kill_patroni(self, name: str) -> None:
        """SIGKILL a member's Patroni; its PostgreSQL goes on running, unsupervised."""
        daemon.stop(self._pidfile(self._node(name).name), self._marker(name), signal.SIGKILL)

    def kill_leader_postmaster(self) -> str:
        """kill -9 the leader's postmaster; returns the leader's name."""
        leader = self._require_leader()
        self.kill_postmaster(leader)
        return leader

    def kill_leader_patroni(self) -> str:
        """SIGKILL the leader's Patroni; returns the leader's name. Nothing demotes that
        PostgreSQL (no watchdog here): it stays writable until its Patroni comes back."""
        leader = self._require_leader()
        self.kill_patroni(leader)
        return leader

    def switchover(self, candidate: str | None = None, timeout: float = SWITCHOVER_TIMEOUT) -> str:
        """A planned switchover through Patroni's REST API; returns the new, writable leader."""
        leader = self._require_leader()
        body = {"leader": leader} | ({"candidate": candidate} if candidate else {})
        status, text = patroni.rest(self.rest_port(leader), "/switchover", body, timeout=timeout)
        if status != 200:
            raise ClusterError(f"switchover from {leader} refused ({status}): {text.strip()}")
        return self.wait_leader(timeout, other_than=leader)

    # ---- internals -------------------------------------------------------------------------------
    def _member(self, name: str) -> ha_state.MemberState:
        for member in self._state.members:
            if member.name == name:
                return member
        if not self.exists():
            raise ClusterError(
                f"no Patroni cluster in {self.base_dir}; run `cluster up --ha patroni`"
            )
        known = ", ".join([m.name for m in self._state.members] + [PGBOUNCER, ETCD])
        raise ClusterError(f"unknown node {name!r}; known: {known}")

    def _node(self, name: str) -> NodeInfo:
        member = self._member(name)
        return NodeInfo(member.name, member.role, member.port, self.base_dir / member.name)

    def _require_leader(self) -> str:
        leader = self.leader()
        if leader is None:
            raise ClusterError(f"no member holds the leader lock; members: {self.members()}")
        return leader

    def _etcd(self) -> Etcd:
        return Etcd(self.base_dir / ETCD, self._state.etcd_client_port, self._state.etcd_peer_port)

    def _pidfile(self, name: str) -> Path:
        return self._patroni_dir / f"{name}.pid"

    def _config_file(self, name: str) -> Path:
        return self._patroni_dir / f"{name}.json"

    def _marker(self, name: str) -> str:
        return str(self._config_file(name))

    def _patroni_log(self, name: str) -> Path:
        return self._log_dir / f"{name}.patroni.log"

    def _pg_log(self, name: str) -> Path:
        return self._log_dir / f"{name}.postgres.log"

    def _patroni_pid(self, name: str) -> int | None:
        return daemon.running_pid(self._pidfile(name), self._marker(name))

    def _write_configs(self) -> None:
        bin_dir = pg_bindir()
        if bin_dir is None:
            raise ClusterError(
                "no PostgreSQL found; install it with: apt-get install -y postgresql-15"
            )
        for member in self._state.members:
            # The base folder is root's: Patroni (as the server account) cannot create these.
            make_server_dir(self.base_dir / member.name, 0o700)
            plan = MemberPlan(
                name=member.name,
                pg_port=member.port,
                rest_port=member.rest_port,
                data_dir=self.base_dir / member.name,
                bin_dir=bin_dir,
                socket_dir=self._socket_dir,
                log_dir=self._log_dir,
                pgpass=self._patroni_dir / f"{member.name}.pgpass",
            )
            text = patroni.config_text(plan, self._state.etcd_client_port)
            # Readable by the server account, which Patroni runs as.
            self._config_file(member.name).write_text(text)

    def _start_patroni(self, name: str, patroni_bin: Path) -> None:
        if self._patroni_pid(name) is not None:
            return
        # A postmaster left by a killed Patroni is adopted by the new one.
        daemon.spawn(
            [patroni_bin, self._config_file(name)],
            self._pidfile(name),
            self._patroni_log(name),
            self.base_dir,
        )

    def _stop_member_fast(self, name: str) -> None:
        daemon.stop(self._pidfile(name), self._marker(name), signal.SIGTERM)
        # A Patroni killed earlier left its postmaster running: stopped by its pidfile.
        postgres.stop(name, self.base_dir / name, "fast", self._pg_log(name), self.base_dir)

    def _start_pgbouncer(self) -> None:
        pgbouncer.start(self._pgb_dir, self.pgbouncer_port, self.base_dir)
