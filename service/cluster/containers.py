"""ContainerCluster: the same topology as `LocalCluster`, in Docker containers (testcontainers).

A primary and N streaming replicas from the official `postgres:15` image, cloned with
`pg_basebackup -R -X stream -c fast` over one user-defined Docker network, and one PgBouncer
in transaction mode with one database per node, named like the node. Every port is published
on 127.0.0.1 only, on host ports picked once at construction, so the URLs stay valid when a
node is stopped and started again. The failure lab maps onto Docker: stop is `docker stop`
(fast) or `docker kill` (immediate), freeze/thaw is `docker pause`/`unpause` (the cgroup
freezer: sockets stay open, nothing answers, as with SIGSTOP), and replay is steered with SQL
run inside the replica's container, so the host needs no PostgreSQL binaries. The URLs name
127.0.0.1, so the engine must publish ports on this machine (a local engine or Docker
Desktop; not a remote DOCKER_HOST).

UNEXERCISED HERE: the machine this was written on runs no Docker engine and can pull no image,
so none of this code has ever run against containers. It type-checks, and the parts that need
no engine (naming, ports, URLs, settings, configuration text) are unit-tested; the rest is kept
deliberately plain. The test fixtures choose it only where `docker_available()` says an engine
answers (or `SWITCHYARD_TOPOLOGY=containers` asks for it).
"""

from __future__ import annotations

import shlex
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient
from testcontainers.core.network import Network

from service.cluster import config, roles
from service.cluster.errors import ClusterError
from service.cluster.local import PGBOUNCER, PRIMARY
from service.cluster.node_sql import RELOAD_SETTLE_S
from service.cluster.proc import free_ports
from service.cluster.procfs import wait_until
from service.cluster.protocol import NodeInfo
from service.cluster.service_urls import ServiceUrls

POSTGRES_IMAGE = "postgres:15"
# The image runs as `postgres` and starts `pgbouncer /etc/pgbouncer/pgbouncer.ini`; its
# entrypoint writes an ini only when none exists, so the one copied in below is used as is.
PGBOUNCER_IMAGE = "edoburu/pgbouncer:v1.25.1-p0"

PG_PORT = 5432  # inside the containers
PGBOUNCER_PORT = 6432
PGDATA = "/var/lib/postgresql/data"  # the postgres:15 image's PGDATA (a volume)
PGBOUNCER_DIR = "/etc/pgbouncer"
LOOPBACK = "127.0.0.1"

START_TIMEOUT = 60.0  # per container, after its image is present
STOP_TIMEOUT = 10  # docker stop: the image's STOPSIGNAL, then SIGKILL after this many seconds
POLL_S = 0.2

# Run by the postgres image's entrypoint once, on the first start with an empty data dir.
# POSTGRES_HOST_AUTH_METHOD=trust allows `all` databases from anywhere, which does not cover
# replication connections; the app role matches the local lab's (config.APP_USER).
PRIMARY_INIT_SCRIPT = f"""#!/bin/sh
set -e
echo "host replication all all trust" >> "$PGDATA/pg_hba.conf"
psql -v ON_ERROR_STOP=1 -U {config.ADMIN_USER} -d postgres \\
  -c "CREATE ROLE {config.APP_USER} LOGIN SUPERUSER" \\
  -c "ALTER DATABASE {config.APP_DB} OWNER TO {config.APP_USER}"
"""


def docker_available(timeout: float = 2.0) -> bool:
    """True when the Docker engine testcontainers would use answers a ping; never raises."""
    try:
        client = DockerClient(timeout=timeout).client
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no socket, no permission, wrong DOCKER_HOST, no docker package...
        return False


def postgres_settings(replica: bool) -> list[str]:
    """`-c` flags: the local lab's settings (see config.node_conf), listening on the network."""
    settings = [
        "listen_addresses=*",
        f"port={PG_PORT}",
        "wal_level=replica",
        "hot_standby=on",
        "max_wal_senders=10",
        "max_connections=300",
        # A throwaway lab: no crash safety wanted (never copy this to data you keep).
        "fsync=off",
        # What pg_rewind needs, kept equal to the local lab's.
        "full_page_writes=on",
        "wal_log_hints=on",
        "wal_receiver_status_interval=1s",
        "wal_keep_size=256MB",
    ]
    if replica:
        settings.append("hot_standby_feedback=on")
    return [arg for setting in settings for arg in ("-c", setting)]


def replica_script(name: str) -> str:
    """The replica container's shell command: clone the primary once, then run as a standby."""
    conninfo = f"host={PRIMARY} port={PG_PORT} user={config.ADMIN_USER} application_name={name}"
    clone = [
        "pg_basebackup",
        "-d", conninfo,
        "-D", PGDATA,
        "-R",  # standby.signal + primary_conninfo (with application_name)
        "-X", "stream",
        "-c", "fast",
        "--no-sync",  # a throwaway lab, as LocalCluster's clones
    ]  # fmt: skip
    # A restarted container finds its data dir and only starts the server again.
    return (
        "set -e\n"
        f'if [ ! -s "{PGDATA}/PG_VERSION" ]; then\n'
        f"  until pg_isready -q -h {PRIMARY} -p {PG_PORT}; do sleep 0.2; done\n"
        f"  {shlex.join(clone)}\n"
        f'  chmod 0700 "{PGDATA}"\n'
        "fi\n"
        f"exec {shlex.join(['postgres', *postgres_settings(replica=True)])}\n"
    )


def pgbouncer_ini(node_names: list[str]) -> str:
    """Transaction pooling, one database per node named like it; as config.pgbouncer_ini."""
    databases = [
        f"{name} = host={name} port={PG_PORT} dbname={config.APP_DB}" for name in node_names
    ]
    settings = [
        "listen_addr = 0.0.0.0",
        f"listen_port = {PGBOUNCER_PORT}",
        "auth_type = trust",
        f"auth_file = {PGBOUNCER_DIR}/userlist.txt",
        f"admin_users = {config.ADMIN_USER}",
        *config.PGBOUNCER_POOLING,
        # A restarted container may come back on another address, and a stopped one has no
        # name at all: PgBouncer must not keep either answer for its default 15 s.
        "dns_max_ttl = 1",
        "dns_nxdomain_ttl = 1",
    ]
    return (
        "; Written by switchyard's ContainerCluster.\n"
        "[databases]\n" + "\n".join(databases) + "\n\n[pgbouncer]\n" + "\n".join(settings) + "\n"
    )


def answers_postgres(port: int, timeout: float = 1.0) -> bool:
    """True if a PostgreSQL server (or PgBouncer) answers an SSLRequest on 127.0.0.1:port.

    A published port accepts connections even while nothing listens in the container (Docker's
    proxy accepts, then closes), so an open port alone proves nothing.
    """
    try:
        with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!ii", 8, 80877103))
            return sock.recv(1) in (b"N", b"S")
    except OSError:
        return False


@contextmanager
def _docker_errors(action: str) -> Iterator[None]:
    """Anything Docker or testcontainers raises becomes a ClusterError naming the action.

    Broad on purpose: docker-py, requests and testcontainers each have their own exception
    types, and callers (the test fixture) must get the one type the cluster package raises.
    """
    try:
        yield
    except ClusterError:
        raise
    except Exception as exc:
        raise ClusterError(f"{action} failed: {type(exc).__name__}: {exc}") from exc


class ContainerCluster(ServiceUrls):
    """The `Topology` protocol over Docker containers. Unexercised here: see the module doc."""

    def __init__(
        self,
        replicas: int = 2,
        postgres_image: str = POSTGRES_IMAGE,
        pgbouncer_image: str = PGBOUNCER_IMAGE,
    ) -> None:
        if replicas < 0:
            raise ClusterError("replicas must be 0 or more")
        self.postgres_image = postgres_image
        self.pgbouncer_image = pgbouncer_image
        # Nothing here talks to Docker: construction works (and is tested) without an engine.
        names = [PRIMARY] + [f"replica-{i}" for i in range(1, replicas + 1)]
        ports = free_ports(len(names) + 1)
        self._nodes = [
            NodeInfo(name, "primary" if name == PRIMARY else "replica", port, Path(PGDATA))
            for name, port in zip(names, ports, strict=False)
        ]
        self._pgbouncer_port = ports[-1]
        self._network: Network | None = None
        self._containers: dict[str, DockerContainer] = {}

    # ---- what exists ---------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        """Every node, primary first; `data_dir` is the path inside the node's container."""
        return list(self._nodes)

    @property
    def pgbouncer_port(self) -> int:
        return self._pgbouncer_port

    def status(self) -> dict[str, str]:
        result: dict[str, str] = {}
        for name in self._names():
            if name not in self._containers:
                result[name] = "stopped"
                continue
            state = self._docker_state(name)
            result[name] = {"running": "running", "paused": "frozen"}.get(state, "stopped")
        return result

    # ---- whole-cluster lifecycle ------------------------------------------------------------
    def up(self) -> None:
        """Create what is missing (network, then primary, replicas one by one, PgBouncer) and
        start what is stopped; returns once every part answers."""
        with _docker_errors("bringing the container topology up"):
            if self._network is None:
                self._network = Network().create()
            for name in self._names():
                if name in self._containers:
                    self.start(name)
                    continue
                # Replicas one at a time: each clone forces a checkpoint on the primary.
                self._containers[name] = self._create(name, self._network)
                self._wait_ready(name)

    def down(self) -> None:
        # PgBouncer first, then replicas before their primary (as LocalCluster.down).
        for name in reversed(self._names()):
            if name in self._containers:
                self.stop(name, "fast")

    def destroy(self) -> None:
        """Remove every container with its volumes (`docker rm -f -v`), then the network."""
        failures: list[str] = []
        for name in reversed(self._names()):
            container = self._containers.pop(name, None)
            if container is None:
                continue
            try:
                with _docker_errors(f"removing {name}"):
                    container.stop()  # testcontainers' stop() is a forced remove
            except ClusterError as exc:
                failures.append(str(exc))
        if self._network is not None:
            try:
                with _docker_errors("removing the network"):
                    self._network.remove()
                self._network = None
            except ClusterError as exc:
                failures.append(str(exc))
        if failures:
            raise ClusterError("; ".join(failures))

    # ---- failure injection -------------------------------------------------------------------
    def stop(self, name: str, mode: str = "immediate") -> None:
        """fast: `docker stop` (postgres:15's STOPSIGNAL is SIGINT, a fast shutdown);
        immediate: `docker kill` (SIGKILL, a crash)."""
        if mode not in ("immediate", "fast"):
            raise ClusterError(f"unknown stop mode {mode!r}; use 'immediate' or 'fast'")
        with _docker_errors(f"stopping {name}"):
            container = self._container(name).get_wrapped_container()
            container.reload()
            if container.status == "paused":
                container.unpause()  # as LocalCluster sends SIGCONT before stopping
            elif container.status != "running":
                return
            if mode == "fast":
                container.stop(timeout=STOP_TIMEOUT)
            else:
                container.kill()
            if not wait_until(lambda: self._docker_state(name) != "running", STOP_TIMEOUT):
                raise ClusterError(f"{name} still runs after docker {mode} stop")

    def start(self, name: str) -> None:
        """Start (or unpause) the container and return once its server answers."""
        with _docker_errors(f"starting {name}"):
            container = self._container(name).get_wrapped_container()
            container.reload()
            if container.status == "paused":
                container.unpause()
            elif container.status != "running":
                container.start()
            self._wait_ready(name)

    def restart(self, name: str) -> None:
        self.stop(name, "fast")
        self.start(name)

    def freeze(self, name: str) -> None:
        """`docker pause`: every process in the container frozen, sockets open."""
        with _docker_errors(f"freezing {name}"):
            container = self._container(name).get_wrapped_container()
            container.reload()
            if container.status == "paused":
                return
            if container.status != "running":
                raise ClusterError(f"{name} is not running")
            container.pause()

    def thaw(self, name: str) -> None:
        with _docker_errors(f"thawing {name}"):
            container = self._container(name).get_wrapped_container()
            container.reload()
            if container.status == "paused":
                container.unpause()
            elif container.status != "running":
                raise ClusterError(f"{name} is not running")

    def set_apply_delay(self, name: str, seconds: float) -> None:
        if seconds < 0:
            raise ClusterError("an apply delay cannot be negative")
        self._replica(name)
        if seconds == 0:
            change = "ALTER SYSTEM RESET recovery_min_apply_delay"
        else:
            change = f"ALTER SYSTEM SET recovery_min_apply_delay = '{round(seconds * 1000)}ms'"
        self._psql(name, [change, "SELECT pg_reload_conf()"])
        time.sleep(RELOAD_SETTLE_S)

    def current_primary(self) -> str | None:
        status = self.status()
        running = [n.name for n in self._nodes if status[n.name] == "running"]
        return roles.pick_primary(
            {name: roles.NodeFacts.parse(self._psql(name, [roles.FACTS_SQL])) for name in running}
        )

    def pause_replay(self, name: str) -> None:
        self._replica(name)
        self._psql(name, ["SELECT pg_wal_replay_pause()"])

    def resume_replay(self, name: str) -> None:
        self._replica(name)
        self._psql(name, ["SELECT pg_wal_replay_resume()"])

    # ---- internals ---------------------------------------------------------------------------
    def _names(self) -> list[str]:
        """Creation order: primary, replicas, PgBouncer."""
        return [n.name for n in self._nodes] + [PGBOUNCER]

    def _node(self, name: str) -> NodeInfo:
        for node in self._nodes:
            if node.name == name:
                return node
        known = ", ".join(self._names())
        raise ClusterError(f"unknown node {name!r}; known: {known}")

    def _host_port(self, name: str) -> int:
        return self.pgbouncer_port if name == PGBOUNCER else self._node(name).port

    def _container(self, name: str) -> DockerContainer:
        if name != PGBOUNCER:
            self._node(name)  # a clear error for an unknown name
        container = self._containers.get(name)
        if container is None:
            raise ClusterError(f"{name} has no container; run up() first")
        return container

    def _docker_state(self, name: str) -> str:
        """Docker's word: created, running, paused, restarting, exited, dead."""
        with _docker_errors(f"inspecting {name}"):
            container = self._container(name).get_wrapped_container()
            container.reload()
            return str(container.status)

    def _create(self, name: str, network: Network) -> DockerContainer:
        if name == PGBOUNCER:
            container = (
                DockerContainer(self.pgbouncer_image)
                .with_copy_into_container(
                    pgbouncer_ini([n.name for n in self._nodes]).encode(),
                    f"{PGBOUNCER_DIR}/pgbouncer.ini",
                )
                .with_copy_into_container(
                    config.pgbouncer_userlist().encode(), f"{PGBOUNCER_DIR}/userlist.txt"
                )
            )
            container_port = PGBOUNCER_PORT
        elif name == PRIMARY:
            container = (
                DockerContainer(self.postgres_image)
                .with_env("POSTGRES_HOST_AUTH_METHOD", "trust")
                .with_env("POSTGRES_DB", config.APP_DB)
                .with_command(["postgres", *postgres_settings(replica=False)])
                .with_copy_into_container(
                    PRIMARY_INIT_SCRIPT.encode(),
                    "/docker-entrypoint-initdb.d/10-switchyard.sh",
                    0o755,
                )
            )
            container_port = PG_PORT
        else:
            # As `postgres`, bypassing the image's entrypoint: the clone must be owned by the
            # user the server runs as, and the entrypoint's initdb must not run at all.
            container = (
                DockerContainer(self.postgres_image)
                .with_command([replica_script(name)])
                .with_kwargs(user="postgres", entrypoint=["bash", "-c"])
            )
            container_port = PG_PORT
        container.with_network(network).with_network_aliases(name)
        # testcontainers types host ports as int only; docker-py also takes (host_ip, port),
        # which publishes on loopback alone, on a port that survives docker stop/start.
        binding = (LOOPBACK, self._host_port(name))
        container.ports[f"{container_port}/tcp"] = binding  # type: ignore[assignment]
        return container.start()

    def _wait_ready(self, name: str) -> None:
        def ready() -> bool:
            state = self._docker_state(name)
            if state in ("exited", "dead"):
                raise ClusterError(f"{name} exited while starting\n{self._log_tail(name)}")
            if state != "running":
                return False
            if name != PGBOUNCER:
                # Over TCP inside the container: the image's init-time server listens on
                # the unix socket only and must not count as ready.
                probe = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(PG_PORT)]
                if self._container(name).exec(probe).exit_code != 0:
                    return False
            return answers_postgres(self._host_port(name))

        if not wait_until(ready, START_TIMEOUT, POLL_S):
            raise ClusterError(
                f"{name} did not answer on {LOOPBACK}:{self._host_port(name)} within "
                f"{START_TIMEOUT:.0f} s\n{self._log_tail(name)}"
            )

    def _log_tail(self, name: str, lines: int = 20) -> str:
        try:
            stdout, stderr = self._container(name).get_logs()
        except Exception as exc:  # a diagnostic only: never hide the real error behind it
            return f"(no logs for {name}: {exc})"
        text = (stdout + stderr).decode(errors="replace").rstrip().splitlines()[-lines:]
        return f"--- last lines of {name}'s log ---\n" + "\n".join(text)

    def _psql(self, name: str, statements: list[str]) -> str:
        """Run statements one by one (each its own -c, so ALTER SYSTEM is outside a
        transaction) with the psql inside the node's container."""
        cmd = ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"]
        cmd += ["-U", config.ADMIN_USER, "-d", "postgres"]
        for statement in statements:
            cmd += ["-c", statement]
        with _docker_errors(f"SQL on {name}"):
            # A paused container refuses `docker exec` outright, so this cannot hang on it.
            result = self._container(name).exec(cmd)
        output = result.output.decode(errors="replace").strip()
        if result.exit_code != 0:
            raise ClusterError(f"SQL on {name} failed: {output}")
        return output
