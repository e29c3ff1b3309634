"""Process, user and filesystem helpers for running PostgreSQL/PgBouncer from local binaries.

The servers refuse to run as root, so when we are root every server command runs as the
`postgres` OS user and every directory it must write is chowned to that user.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import os
import pwd
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from service.cluster.errors import ClusterError

SERVER_USER = "postgres"
PG_INSTALL_HINT = "install it with: apt-get install -y postgresql-15"
PGBOUNCER_INSTALL_HINT = "install it with: apt-get install -y pgbouncer"


def is_root() -> bool:
    return os.geteuid() == 0


def server_account() -> pwd.struct_passwd:
    """The account servers run as: `postgres` when we are root, else ourselves."""
    if not is_root():
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ClusterError(
            f"running as root, but there is no '{SERVER_USER}' OS user to run the servers as; "
            f"{PG_INSTALL_HINT} (it creates that user) or run as a non-root user"
        ) from None


def pg_bindir() -> Path | None:
    """Newest PostgreSQL bindir, unless SWITCHYARD_PG_BINDIR points elsewhere."""
    override = os.environ.get("SWITCHYARD_PG_BINDIR")
    if override:
        return Path(override)
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in root.glob("*/bin") if p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    return versions[-1] if versions else None


def find_binary(name: str) -> Path:
    """Absolute path of a server binary, or a ClusterError saying how to install it."""
    hint = PGBOUNCER_INSTALL_HINT if name == "pgbouncer" else PG_INSTALL_HINT
    candidates: list[Path] = []
    bindir = pg_bindir()
    if bindir is not None and name != "pgbouncer":
        candidates.append(bindir / name)
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    # /usr/sbin is often missing from a non-root PATH, and that is where Debian puts pgbouncer.
    candidates += [Path("/usr/sbin") / name, Path("/usr/bin") / name]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    looked = ", ".join(str(p) for p in candidates)
    raise ClusterError(f"required binary '{name}' not found (looked in: {looked}); {hint}")


def chown_to_server(path: Path) -> None:
    if is_root():
        account = server_account()
        os.chown(path, account.pw_uid, account.pw_gid)


def make_server_dir(path: Path, mode: int = 0o755) -> None:
    """A directory the server account owns (it writes logs, sockets, pidfiles there)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    chown_to_server(path)


def write_server_file(path: Path, text: str) -> None:
    path.write_text(text)
    chown_to_server(path)


def check_traversable(path: Path) -> None:
    """Fail clearly when the server account cannot enter `path` or any folder above it.

    initdb's own error for this ("could not change directory ... Permission denied") names
    neither the folder nor the fix; a checkout under a 0700 home directory is the usual cause.
    """
    if not is_root():
        return
    account = server_account()
    gids = set(os.getgrouplist(account.pw_name, account.pw_gid))
    for folder in [path, *path.parents]:
        if not folder.exists():
            continue  # to be created by us, with the umask's usual o+x
        st = folder.stat()
        if st.st_uid == account.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in gids:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            owner = pwd.getpwuid(st.st_uid).pw_name
            group = grp.getgrgid(st.st_gid).gr_name
            raise ClusterError(
                f"the '{account.pw_name}' OS user cannot enter {folder} "
                f"(mode {stat.filemode(st.st_mode)}, owner {owner}:{group}), so PostgreSQL "
                f"cannot use {path}; run `chmod o+x {folder}` or choose a --dir elsewhere "
                "(e.g. under /dev/shm or /tmp)"
            )


def run_as_server(
    cmd: Sequence[str | Path],
    *,
    cwd: Path,
    timeout: float,
    detach: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a server command as the server account; raise ClusterError on failure or timeout.

    `detach` puts the command in its own session so that a Ctrl-C aimed at the CLI or pytest
    does not also reach the daemons it leaves behind.
    """
    args = [str(c) for c in cmd]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}
    user: int | None = None
    group: int | None = None
    extra_groups: list[int] | None = None
    if is_root():
        account = server_account()
        user, group, extra_groups = account.pw_uid, account.pw_gid, []
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=detach,
            user=user,
            group=group,
            extra_groups=extra_groups,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"`{' '.join(args)}` did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise ClusterError(f"`{' '.join(args)}` failed (exit {done.returncode}): {output}")
    return done


@contextlib.contextmanager
def folder_lock(folder: Path, timeout: float = 120.0) -> Iterator[None]:
    """One lifecycle command at a time per cluster folder: two `up`s would both run initdb."""
    with (folder / ".lock").open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ClusterError(f"another command holds {folder}/.lock") from None
                time.sleep(0.1)
        yield  # the lock goes with the file handle


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on right now; all sockets stay open until every port is picked."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def port_open(port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.rstrip().splitlines()[-lines:])
