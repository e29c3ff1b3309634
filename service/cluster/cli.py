"""`switchyard cluster ...`: start, inspect and break the local topology from a shell.

The lead CLI calls `add_parser()` and then `args.func(args)`; `python -m service.cluster.cli`
runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from service.cluster import config
from service.cluster.errors import ClusterError
from service.cluster.local import LocalCluster
from service.cluster.service_urls import PGBOUNCER

Handler = Callable[[argparse.Namespace, LocalCluster], int]


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cluster",
        help="local primary + replicas + PgBouncer, and failure injection on them",
        description="Start the local topology and break it on purpose, one command at a time.",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="cluster folder (default: $SWITCHYARD_CLUSTER_DIR or .cluster)",
    )
    sub = parser.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(func=lambda args: _run(args, handler))
        return p

    up = command("up", _up, "start everything (idempotent)")
    up.add_argument(
        "--replicas", type=int, default=None, help="streaming replicas (default: as before, or 2)"
    )
    down = command("down", _down, "stop everything, keep the data")
    down.add_argument("--destroy", action="store_true", help="also delete the cluster folder")
    command("status", _status, "show every node, its state and URLs")
    stop = command("stop", _stop, "stop a node (or pgbouncer)")
    stop.add_argument("node")
    stop.add_argument("--mode", choices=["immediate", "fast"], default="immediate")
    for name, handler, help_text in (
        ("start", _start, "start a node and wait until it accepts connections"),
        ("restart", _restart, "fast stop, then start"),
        ("freeze", _freeze, "SIGSTOP a node and its children: connections hang"),
        ("thaw", _thaw, "SIGCONT a frozen node"),
    ):
        command(name, handler, help_text).add_argument("node")
    lag = command("lag", _lag, "delay WAL apply on a replica (0 ends the delay)")
    lag.add_argument("node")
    lag.add_argument("seconds", type=float)
    env = command("env", _env, "print export lines for the service")
    env.add_argument("--mode", choices=["direct", "pgbouncer"], default="direct")


def _run(args: argparse.Namespace, handler: Handler) -> int:
    base = args.dir or Path(os.environ.get("SWITCHYARD_CLUSTER_DIR") or ".cluster")
    try:
        cluster = LocalCluster(base)
        # Without --replicas, `up` keeps an existing cluster's size instead of growing it to 2.
        existing = sum(1 for n in cluster.nodes if n.role == "replica")
        wanted = getattr(args, "replicas", None)
        cluster.replicas = wanted if wanted is not None else (existing or 2)
        return handler(args, cluster)
    except ClusterError as exc:
        print(f"switchyard cluster: {exc}", file=sys.stderr)
        return 1


def _print_nodes(cluster: LocalCluster) -> None:
    status = cluster.status()
    for node in cluster.nodes:
        print(f"{node.name:<11} {node.role:<8} {status[node.name]:<8} port {node.port}")
        print(f"    direct:    {cluster.direct_url(node.name)}")
        print(f"    pgbouncer: {cluster.pgbouncer_url(node.name)}")
    print(f"{PGBOUNCER:<11} {'pooler':<8} {status[PGBOUNCER]:<8} port {cluster.pgbouncer_port}")


def _up(args: argparse.Namespace, cluster: LocalCluster) -> int:
    wanted = 1 + cluster.replicas
    before = cluster.status()
    if len(before) > wanted and set(before.values()) == {"running"}:
        print(f"cluster in {cluster.base_dir} is already running")
    else:
        started = time.perf_counter()
        cluster.up()
        print(f"cluster up in {cluster.base_dir} ({time.perf_counter() - started:.1f} s)")
    _print_nodes(cluster)
    print(f"\nfor the service: source {cluster.base_dir / 'env'}  (or env.pgbouncer)")
    return 0


def _down(args: argparse.Namespace, cluster: LocalCluster) -> int:
    if args.destroy:
        cluster.destroy()
        print(f"cluster in {cluster.base_dir} stopped and deleted")
    else:
        cluster.down()
        print(f"cluster in {cluster.base_dir} stopped (data kept; `up` restarts it)")
    return 0


def _status(args: argparse.Namespace, cluster: LocalCluster) -> int:
    if not cluster.exists():
        print(f"no cluster in {cluster.base_dir}; run `switchyard cluster up`")
        return 1
    _print_nodes(cluster)
    return 0


def _stop(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.stop(args.node, args.mode)
    print(f"{args.node}: stopped ({args.mode})")
    return 0


def _start(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.start(args.node)
    print(f"{args.node}: running")
    return 0


def _restart(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.restart(args.node)
    print(f"{args.node}: restarted")
    return 0


def _freeze(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.freeze(args.node)
    print(f"{args.node}: frozen (connections hang until `thaw {args.node}`)")
    return 0


def _thaw(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.thaw(args.node)
    print(f"{args.node}: running")
    return 0


def _lag(args: argparse.Namespace, cluster: LocalCluster) -> int:
    cluster.set_apply_delay(args.node, args.seconds)
    if args.seconds:
        print(f"{args.node}: applies WAL {args.seconds:g} s late (`lag {args.node} 0` ends it)")
    else:
        print(f"{args.node}: apply delay removed")
    return 0


def _env(args: argparse.Namespace, cluster: LocalCluster) -> int:
    if not cluster.exists():
        print(f"no cluster in {cluster.base_dir}; run `switchyard cluster up`", file=sys.stderr)
        return 1
    print(config.export_lines(cluster.env(args.mode)), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="switchyard")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
