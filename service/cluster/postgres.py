"""One PostgreSQL node of the lab: create, clone, start, stop, query."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from service.cluster import config
from service.cluster.errors import ClusterError
from service.cluster.proc import (
    find_binary,
    make_server_dir,
    run_as_server,
    tail,
    write_server_file,
)
from service.cluster.procfs import proc_name, proc_state, read_pidfile, signal_tree

START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
SQL_TIMEOUT = 10.0


def is_initialized(data_dir: Path) -> bool:
    """True once a data dir is complete: PG_VERSION plus our include line come last."""
    conf = data_dir / "postgresql.conf"
    try:
        return (data_dir / "PG_VERSION").is_file() and config.INCLUDE_LINE in conf.read_text()
    except FileNotFoundError:
        return False


def is_replica_dir(data_dir: Path) -> bool:
    return (data_dir / "standby.signal").is_file()


def postmaster_pid(data_dir: Path) -> int | None:
    """The live postmaster's pid, or None; a pidfile left by a crash or kill -9 is ignored."""
    pid = read_pidfile(data_dir / "postmaster.pid")
    if pid is None or proc_state(pid) is None:
        return None
    # A recycled pid belongs to some other program: the pidfile is stale.
    return pid if proc_name(pid) in ("postgres", "postmaster") else None


def initdb(data_dir: Path, socket_dir: Path, port: int, cwd: Path, tls: bool = False) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    make_server_dir(data_dir, 0o700)
    run_as_server(
        [
            find_binary("initdb"),
            "-D", data_dir,
            "-U", config.ADMIN_USER,
            "-A", "trust",
            "-E", "UTF8",
            "--no-locale",
            # Skips the fsync of every new file: the biggest part of initdb on a real disk.
            "--no-sync",
        ],
        cwd=cwd,
        timeout=60,
    )  # fmt: skip
    write_server_file(data_dir / "pg_hba.conf", config.pg_hba())
    write_node_conf(data_dir, port, socket_dir, replica=False, tls=tls)
    # Appended last: is_initialized() treats its presence as "initdb finished".
    with (data_dir / "postgresql.conf").open("a") as conf:
        conf.write("\n" + config.INCLUDE_LINE)


def write_node_conf(
    data_dir: Path, port: int, socket_dir: Path, replica: bool, tls: bool = False
) -> None:
    write_server_file(data_dir / config.NODE_CONF, config.node_conf(port, socket_dir, replica, tls))


def basebackup(
    data_dir: Path,
    name: str,
    primary_port: int,
    port: int,
    socket_dir: Path,
    cwd: Path,
    tls: bool = False,
) -> None:
    """Clone the primary into a streaming hot standby named `name`."""
    shutil.rmtree(data_dir, ignore_errors=True)
    make_server_dir(data_dir, 0o700)
    conninfo = (
        f"host=127.0.0.1 port={primary_port} user={config.ADMIN_USER} application_name={name}"
    )
    try:
        run_as_server(
            [
                find_binary("pg_basebackup"),
                "-d", conninfo,
                "-D", data_dir,
                "-R",  # writes standby.signal + primary_conninfo (with application_name)
                "-X", "stream",
                # Without it the primary's spread checkpoint stalls the clone for minutes.
                "-c", "fast",
                "--no-sync",
            ],
            cwd=cwd,
            timeout=120,
        )  # fmt: skip
        write_node_conf(data_dir, port, socket_dir, replica=True, tls=tls)
    except ClusterError:
        # A partial clone must not look reusable to the next `up`.
        shutil.rmtree(data_dir, ignore_errors=True)
        raise


def start(name: str, data_dir: Path, log_file: Path, cwd: Path) -> None:
    """Start the node (no-op if it runs) and return once it accepts connections."""
    pid = postmaster_pid(data_dir)
    if pid is not None:
        if proc_state(pid) == "T":
            signal_tree(pid, signal.SIGCONT)
        return
    _remove_stale_lock_files(data_dir)
    try:
        run_as_server(
            [
                find_binary("pg_ctl"), "start",
                "-D", data_dir,
                "-l", log_file,
                "-w", "-t", str(int(START_TIMEOUT)),
            ],
            cwd=cwd,
            timeout=START_TIMEOUT + 5,
            detach=True,
        )  # fmt: skip
    except ClusterError as exc:
        raise ClusterError(
            f"{name} did not start: {exc}\n--- last lines of {log_file} ---\n{tail(log_file)}"
        ) from exc


def _remove_stale_lock_files(data_dir: Path) -> None:
    """Drop the lock files of a postmaster that is gone (postmaster_pid() said so).

    After kill -9 they stay, and their pid may be an unreaped zombie (this machine's init
    reaps late) or a recycled pid: PostgreSQL's kill(pid, 0) check then refuses to start.
    Orphaned backends still attached to shared memory are caught by PostgreSQL's own check.
    """
    pidfile = data_dir / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except FileNotFoundError:
        return
    # Lines 4 and 5 of postmaster.pid: port and first unix socket directory.
    if len(lines) >= 5 and lines[3].strip().isdigit() and lines[4].strip():
        Path(lines[4].strip(), f".s.PGSQL.{lines[3].strip()}.lock").unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)


def stop(name: str, data_dir: Path, mode: str, log_file: Path, cwd: Path) -> None:
    if mode not in ("immediate", "fast"):
        raise ClusterError(f"unknown stop mode {mode!r}; use 'immediate' or 'fast'")
    pid = postmaster_pid(data_dir)
    if pid is None:
        return
    # A frozen postmaster cannot act on the shutdown signal; pg_ctl would wait it out.
    signal_tree(pid, signal.SIGCONT)
    try:
        run_as_server(
            [
                find_binary("pg_ctl"), "stop",
                "-D", data_dir,
                "-m", mode,
                "-w", "-t", str(int(STOP_TIMEOUT)),
            ],
            cwd=cwd,
            timeout=STOP_TIMEOUT + 5,
        )  # fmt: skip
    except ClusterError as exc:
        raise ClusterError(
            f"{name} did not stop: {exc}\n--- last lines of {log_file} ---\n{tail(log_file)}"
        ) from exc


def ensure_app_database(port: int) -> None:
    """The app's login role and database, created once on the primary (replicas inherit)."""
    role = "SELECT count(*) FROM pg_roles WHERE rolname = 'switchyard'"
    if psql(port, [role]) == "0":
        psql(port, ["CREATE ROLE switchyard LOGIN SUPERUSER"])
    db = "SELECT count(*) FROM pg_database WHERE datname = 'switchyard'"
    if psql(port, [db]) == "0":
        psql(port, ["CREATE DATABASE switchyard OWNER switchyard"])


def psql(port: int, statements: list[str], database: str = "postgres") -> str:
    """Run statements one by one (each its own -c, so ALTER SYSTEM is outside a transaction)."""
    cmd = [
        str(find_binary("psql")),
        "-X", "-A", "-t", "-q",
        "-v", "ON_ERROR_STOP=1",
        "-h", "127.0.0.1",
        "-p", str(port),
        "-U", config.ADMIN_USER,
        "-d", database,
    ]  # fmt: skip
    for statement in statements:
        cmd += ["-c", statement]
    # PGCONNECT_TIMEOUT bounds the connect; the subprocess timeout bounds a frozen server.
    env = {**os.environ, "PGCONNECT_TIMEOUT": "3"}
    try:
        done = subprocess.run(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SQL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"SQL on port {port} got no answer within {SQL_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise ClusterError(f"SQL on port {port} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def promote(name: str, data_dir: Path, log_file: Path, cwd: Path) -> None:
    """`pg_ctl promote -w`: returns once the node accepts writes."""
    try:
        run_as_server(
            [find_binary("pg_ctl"), "promote", "-D", data_dir, "-w", "-t", str(int(START_TIMEOUT))],
            cwd=cwd,
            timeout=START_TIMEOUT + 5,
        )
    except ClusterError as exc:
        raise ClusterError(
            f"{name} was not promoted: {exc}\n--- last lines of {log_file} ---\n{tail(log_file)}"
        ) from exc


def rewind(name: str, data_dir: Path, source_port: int, cwd: Path) -> None:
    """pg_rewind a stopped node onto the source's timeline.

    pg_rewind runs crash recovery itself on a node that was not shut down cleanly, and says
    "no rewind required" (exit 0) when the node never diverged. It copies the source's config
    files too: the caller rewrites this node's own afterwards.
    """
    source = f"host=127.0.0.1 port={source_port} user={config.ADMIN_USER} dbname=postgres"
    try:
        run_as_server(
            [find_binary("pg_rewind"), "--target-pgdata", data_dir, "--source-server", source],
            cwd=cwd,
            timeout=120,
        )
    except ClusterError as exc:
        raise ClusterError(f"{name} could not be rewound: {exc}") from exc


def make_standby(data_dir: Path, conninfo: str) -> None:
    """standby.signal plus a postgresql.auto.conf that names only the upstream.

    The rest of what pg_rewind brought from the source's auto.conf (its own old upstream, an
    apply delay set for a test) is not this node's to keep.
    """
    auto = (
        "# Do not edit this file manually!\n"
        "# It will be overwritten by the ALTER SYSTEM command.\n"
        f"primary_conninfo = '{conninfo}'\n"
    )
    write_server_file(data_dir / "postgresql.auto.conf", auto)
    write_server_file(data_dir / "standby.signal", "")


def data_dir_timeline(data_dir: Path) -> int:
    """The newest timeline a data dir knows of, read from disk (the node may be stopped).

    A promotion writes `<timeline>.history` into pg_wal, and a standby fetches the history of
    every timeline it follows, so the highest such file is the node's timeline.
    """
    timelines = [1]
    for entry in (data_dir / "pg_wal").glob("*.history"):
        stem = entry.name.removesuffix(".history")
        if len(stem) == 8:
            try:
                timelines.append(int(stem, 16))
            except ValueError:
                continue
    return max(timelines)
