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
from service.cluster.ha import ETCD, PatroniCluster
from service.cluster.local import PGBOUNCER, LocalCluster

Lab = LocalCluster | PatroniCluster
Handler = Callable[[argparse.Namespace, Lab], int]


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
    up.add_argument(
        "--tls",
        action="store_true",
        help="a local CA, a certificate per node, ssl on every node and PgBouncer, "
        "and sslmode=verify-full URLs (only when the cluster is created)",
    )
    up.add_argument(
        "--ha",
        choices=["none", "patroni"],
        default=None,
        help="patroni: the nodes under Patroni with one etcd (default: what the folder holds)",
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
    promote = command("promote", _promote, "promote a standby (with the primary up: split brain)")
    promote.add_argument("node")
    failover = command(
        "failover",
        _failover,
        "stop the primary, promote the most advanced standby, re-point the rest",
    )
    failover.add_argument("--mode", choices=["immediate", "fast"], default="immediate")
    rejoin = command("rejoin", _rejoin, "pg_rewind an old primary and make it follow the new one")
    rejoin.add_argument("node")
    rejoin.add_argument("--to", default=None, help="upstream node (default: the current primary)")
    switchover = command("switchover", _switchover, "Patroni: planned switchover over REST")
    switchover.add_argument("--candidate", default=None)
    kill = command(
        "kill-leader", _kill_leader, "Patroni: SIGKILL the leader's postmaster or Patroni"
    )
    kill.add_argument("what", choices=["postmaster", "patroni"])
    env = command("env", _env, "print export lines for the service")
    env.add_argument("--mode", choices=["direct", "pgbouncer"], default="direct")


def _run(args: argparse.Namespace, handler: Handler) -> int:
    base = args.dir or Path(os.environ.get("SWITCHYARD_CLUSTER_DIR") or ".cluster")
    try:
        cluster: Lab
        ha = getattr(args, "ha", None)
        if ha == "patroni" or (ha is None and (base / "ha.json").exists()):
            cluster = PatroniCluster(base)
        elif ha == "none" and (base / "ha.json").exists():
            raise ClusterError(f"{base} holds a Patroni lab; choose another --dir")
        else:
            cluster = LocalCluster(base)
        # Without --replicas, `up` keeps an existing cluster's size instead of growing it to 2.
        existing = sum(1 for n in cluster.nodes if n.role == "replica")
        wanted = getattr(args, "replicas", None)
        cluster.replicas = wanted if wanted is not None else (existing or 2)
        if getattr(args, "tls", False):
            if not isinstance(cluster, LocalCluster):
                raise ClusterError("--tls is for the plain lab only (not yet with --ha patroni)")
            cluster.tls = True
        return handler(args, cluster)
    except ClusterError as exc:
        print(f"switchyard cluster: {exc}", file=sys.stderr)
        return 1


def _print_nodes(cluster: Lab) -> None:
    status = cluster.status()
    facts = cluster.roles()
    for node in cluster.nodes:
        now = node.name in facts and ("standby" if facts[node.name].in_recovery else "writable")
        timeline = f" timeline {facts[node.name].timeline}" if node.name in facts else ""
        print(
            f"{node.name:<11} {node.role:<8} {status[node.name]:<8} port {node.port}"
            f"{f' now {now}' if now else ''}{timeline}"
        )
        print(f"    direct:    {cluster.direct_url(node.name)}")
        print(f"    pgbouncer: {cluster.pgbouncer_url(node.name)}")
    print(f"{PGBOUNCER:<11} {'pooler':<8} {status[PGBOUNCER]:<8} port {cluster.pgbouncer_port}")
    if isinstance(cluster, PatroniCluster):
        print(f"{ETCD:<11} {'dcs':<8} {status[ETCD]}")
        patronis = cluster.patroni_status()
        print("patroni:    " + ", ".join(f"{name} {state}" for name, state in patronis.items()))
        print(f"leader:     {cluster.leader() or '(none)'}")


def _up(args: argparse.Namespace, cluster: Lab) -> int:
    wanted = 1 + cluster.replicas + (1 if isinstance(cluster, PatroniCluster) else 0)
    before = cluster.status()
    tls_as_asked = not isinstance(cluster, LocalCluster) or (
        cluster.tls is None or cluster.tls_ca is not None
    )
    if len(before) > wanted and set(before.values()) == {"running"} and tls_as_asked:
        print(f"cluster in {cluster.base_dir} is already running")
    else:
        started = time.perf_counter()
        cluster.up()
        print(f"cluster up in {cluster.base_dir} ({time.perf_counter() - started:.1f} s)")
    _print_nodes(cluster)
    print(f"\nfor the service: source {cluster.base_dir / 'env'}  (or env.pgbouncer)")
    return 0


def _down(args: argparse.Namespace, cluster: Lab) -> int:
    if args.destroy:
        cluster.destroy()
        print(f"cluster in {cluster.base_dir} stopped and deleted")
    else:
        cluster.down()
        print(f"cluster in {cluster.base_dir} stopped (data kept; `up` restarts it)")
    return 0


def _status(args: argparse.Namespace, cluster: Lab) -> int:
    if not cluster.exists():
        print(f"no cluster in {cluster.base_dir}; run `switchyard cluster up`")
        return 1
    _print_nodes(cluster)
    return 0


def _stop(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.stop(args.node, args.mode)
    print(f"{args.node}: stopped ({args.mode})")
    return 0


def _start(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.start(args.node)
    print(f"{args.node}: running")
    return 0


def _restart(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.restart(args.node)
    print(f"{args.node}: restarted")
    return 0


def _freeze(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.freeze(args.node)
    print(f"{args.node}: frozen (connections hang until `thaw {args.node}`)")
    return 0


def _thaw(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.thaw(args.node)
    print(f"{args.node}: running")
    return 0


def _lag(args: argparse.Namespace, cluster: Lab) -> int:
    cluster.set_apply_delay(args.node, args.seconds)
    if args.seconds:
        print(f"{args.node}: applies WAL {args.seconds:g} s late (`lag {args.node} 0` ends it)")
    else:
        print(f"{args.node}: apply delay removed")
    return 0


def _plain(cluster: Lab, verb: str) -> LocalCluster:
    if not isinstance(cluster, LocalCluster):
        raise ClusterError(
            f"`{verb}` is for the plain lab; under Patroni use switchover/kill-leader"
        )
    return cluster


def _patroni(cluster: Lab, verb: str) -> PatroniCluster:
    if not isinstance(cluster, PatroniCluster):
        raise ClusterError(f"`{verb}` needs a Patroni lab (`cluster up --ha patroni`)")
    return cluster


def _promote(args: argparse.Namespace, cluster: Lab) -> int:
    lab = _plain(cluster, "promote")
    started = time.perf_counter()
    lab.promote(args.node)
    print(
        f"{args.node}: promoted ({time.perf_counter() - started:.2f} s); now primary: "
        f"{lab.current_primary()}"
    )
    return 0


def _failover(args: argparse.Namespace, cluster: Lab) -> int:
    lab = _plain(cluster, "failover")
    started = time.perf_counter()
    chosen = lab.failover(args.mode)
    print(
        f"{chosen}: promoted; the other standbys stream from it "
        f"({time.perf_counter() - started:.2f} s)"
    )
    return 0


def _rejoin(args: argparse.Namespace, cluster: Lab) -> int:
    lab = _plain(cluster, "rejoin")
    started = time.perf_counter()
    lab.rejoin(args.node, args.to)
    print(f"{args.node}: rewound, streaming as a standby ({time.perf_counter() - started:.2f} s)")
    return 0


def _switchover(args: argparse.Namespace, cluster: Lab) -> int:
    lab = _patroni(cluster, "switchover")
    started = time.perf_counter()
    leader = lab.switchover(args.candidate)
    print(f"{leader}: leads and is writable ({time.perf_counter() - started:.2f} s)")
    return 0


def _kill_leader(args: argparse.Namespace, cluster: Lab) -> int:
    lab = _patroni(cluster, "kill-leader")
    started = time.perf_counter()
    kill = lab.kill_leader_postmaster if args.what == "postmaster" else lab.kill_leader_patroni
    old = kill()
    print(f"{old}: {args.what} killed; waiting for a new writable leader...")
    leader = lab.wait_leader(other_than=old)
    print(f"{leader}: leads and is writable ({time.perf_counter() - started:.2f} s after the kill)")
    return 0


def _env(args: argparse.Namespace, cluster: Lab) -> int:
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
