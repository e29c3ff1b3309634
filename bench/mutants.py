"""Break the routing core on purpose and report whether the tests notice (`make mutants`).

Two parts, each on a temporary copy of the repository (the worktree is never touched):

1. Named breaks: each is one anchored text substitution in one file (BREAKS below), run
   against the integration tests that should catch it. A break is "caught" when those tests
   fail and "survived" when they pass. The same tests must pass on the unbroken copy first
   (else "caught" would mean nothing), and an anchor that is no longer in its file is an error:
   a stale break is never reported as caught or survived.
2. mutmut over service/db/ against the unit suite: the mutation score. It is bounded by a
   file list (`--mutmut-files`, default: the modules with unit-tested logic) and a time budget
   (`--mutmut-budget` seconds); when the budget runs out the score covers the mutants run so
   far, and the report says so.

Exit status: 0 when every break was caught, 1 when one survived, 2 on a stale anchor or a
failing baseline. Usage: `python bench/mutants.py [--only NAME ...] [--skip-mutmut]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FAILOVER = "tests/integration/failover/test_core_guarantees.py"
REQUESTS = "tests/integration/test_request_failures.py"
REPLICAS = "tests/integration/failover/test_replica_failures.py"
ROUTES = "tests/integration/test_route_intent.py"


@dataclass(frozen=True)
class Break:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest node ids that must fail with the break applied


BREAKS: tuple[Break, ...] = (
    Break(
        "a failed request no longer bans its node",
        "service/db/router.py",
        "self.monitor.mark_failed(node, reason, NodeState.BANNED, abandon_inflight=False)",
        "pass",
        (
            f"{REQUESTS}::test_a_node_fault_under_a_read_bans_that_replica_and_the_read_is_rerun",
            f"{FAILOVER}::test_a_read_whose_replica_fails_bans_it_and_is_rerun_on_the_other",
        ),
    ),
    Break(
        "the read re-run is removed",
        "service/db/plugin.py",
        "app_config.middleware.append(ReadRetryMiddleware)",
        "pass",
        (
            f"{REQUESTS}::test_a_node_fault_under_a_read_bans_that_replica_and_the_read_is_rerun",
            f"{FAILOVER}::test_a_read_whose_replica_fails_bans_it_and_is_rerun_on_the_other",
        ),
    ),
    Break(
        "the monitor no longer aborts statements waiting on a node it found down",
        "service/db/monitor.py",
        "        if abandon_inflight:\n            node.abandon_inflight()",
        "        if abandon_inflight:\n            pass",
        (f"{REPLICAS}::test_frozen_replica_stalls_reads_for_about_one_probe_and_fails_none",),
    ),
    Break(
        "the route option db_intent is ignored",
        "service/db/request.py",
        'route_intent(request.route_handler.opt.get("db_intent"))',
        "None",
        (ROUTES,),
    ),
    Break(
        "min_lsn_wait is ignored",
        "service/db/router.py",
        "give_up = loop.time() + self.settings.min_lsn_wait",
        "give_up = loop.time()",
        (f"{FAILOVER}::test_min_lsn_wait_gives_a_replica_time_to_replay_the_token",),
    ),
    Break(
        "a replica is no longer judged by the WAL it received while the primary is down",
        "service/db/monitor.py",
        "if (primary is None or primary.health.failed) and received is not None:",
        "if False:",
        (
            f"{FAILOVER}::"
            "test_a_replica_that_missed_wal_is_judged_by_what_it_received_when_the_primary_dies",
        ),
    ),
    Break(
        'a token read no longer honours fallback = "error"',
        "service/db/selection.py",
        "    if not fallback_to_primary:\n        raise NoNodeAvailableError",
        "    if not fallback_to_primary and min_lsn is None:\n        raise NoNodeAvailableError",
        (f"{FAILOVER}::test_with_fallback_error_a_token_read_gets_503_when_no_replica_serves",),
    ),
)

# Modules whose logic the unit suite is meant to pin down; the rest of service/db/ is I/O
# that only the integration suite exercises (mutating it against unit tests measures nothing).
DEFAULT_MUTMUT_FILES = (
    "service/db/selection.py",
    "service/db/intent.py",
    "service/db/lsn.py",
    "service/db/health_state.py",
    "service/db/sticky.py",
    "service/db/gate.py",
)


class StaleBreakError(Exception):
    """An anchor is no longer in its file: the code moved, the break must be rewritten."""


def apply(brk: Break, root: Path) -> None:
    path = root / brk.file
    if not path.exists():
        raise StaleBreakError(f"{brk.name!r}: {brk.file} does not exist any more")
    text = path.read_text()
    count = text.count(brk.old)
    if count != 1:
        where = "is not in" if count == 0 else f"is {count} times in"
        raise StaleBreakError(f"{brk.name!r}: the anchor {brk.old!r} {where} {brk.file}")
    path.write_text(text.replace(brk.old, brk.new))


def check_anchors(breaks: Sequence[Break]) -> list[str]:
    """Every stale anchor, found before anything slow runs."""
    problems = []
    for brk in breaks:
        path = ROOT / brk.file
        count = path.read_text().count(brk.old) if path.exists() else 0
        if count != 1:
            problems.append(f"{brk.name!r}: anchor found {count} times in {brk.file}: {brk.old!r}")
    return problems


@contextmanager
def repo_copy() -> Iterator[Path]:
    """The repository's tracked and untracked-but-not-ignored files, in a temporary folder."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    base = Path(tempfile.mkdtemp(prefix="switchyard-mutant-"))
    try:
        for raw in filter(None, listed):
            source = ROOT / raw.decode()
            if source.is_file():
                target = base / raw.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def copy_env(root: Path, mode: str) -> dict[str, str]:
    # PYTHONPATH first: the venv's editable install points at the worktree, not the copy.
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "SWITCHYARD_TEST_MODE": mode,
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def imports_from(root: Path, env: dict[str, str]) -> Path:
    shown = subprocess.run(
        [sys.executable, "-c", "import service; print(service.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return Path(shown).resolve()


def run_tests(root: Path, tests: Sequence[str], mode: str, log: Path) -> bool:
    env = copy_env(root, mode)
    if not imports_from(root, env).is_relative_to(root.resolve()):
        raise RuntimeError(f"the copy in {root} does not import its own `service` package")
    with log.open("w") as out:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-x",
                "-p",
                "no:randomly",
                "-p",
                "no:cacheprovider",
                *tests,
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=900,
            check=False,
        )
    return result.returncode == 0


def run_breaks(numbered: Sequence[tuple[int, Break]], mode: str, logs: Path) -> int:
    breaks = [brk for _, brk in numbered]
    stale = check_anchors(breaks)
    if stale:
        print("STALE BREAKS (rewrite them against the current code):", *stale, sep="\n  ")
        return 2
    everything = sorted({test for brk in breaks for test in brk.tests})
    with repo_copy() as root:
        started = time.monotonic()
        if not run_tests(root, everything, mode, logs / "baseline.log"):
            print(f"BASELINE FAILED: the unbroken copy fails these tests; see {logs}/baseline.log")
            return 2
        print(
            f"baseline: {len(everything)} tests pass unbroken ({time.monotonic() - started:.0f} s)"
        )
    survived = 0
    for number, brk in numbered:
        with repo_copy() as root:
            apply(brk, root)
            started = time.monotonic()
            log = logs / f"break-{number}.log"
            caught = not run_tests(root, brk.tests, mode, log)
        survived += not caught
        verdict = "caught  " if caught else "SURVIVED"
        print(f"{verdict} {number}. {brk.name} ({time.monotonic() - started:.0f} s; {log})")
    return 1 if survived else 0


def run_mutmut(files: Sequence[str], budget: float, logs: Path) -> None:
    missing = [f for f in files if not (ROOT / f).is_file()]
    if missing:
        raise SystemExit(f"mutmut: no such files (moved? update --mutmut-files): {missing}")
    with repo_copy() as root:
        config = "\n[tool.mutmut]\n" + "\n".join(
            (
                f"source_paths = {json.dumps(['service/'])}",
                f"only_mutate = {json.dumps(list(files))}",
                f"pytest_add_cli_args_test_selection = {json.dumps(['tests/unit'])}",
                f"pytest_add_cli_args = {json.dumps(['-p', 'no:randomly', '-q'])}",
                "use_git_change_detection = false",
                # Unit tests read files beside the code (compose.yaml, config/, ...).
                f"also_copy = {json.dumps(_beside_the_code(root))}",
            )
        )
        with (root / "pyproject.toml").open("a") as pyproject:
            pyproject.write(config + "\n")
        env = dict(os.environ)
        mutmut = [sys.executable, "-m", "mutmut"]
        log = logs / "mutmut.log"
        started = time.monotonic()
        with log.open("w") as out:
            # Its own process group, so the budget stops mutmut and every worker it forked.
            process = subprocess.Popen(
                [*mutmut, "run", "--max-children", str(os.cpu_count() or 2)],
                cwd=root,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                process.wait(timeout=budget)
                complete = process.returncode == 0
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
                complete = False
        elapsed = time.monotonic() - started
        subprocess.run(
            [*mutmut, "export-cicd-stats"], cwd=root, env=env, capture_output=True, check=False
        )
        stats_path = root / "mutants" / "mutmut-cicd-stats.json"
        if not stats_path.exists():
            print(f"mutmut: no results after {elapsed:.0f} s; see {log}")
            return
        stats = json.loads(stats_path.read_text())
        shutil.copy(stats_path, logs / "mutmut-cicd-stats.json")
        survivors = subprocess.run(
            [*mutmut, "results"], cwd=root, env=env, capture_output=True, text=True, check=False
        ).stdout
        (logs / "mutmut-survivors.txt").write_text(survivors)
        # The diffs, to judge each survivor after the copy is gone.
        with (logs / "mutmut-survivors.diff").open("w") as diffs:
            for line in survivors.splitlines():
                name, _, verdict = line.strip().rpartition(": ")
                if verdict == "survived":
                    shown = subprocess.run(
                        [*mutmut, "show", name],
                        cwd=root,
                        env=env,
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    diffs.write(f"# {name}\n{shown.stdout}\n")
    # A mutant that makes the tests time out was noticed by them too: mutmut counts it apart.
    killed = stats.get("killed", 0) + stats.get("timeout", 0)
    survived = stats.get("survived", 0)
    judged = killed + survived
    score = 100.0 * killed / judged if judged else 0.0
    state = "complete" if complete else f"stopped by the {budget:.0f} s budget"
    print(
        f"mutmut over {', '.join(files)} against tests/unit ({state}, {elapsed:.0f} s): "
        f"{killed} killed (timeouts included), {survived} survived, score {score:.1f}% "
        f"(all counts: {json.dumps(stats)}; survivors in {logs}/mutmut-survivors.txt and .diff)"
    )


def _beside_the_code(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name not in ("service", "mutants"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mode", default="direct", choices=("direct", "pgbouncer"))
    parser.add_argument("--only", nargs="*", type=int, help="run only these breaks (1-7)")
    parser.add_argument("--skip-breaks", action="store_true")
    parser.add_argument("--skip-mutmut", action="store_true")
    parser.add_argument("--mutmut-files", nargs="*", default=list(DEFAULT_MUTMUT_FILES))
    parser.add_argument("--mutmut-budget", type=float, default=900.0, help="seconds")
    parser.add_argument("--logs", type=Path, help="folder for the logs (default: a new temp one)")
    args = parser.parse_args(argv)
    args.logs = args.logs or Path(tempfile.mkdtemp(prefix="switchyard-mutants-logs-"))
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"logs in {args.logs}")
    status = 0
    if not args.skip_breaks:
        chosen = [(i, b) for i, b in enumerate(BREAKS, start=1) if not args.only or i in args.only]
        status = run_breaks(chosen, args.mode, args.logs.resolve())
    if not args.skip_mutmut and status != 2:
        run_mutmut(args.mutmut_files, args.mutmut_budget, args.logs.resolve())
    return status


if __name__ == "__main__":
    sys.exit(main())
