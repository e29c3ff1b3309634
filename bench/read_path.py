"""Read-path benchmark: GET /customers/{email} on the service vs a raw asyncpg peer.

Starts its own primary + 1 replica (tmpfs), migrates, seeds customers, then serves the same
point read twice on the same replica: `switchyard run` (Litestar + the routing plugin +
SQLAlchemy Core) and bench/reference_app.py (Litestar + a bare asyncpg pool). wrk drives
both in alternating rounds, because the machine is shared and noisy: only ratios taken in
one run mean anything. Target: service / reference >= 0.7 (median req/s).

A third target is the same service with `auth.mode = "tokens"` (wrk sends a read token), so
the cost of token checking on the hot path is reported in the same run, as wrk figures and,
for the 5% budget, as the CPU the check adds (timed alone by bench/token_cost.py, see there
why) over the service's CPU per read under wrk.

    cd /work/main && /tmp/probe-venv/bin/python bench/read_path.py [--pre-ping] [--profile DIR]

Needs wrk (`apt-get install -y wrk`); --profile needs py-spy (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
from common import (
    LUA_DIR,
    REPO_ROOT,
    RESULTS_DIR,
    Server,
    WrkResult,
    asyncpg_dsn,
    cpu_seconds,
    free_port,
    http_get,
    local_cluster,
    log,
    median,
    migrate,
    require_wrk,
    run_wrk,
    start_server,
    stop_server,
    wait_ready,
    wrk_command,
)
from token_cost import TokenCost, tokens_env
from token_cost import measure as measure_token_cost

from service.cluster import LocalCluster

REPLICA = "replica-1"
TARGET_RATIO = 0.8  # against the raw Litestar + asyncpg reference
ENGINE_TARGET = "sqla-engine"
ENGINE_TARGET_RATIO = 0.9  # against one plain SQLAlchemy engine: the router's cost < a tenth
PRE_PING_ENV = {"SWITCHYARD_DATABASE__POOL__POOL_PRE_PING": "true"}
NODE_SAMPLES = 25  # requests per service run whose X-DB-Node header we check
TOKENS_TARGET = "service+tokens"


@dataclass
class Options:
    rounds: int
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    customers: int
    pre_ping: bool
    profile_dir: Path | None
    write_json: bool
    source: Path  # the checkout whose `service` is benchmarked
    variants: list[tuple[str, Path]]  # extra services, each run from its own checkout


@dataclass
class Target:
    name: str
    server: Server
    expect_node: str | None  # the X-DB-Node every response must carry; None: not checked
    runs: list[WrkResult] = field(default_factory=list)
    cpu_us_per_request: list[float] = field(default_factory=list)
    warmup_requests: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument(
        "--pre-ping", action="store_true", help="add a service variant with pool_pre_ping=true"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy both apps under load into this folder"
    )
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    parser.add_argument(
        "--source",
        type=Path,
        default=REPO_ROOT,
        help="checkout to run the service from, e.g. a `git worktree` of another commit",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also bench the service run from checkout DIR (an experiment); repeatable",
    )
    args = parser.parse_args(argv)
    return Options(
        rounds=args.rounds,
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        threads=args.threads,
        customers=args.customers,
        pre_ping=args.pre_ping,
        profile_dir=args.profile,
        write_json=not args.no_json,
        source=args.source.resolve(),
        variants=[parse_variant(text) for text in args.variant],
    )


def parse_variant(text: str) -> tuple[str, Path]:
    name, sep, folder = text.partition("=")
    if not sep or not name or not Path(folder, "service").is_dir():
        raise SystemExit(f"--variant {text!r}: want NAME=DIR where DIR holds a `service` package")
    return name, Path(folder).resolve()


# ---- data ---------------------------------------------------------------------------------------
def emails(count: int) -> list[str]:
    return [f"customer-{i:04d}@example.com" for i in range(1, count + 1)]


async def seed(primary_dsn: str, replica_dsn: str, addresses: list[str]) -> None:
    """Insert on the primary, then wait until the replica has replayed every row."""
    conn = await asyncpg.connect(primary_dsn)
    try:
        await conn.executemany(
            "INSERT INTO customers (email, name) VALUES ($1, $2)",
            [(email, f"Customer {i}") for i, email in enumerate(addresses, start=1)],
        )
    finally:
        await conn.close()
    replica = await asyncpg.connect(replica_dsn)
    try:
        async with asyncio.timeout(30):
            while await replica.fetchval("SELECT count(*) FROM customers") < len(addresses):
                await asyncio.sleep(0.05)
    finally:
        await replica.close()


async def transactions(dsn: str) -> int:
    """Committed transactions on the app database: a read that went to the primary shows here."""
    conn = await asyncpg.connect(dsn)
    try:
        value = await conn.fetchval(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        return int(value)
    finally:
        await conn.close()


# ---- servers ------------------------------------------------------------------------------------
def start_service(name: str, env: dict[str, str], log_dir: Path, source: Path) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "service.cli", "run", "--host", "127.0.0.1"]
    server = start_server(name, [*command, "--port", str(port)], env, port, log_dir, source)
    wait_ready(server, "/health/ready")
    return server


def start_reference(
    replica_url: str, log_dir: Path, name: str = "reference", engine: str = "asyncpg"
) -> Server:
    port = free_port()
    script = str(REPO_ROOT / "bench" / "reference_app.py")
    command = [sys.executable, script, "--port", str(port), "--dsn", asyncpg_dsn(replica_url)]
    server = start_server(name, [*command, "--engine", engine], {}, port, log_dir)
    wait_ready(server, "/health/ready")
    return server


@contextmanager
def running_targets(
    cluster: LocalCluster, options: Options, log_dir: Path
) -> Iterator[list[Target]]:
    env = cluster.env("direct")
    with ExitStack() as stack:
        targets: list[Target] = []

        def keep(target: Target) -> None:
            stack.callback(stop_server, target.server)
            targets.append(target)

        keep(Target("service", start_service("service", env, log_dir, options.source), REPLICA))
        replica_url = cluster.direct_url(REPLICA)
        keep(Target("reference", start_reference(replica_url, log_dir), None))
        # The same query on one plain SQLAlchemy engine's pooled connection: no router, no
        # middleware. The service against it is the routing core's own cost.
        engine_server = start_reference(replica_url, log_dir, ENGINE_TARGET, "sqlalchemy")
        keep(Target(ENGINE_TARGET, engine_server, None))
        auth_env, auth_headers = tokens_env()
        server = start_service(TOKENS_TARGET, {**env, **auth_env}, log_dir, options.source)
        keep(Target(TOKENS_TARGET, server, REPLICA, headers=auth_headers))
        if options.pre_ping:
            server = start_service(
                "service-pre-ping", {**env, **PRE_PING_ENV}, log_dir, options.source
            )
            keep(Target("service+pre-ping", server, REPLICA))
        for name, source in options.variants:
            keep(Target(name, start_service(name, env, log_dir, source), REPLICA))
        for target in targets:
            log(f"{target.name}: pid {target.server.pid}, {target.server.base_url}")
        yield targets


# ---- load ---------------------------------------------------------------------------------------
def wrk_for(target: Target, options: Options, paths_file: Path, duration_s: int) -> list[str]:
    command = wrk_command(
        target.server.base_url,
        script=LUA_DIR / "random_path.lua",
        script_args=[str(paths_file)],
        connections=options.connections,
        threads=options.threads,
        duration_s=duration_s,
    )
    # wrk adds -H headers to what the Lua script's wrk.format() builds.
    for name, value in target.headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    return command


def check_run(target: Target, result: WrkResult) -> None:
    if result.non_2xx or result.socket_errors:
        raise RuntimeError(
            f"{target.name}: {result.non_2xx} non-2xx responses, "
            f"{result.socket_errors} socket errors\n{result.raw}\n{target.server.log_tail()}"
        )


def check_nodes(target: Target, addresses: list[str]) -> None:
    """Every sampled response is a 200 served by the expected node."""
    if target.expect_node is None:
        return
    for email in random.sample(addresses, min(NODE_SAMPLES, len(addresses))):
        reply = http_get(f"{target.server.base_url}/customers/{email}", headers=target.headers)
        node = reply.headers.get("X-DB-Node") or reply.headers.get("x-db-node")
        if reply.status != 200 or node != target.expect_node:
            raise RuntimeError(
                f"{target.name}: GET {email} gave {reply.status} from node {node!r}, "
                f"expected 200 from {target.expect_node!r}"
            )


def timed_wrk(
    target: Target, command: Callable[[int], list[str]], warmup_s: int, duration_s: int
) -> tuple[WrkResult, WrkResult]:
    """A warm-up run, then the measured run, recording its result and the server's CPU time
    per request on the target; returns both runs for the caller's checks."""
    timeout = warmup_s + duration_s + 60.0
    warmup = run_wrk(command(warmup_s), timeout)
    target.warmup_requests += warmup.requests
    cpu_before = cpu_seconds(target.server.pid)
    result = run_wrk(command(duration_s), timeout)
    cpu_us = (cpu_seconds(target.server.pid) - cpu_before) * 1e6 / max(result.requests, 1)
    target.cpu_us_per_request.append(cpu_us)
    target.runs.append(result)
    return warmup, result


def alternate(targets: list[Target], rounds: int, measure_one: Callable[[Target], None]) -> None:
    for number in range(1, rounds + 1):
        log(f"round {number}/{rounds}")
        for target in targets:  # alternate, so drift on the shared machine hits all alike
            measure_one(target)


def measure(target: Target, options: Options, paths_file: Path, addresses: list[str]) -> None:
    warmup, result = timed_wrk(
        target,
        lambda seconds: wrk_for(target, options, paths_file, seconds),
        options.warmup_s,
        options.duration_s,
    )
    check_run(target, warmup)
    check_run(target, result)
    check_nodes(target, addresses)
    log(
        f"{target.name:<17} {result.requests_per_s:9.0f} req/s  "
        f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms  "
        f"{target.cpu_us_per_request[-1]:5.0f} CPU µs/req"
    )


# ---- profiling ----------------------------------------------------------------------------------
def profile(target: Target, options: Options, paths_file: Path, out_dir: Path) -> Path:
    """py-spy samples the server (raw collapsed stacks) while wrk loads it."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        raise SystemExit("py-spy is missing: install it with `pip install py-spy`")
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{target.name}.txt"
    seconds = options.duration_s
    load = subprocess.Popen(
        wrk_for(target, options, paths_file, seconds + 4),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)  # sample under steady load, not the connection ramp-up
        record = ["record", "--pid", str(target.server.pid), "--duration", str(seconds)]
        subprocess.run(
            [py_spy, *record, "--rate", "200", "--format", "raw", "--output", str(output)],
            check=True,
            capture_output=True,
            timeout=seconds + 60,
        )
    finally:
        load.wait(seconds + 60)
    log(f"profile of {target.name}: {output}")
    return output


# ---- report -------------------------------------------------------------------------------------
def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


def report(
    targets: list[Target], options: Options, command: str, check: TokenCost
) -> dict[str, object]:
    by_name = {t.name: t for t in targets}
    lines = [
        f"{'round':>5}  {'target':<17} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>10}",
    ]
    for index in range(options.rounds):
        for target in targets:
            run = target.runs[index]
            lines.append(
                f"{index + 1:>5}  {target.name:<17} {run.requests_per_s:>9.0f} "
                f"{run.p50_ms:>8.2f} {run.p99_ms:>8.2f} {target.cpu_us_per_request[index]:>10.0f}"
            )
    medians = {
        t.name: {
            "requests_per_s": median([r.requests_per_s for r in t.runs]),
            "p50_ms": median([r.p50_ms for r in t.runs]),
            "p99_ms": median([r.p99_ms for r in t.runs]),
            "cpu_us_per_request": median(t.cpu_us_per_request),
        }
        for t in targets
    }
    lines.append("")
    for name, figures in medians.items():
        lines.append(
            f"{'median':>5}  {name:<17} {figures['requests_per_s']:>9.0f} "
            f"{figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} "
            f"{figures['cpu_us_per_request']:>10.0f}"
        )
    reference_rps = medians["reference"]["requests_per_s"]
    ratios = {
        name: ratio(figures["requests_per_s"], reference_rps)
        for name, figures in medians.items()
        if name != "reference"
    }
    cpu_reference = medians["reference"]["cpu_us_per_request"]
    cpu_ratios = {
        name: ratio(cpu_reference, figures["cpu_us_per_request"])
        for name, figures in medians.items()
        if name != "reference"
    }
    per_round = per_round_ratios(by_name["service"], by_name["reference"], options.rounds)
    lines.append("")
    for name, value in ratios.items():
        verdict = "meets" if value >= TARGET_RATIO else "BELOW"
        lines.append(f"{name} / reference = {value:.2f}  ({verdict} the {TARGET_RATIO} target)")
    for name, value in cpu_ratios.items():
        lines.append(f"{name}: reference CPU per request / its CPU per request = {value:.2f}")
    engine_rps = medians[ENGINE_TARGET]["requests_per_s"]
    engine_ratio = ratio(medians["service"]["requests_per_s"], engine_rps)
    verdict = "meets" if engine_ratio >= ENGINE_TARGET_RATIO else "BELOW"
    lines.append(
        f"service / {ENGINE_TARGET} = {engine_ratio:.2f}  "
        f"({verdict} the {ENGINE_TARGET_RATIO} target: the router's own cost)"
    )
    lines.append("per-round service / reference: " + ", ".join(f"{r:.2f}" for r in per_round))
    if "service+pre-ping" in medians:
        cost = ratio(
            medians["service+pre-ping"]["requests_per_s"], medians["service"]["requests_per_s"]
        )
        lines.append(f"pool_pre_ping=true / default = {cost:.2f}")
    tokens = token_cost(medians, by_name, options.rounds, lines)
    request_us = medians["service"]["cpu_us_per_request"]
    lines.append(check.summary(request_us))
    tokens["check_added_us"] = check.added_us
    tokens["check_share_of_read"] = check.share_of(request_us)
    lines += ["", f"reproduce: {command}"]
    print("\n".join(lines))
    return {
        "medians": medians,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "per_round_service_ratio": per_round,
        "service_over_engine": engine_ratio,
        "tokens": tokens,
    }


def per_round_ratios(numerator: Target, denominator: Target, rounds: int) -> list[float]:
    return [
        ratio(numerator.runs[i].requests_per_s, denominator.runs[i].requests_per_s)
        for i in range(rounds)
    ]


def token_cost(
    medians: dict[str, dict[str, float]], by_name: dict[str, Target], rounds: int, lines: list[str]
) -> dict[str, object]:
    """service+tokens against the same service without tokens, under wrk. Shown for the
    record: on a shared machine req/s swings far more between rounds than the check costs
    (seen here: rounds of service / reference from 0.20 to 2.85 in one run), so the budget
    is judged by token_cost.measure's figure instead."""
    on, off = by_name[TOKENS_TARGET], by_name["service"]
    throughput = ratio(
        medians[TOKENS_TARGET]["requests_per_s"], medians["service"]["requests_per_s"]
    )
    cpu = ratio(
        medians[TOKENS_TARGET]["cpu_us_per_request"], medians["service"]["cpu_us_per_request"]
    )
    rounds_ratio = per_round_ratios(on, off, rounds)
    lines.append(f"under wrk, tokens on / off: req/s {throughput:.3f}x, CPU per request {cpu:.3f}x")
    lines.append("per-round tokens on / off req/s: " + ", ".join(f"{r:.3f}" for r in rounds_ratio))
    return {"throughput_ratio": throughput, "cpu_ratio": cpu, "per_round": rounds_ratio}


def git_revision() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def write_json(targets: list[Target], options: Options, summary: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"read_path-{stamp}.json"
    runs = {
        t.name: [
            {**{k: v for k, v in asdict(r).items() if k != "raw"}, "cpu_us_per_request": cpu}
            for r, cpu in zip(t.runs, t.cpu_us_per_request, strict=True)
        ]
        for t in targets
    }
    config = json.loads(json.dumps(asdict(options), default=str))
    document = {"revision": git_revision(), "options": config, "runs": runs, **summary}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


# ---- main ---------------------------------------------------------------------------------------
def bench(options: Options, command: str) -> None:
    require_wrk()
    addresses = emails(options.customers)
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as scratch:
        work = Path(scratch)
        paths_file = work / "paths.txt"
        paths_file.write_text("".join(f"/customers/{email}\n" for email in addresses))
        with local_cluster(replicas=1) as cluster:
            env = cluster.env("direct")
            migrate(env, options.source)
            primary_dsn = asyncpg_dsn(cluster.direct_url("primary"))
            asyncio.run(seed(primary_dsn, asyncpg_dsn(cluster.direct_url(REPLICA)), addresses))
            log(f"seeded {len(addresses)} customers; the replica has them")
            with running_targets(cluster, options, work) as targets:
                before = asyncio.run(transactions(primary_dsn))
                alternate(
                    targets, options.rounds, lambda t: measure(t, options, paths_file, addresses)
                )
                on_primary = asyncio.run(transactions(primary_dsn)) - before
                check_primary_idle(targets, on_primary)
                if options.profile_dir is not None:
                    for target in targets:
                        profile(target, options, paths_file, options.profile_dir)
            log("token check: timed in process, alternating batches")  # servers stopped
            check = asyncio.run(measure_token_cost())
            summary = report(targets, options, command, check)
            summary["primary_transactions_during_runs"] = on_primary
    if options.write_json:
        log(f"results: {write_json(targets, options, summary)}")


def check_primary_idle(targets: list[Target], on_primary: int) -> None:
    """Reads belong on the replica: the primary may see only a handful of transactions."""
    served = sum(sum(r.requests for r in t.runs) + t.warmup_requests for t in targets)
    log(f"primary committed {on_primary} transactions while {served} reads were served")
    if on_primary > 100 + served // 100:
        raise RuntimeError(f"{on_primary} transactions on the primary: reads leaked to it")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(arguments)
    script = Path(__file__).resolve().relative_to(REPO_ROOT)
    command = f"cd {REPO_ROOT} && {shlex.join([sys.executable, str(script), *arguments])}"
    bench(options, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
