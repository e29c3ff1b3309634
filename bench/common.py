"""Pieces every benchmark script needs: a throwaway topology, server subprocesses, wrk.

Benchmarks are scripts, not tests: they start their own servers on free loopback ports, print
figures and leave nothing running. Everything here kills only the processes it started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
LUA_DIR = BENCH_DIR / "lua"
RESULTS_DIR = BENCH_DIR / "results"

WRK_INSTALL_HINT = "wrk is missing: install it with `apt-get update && apt-get install -y wrk`"

if str(REPO_ROOT) not in sys.path:
    # `python bench/x.py` puts bench/ first on sys.path, not the checkout holding `service`.
    sys.path.insert(0, str(REPO_ROOT))

from service.cluster import LocalCluster  # noqa: E402  (needs the sys.path line above)


# ---- topology ---------------------------------------------------------------------------------
def scratch_dir(prefix: str = "switchyard-bench-") -> Path:
    """A fresh folder on tmpfs (bring-up ~1 s there) that the `postgres` user can enter."""
    parent = "/dev/shm" if os.path.isdir("/dev/shm") else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)  # mkdtemp makes 0700; the servers run as `postgres` when we are root
    return path


@contextlib.contextmanager
def local_cluster(replicas: int = 1) -> Iterator[LocalCluster]:
    """Primary + `replicas` streaming replicas + PgBouncer, destroyed (and deleted) on exit."""
    cluster = LocalCluster(scratch_dir(), replicas=replicas)
    try:
        started = time.perf_counter()
        cluster.up()
        log(f"cluster up in {time.perf_counter() - started:.1f} s at {cluster.base_dir}")
        yield cluster
    finally:
        cluster.destroy()


def migrate(env: Mapping[str, str], source: Path = REPO_ROOT) -> None:
    """`switchyard migrate` as a deployment runs it (the console script may not be installed).

    `source` is the checkout whose `service` package runs: `-m` imports from the cwd.
    """
    subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env=child_env(env),
        cwd=source,
        check=True,
        capture_output=True,
        timeout=120,
    )


def asyncpg_dsn(url: str) -> str:
    """asyncpg takes libpq URLs only: drop a SQLAlchemy driver suffix if there is one."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    # Start from ours (PATH, HOME) but never inherit a stray SWITCHYARD_* or DATABASE_* setting.
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SWITCHYARD_", "DATABASE_"))}
    return {**base, **extra}


# ---- server subprocesses ----------------------------------------------------------------------
def free_port() -> int:
    """A port free on 127.0.0.1 now; the machine is shared, so never assume a fixed one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One HTTP server subprocess on 127.0.0.1; its output goes to a log file, not a pipe
    (a full pipe would block the server mid-benchmark)."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(
    name: str,
    command: Sequence[str],
    env: Mapping[str, str],
    port: int,
    log_dir: Path,
    cwd: Path = REPO_ROOT,
) -> Server:
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            list(command), env=child_env(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
    return Server(name, port, process, log_path)


def wait_ready(server: Server, path: str, timeout: float = 30.0) -> None:
    """Poll `path` until it answers 200; fail fast if the process has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(OSError):
            if http_get(server.base_url + path).status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} not ready within {timeout:g} s:\n{server.log_tail()}")


def stop_server(server: Server, timeout: float = 10.0) -> None:
    """SIGTERM our own child by pid, SIGKILL if it ignores us."""
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout)


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None) -> HttpReply:
    """A GET that returns error statuses instead of raising (4xx/5xx are answers too)."""
    try:
        request = urllib.request.Request(url, headers=dict(headers or {}))
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpReply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return HttpReply(exc.code, dict(exc.headers.items()), exc.read())


# ---- wrk --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WrkResult:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    raw: str


def require_wrk() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(WRK_INSTALL_HINT)
    return path


def wrk_command(
    url: str,
    *,
    script: Path | None = None,
    script_args: Sequence[str] = (),
    connections: int = 32,
    threads: int = 2,
    duration_s: int = 10,
) -> list[str]:
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    return command


def run_wrk(command: Sequence[str], timeout_s: float) -> WrkResult:
    done = subprocess.run(
        list(command), capture_output=True, text=True, timeout=timeout_s, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ValueError(f"wrk output lacks {pattern!r}:\n{text}")
    return match


def parse_wrk(text: str) -> WrkResult:
    """The figures of `wrk --latency` output. wrk omits the error lines when there were none."""
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return WrkResult(
        requests=int(_search(r"^\s*(\d+) requests in", text)[1]),
        requests_per_s=float(_search(r"^Requests/sec:\s+([\d.]+)", text)[1]),
        p50_ms=_duration_ms(_search(r"^\s+50%\s+(\S+)", text)[1]),
        p99_ms=_duration_ms(_search(r"^\s+99%\s+(\S+)", text)[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        raw=text,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc). CPU per request is steadier than
    req/s on a shared machine: it does not drop when a neighbour steals the core."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # After the ")" closing the command name, utime and stime are fields 12 and 13 (0-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- reporting --------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def log(message: str) -> None:
    # Progress on stderr so stdout stays the report.
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def reproduce_command(script: str | Path, arguments: Sequence[str]) -> str:
    """The shell line that reruns a bench script with the same interpreter and arguments."""
    relative = Path(script).resolve().relative_to(REPO_ROOT)
    return f"cd {REPO_ROOT} && {shlex.join([sys.executable, str(relative), *arguments])}"


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    """One item a line, e.g. the input file of a wrk Lua script; returns `path`."""
    path.write_text("".join(f"{line}\n" for line in lines))
    return path
