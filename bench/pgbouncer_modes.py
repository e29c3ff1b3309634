"""PgBouncer modes benchmark: one read-heavy customer mix against three service configurations.

Starts its own primary + 1 replica + PgBouncer (tmpfs), migrates, seeds customers, then runs
`switchyard run` three ways on that same topology:

    A  direct     cluster.env("direct"): a QueuePool per node, straight to PostgreSQL
    B  pgb-null   cluster.env("pgbouncer"), pgbouncer_pool=null: NullPool, PgBouncer pools
    C  pgb-queue  cluster.env("pgbouncer"), pgbouncer_pool=queue: a client-side QueuePool too

wrk drives each with bench/lua/customer_mix.lua (80% GET /customers/{email}, 10% GET
/customers?limit=20, 10% PUT /customers/{email}) in alternating rounds, because the machine
is shared and noisy: only ratios taken in one run mean anything.

    cd /work/main && /tmp/probe-venv/bin/python bench/pgbouncer_modes.py [--rounds 3]

Needs wrk (`apt-get install -y wrk`). Exits 1 if any run saw non-2xx answers or socket errors.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import asyncpg
from common import (
    LUA_DIR,
    REPO_ROOT,
    RESULTS_DIR,
    WrkResult,
    asyncpg_dsn,
    local_cluster,
    log,
    median,
    migrate,
    reproduce_command,
    require_wrk,
    stop_server,
    write_lines,
    wrk_command,
)
from read_path import (
    REPLICA,
    Target,
    alternate,
    check_nodes,
    emails,
    git_revision,
    ratio,
    seed,
    start_service,
    timed_wrk,
)

from service.cluster import LocalCluster

MIX_SCRIPT = LUA_DIR / "customer_mix.lua"
POOL_ENV = "SWITCHYARD_DATABASE__PGBOUNCER_POOL"


@dataclass(frozen=True)
class Config:
    label: str  # A, B, C: the names the ratios use
    name: str
    mode: str  # what cluster.env() takes
    extra_env: dict[str, str]


CONFIGS = (
    Config("A", "direct", "direct", {}),
    Config("B", "pgb-null", "pgbouncer", {POOL_ENV: "null"}),
    Config("C", "pgb-queue", "pgbouncer", {POOL_ENV: "queue"}),
)
RATIOS = (("B", "A"), ("C", "A"), ("C", "B"))


@dataclass
class Options:
    rounds: int
    duration_s: int
    warmup_s: int
    connections: int
    threads: int
    customers: int
    get_share: int
    list_share: int
    write_json: bool


def parse_args(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load first")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--get-share", type=int, default=80, help="%% GET /customers/{email}")
    parser.add_argument("--list-share", type=int, default=10, help="%% GET /customers?limit=20")
    parser.add_argument("--no-json", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.get_share < 0 or args.list_share < 0 or args.get_share + args.list_share > 100:
        parser.error("--get-share + --list-share must lie within 0..100")
    return Options(
        rounds=args.rounds,
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        threads=args.threads,
        customers=args.customers,
        get_share=args.get_share,
        list_share=args.list_share,
        write_json=not args.no_json,
    )


# ---- servers ------------------------------------------------------------------------------------
@contextmanager
def running_targets(cluster: LocalCluster, log_dir: Path) -> Iterator[list[Target]]:
    """The three services, started one after another, all stopped (by pid) on exit."""
    with ExitStack() as stack:
        targets: list[Target] = []
        for config in CONFIGS:
            env = {**cluster.env(config.mode), **config.extra_env}
            server = start_service(config.name, env, log_dir, REPO_ROOT)
            stack.callback(stop_server, server)
            targets.append(Target(config.name, server, REPLICA))
            log(f"{config.label} {config.name}: pid {server.pid}, {server.base_url}")
        yield targets


# ---- load ---------------------------------------------------------------------------------------
def wrk_for(target: Target, options: Options, emails_file: Path, duration_s: int) -> list[str]:
    return wrk_command(
        target.server.base_url,
        script=MIX_SCRIPT,
        script_args=[str(emails_file), str(options.get_share), str(options.list_share)],
        connections=options.connections,
        threads=options.threads,
        duration_s=duration_s,
    )


def warn_errors(target: Target, result: WrkResult, phase: str) -> None:
    """Errors are reported, not raised: one bad run should not throw the others away."""
    if result.non_2xx or result.socket_errors:
        log(
            f"WARNING {target.name} {phase}: {result.non_2xx} non-2xx, "
            f"{result.socket_errors} socket errors; server log tail:\n{target.server.log_tail(10)}"
        )


def measure(target: Target, options: Options, emails_file: Path, addresses: list[str]) -> None:
    warmup, result = timed_wrk(
        target,
        lambda seconds: wrk_for(target, options, emails_file, seconds),
        options.warmup_s,
        options.duration_s,
    )
    warn_errors(target, warmup, "warm-up")
    warn_errors(target, result, "run")
    check_nodes(target, addresses)  # point reads still come from the replica
    log(
        f"{target.name:<10} {result.requests_per_s:8.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  {target.cpu_us_per_request[-1]:5.0f} CPU µs/req  "
        f"non-2xx {result.non_2xx}"
    )


async def renamed_customers(primary_dsn: str) -> int:
    """Customers a PUT of the mix renamed: proof the writes reached the primary."""
    conn = await asyncpg.connect(primary_dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM customers WHERE name LIKE 'Bench %'"))
    finally:
        await conn.close()


# ---- report -------------------------------------------------------------------------------------
def medians_of(target: Target) -> dict[str, float]:
    return {
        "requests_per_s": median([r.requests_per_s for r in target.runs]),
        "p50_ms": median([r.p50_ms for r in target.runs]),
        "p99_ms": median([r.p99_ms for r in target.runs]),
        "cpu_us_per_request": median(target.cpu_us_per_request),
    }


def row(first: str, config: Config, figures: dict[str, float], errors: str = "") -> str:
    return (
        f"{first:>6}  {config.label} {config.name:<10} {figures['requests_per_s']:>8.0f} "
        f"{figures['p50_ms']:>8.2f} {figures['p99_ms']:>8.2f} "
        f"{figures['cpu_us_per_request']:>10.0f}  {errors}"
    ).rstrip()


def round_lines(targets: list[Target], rounds: int) -> list[str]:
    lines = []
    for index in range(rounds):
        for config, target in zip(CONFIGS, targets, strict=True):
            run = target.runs[index]
            figures = {**asdict(run), "cpu_us_per_request": target.cpu_us_per_request[index]}
            errors = f"{run.non_2xx:>7} {run.socket_errors:>8}"
            lines.append(row(str(index + 1), config, figures, errors))
    return lines


def ratio_lines(
    targets: list[Target], medians: dict[str, dict[str, float]], rounds: int
) -> tuple[list[str], dict[str, dict[str, object]]]:
    by_label = dict(zip((c.label for c in CONFIGS), targets, strict=True))
    lines: list[str] = []
    ratios: dict[str, dict[str, object]] = {}
    for top, bottom in RATIOS:
        upper, lower = by_label[top], by_label[bottom]
        value = ratio(medians[upper.name]["requests_per_s"], medians[lower.name]["requests_per_s"])
        p99 = ratio(medians[upper.name]["p99_ms"], medians[lower.name]["p99_ms"])
        per_round = [
            ratio(upper.runs[i].requests_per_s, lower.runs[i].requests_per_s) for i in range(rounds)
        ]
        rounds_text = ", ".join(f"{r:.2f}" for r in per_round)
        lines.append(
            f"{top}/{bottom} ({upper.name} / {lower.name}): req/s {value:.2f}  "
            f"(per round {rounds_text}),  p99 {p99:.2f}"
        )
        ratios[f"{top}/{bottom}"] = {"requests_per_s": value, "p99": p99, "per_round": per_round}
    return lines, ratios


def report(targets: list[Target], options: Options, command: str) -> dict[str, object]:
    mix = f"{options.get_share}% GET one, {options.list_share}% GET list, "
    mix += f"{100 - options.get_share - options.list_share}% PUT"
    header = f"{'round':>6}  {'config':<12} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
    header += f"{'CPU µs/req':>10}  {'non-2xx':>7} {'sock err':>8}"
    lines = [f"mix: {mix}; {options.connections} connections, {options.threads} threads", header]
    lines += round_lines(targets, options.rounds)
    medians = {t.name: medians_of(t) for t in targets}
    lines.append("")
    lines += [row("median", c, medians[t.name]) for c, t in zip(CONFIGS, targets, strict=True)]
    more, ratios = ratio_lines(targets, medians, options.rounds)
    lines += ["", *more]
    bad = {t.name: sum(r.non_2xx + r.socket_errors for r in t.runs) for t in targets}
    lines.append("errors: " + ", ".join(f"{name} {count}" for name, count in bad.items()))
    lines += ["", f"reproduce: {command}"]
    print("\n".join(lines))
    return {"medians": medians, "ratios": ratios, "errors": bad}


def write_json(targets: list[Target], options: Options, summary: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"pgbouncer_modes-{stamp}.json"
    runs = {
        t.name: [
            {**{k: v for k, v in asdict(r).items() if k != "raw"}, "cpu_us_per_request": cpu}
            for r, cpu in zip(t.runs, t.cpu_us_per_request, strict=True)
        ]
        for t in targets
    }
    document = {"revision": git_revision(), "options": asdict(options), "runs": runs, **summary}
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


# ---- main ---------------------------------------------------------------------------------------
def bench(options: Options, command: str) -> bool:
    """Run everything; True when no run saw an error answer."""
    require_wrk()
    addresses = emails(options.customers)
    with tempfile.TemporaryDirectory(prefix="switchyard-bench-") as scratch:
        work = Path(scratch)
        emails_file = write_lines(work / "emails.txt", addresses)
        with local_cluster(replicas=1) as cluster:
            migrate(cluster.env("direct"))
            primary_dsn = asyncpg_dsn(cluster.direct_url("primary"))
            asyncio.run(seed(primary_dsn, asyncpg_dsn(cluster.direct_url(REPLICA)), addresses))
            log(f"seeded {len(addresses)} customers; the replica has them")
            with running_targets(cluster, work) as targets:
                alternate(
                    targets, options.rounds, lambda t: measure(t, options, emails_file, addresses)
                )
            renamed = asyncio.run(renamed_customers(primary_dsn))
            log(f"{renamed} of {len(addresses)} customers renamed by the mix's PUTs")
            summary = report(targets, options, command)
    if options.write_json:
        log(f"results: {write_json(targets, options, summary)}")
    errors = summary["errors"]
    return isinstance(errors, dict) and not any(errors.values())


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    options = parse_args(arguments)
    return 0 if bench(options, reproduce_command(__file__, arguments)) else 1


if __name__ == "__main__":
    sys.exit(main())
