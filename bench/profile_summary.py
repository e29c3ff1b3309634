"""Summarise a py-spy `--format raw` profile (collapsed stacks) as shares per layer.

    python bench/profile_summary.py /tmp/prof/service.txt [/tmp/prof/reference.txt ...]

Each sample is charged to the innermost frame that belongs to a known layer (so asyncpg
work called from SQLAlchemy counts as asyncpg), which gives "self time by layer".
Caveat: SQLAlchemy runs its sync core inside greenlets; py-spy shows those samples as
stacks rooted at the greenlet (e.g. `Connection.execute`) with the async callers missing,
and some as empty stacks. They are still charged by their innermost frame.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# First match wins, checked from the innermost frame outwards.
LAYERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("asyncpg (driver)", r"\(asyncpg/"),
        ("sqlalchemy pool checkout/checkin", r"\(sqlalchemy/pool/"),
        ("sqlalchemy execute/compile/result", r"\(sqlalchemy/"),
        ("msgspec / response rendering", r"msgspec|\(litestar/(response|serialization)/"),
        ("litestar DI (kwargs, cleanup)", r"\(litestar/(_kwargs|_signature)/"),
        ("litestar other", r"\(litestar/"),
        ("app code (service/, handlers)", r"\((service|reference_app|bench)/|reference_app\.py"),
        ("asyncio.timeout", r"asyncio/timeouts\.py"),
        ("contextlib (async context managers)", r"\(contextlib\.py"),
        ("uvicorn (HTTP parse, transport write)", r"\(uvicorn/"),
        ("asyncio / event loop", r"\(asyncio/|Runner\.run"),
        ("idle threads (logging listener)", r"\(threading\.py|\(logging/"),
    )
)
UNKNOWN = "no Python frame (empty stack)"

# Frames worth an inclusive figure of their own (every sample with the frame on its stack).
WATCHED = (
    r"SwitchyardPlugin\._provide_db",
    r"KwargsModel\.resolve_dependencies",
    r"DependencyCleanupGroup",
    r"DatabaseRouter\.session",
    r"open_session",
    r"checkout \(service",
    r"DbSession\.execute",
    r"greenlet_spawn",
    r"_add_routing_headers",
    r"normalise_email",
    r"encode_json",
    r"ScopeState",
    r"Pool\.fetchrow|Pool\.release|PoolConnectionHolder\.release",
)


@dataclass(frozen=True)
class Profile:
    total: int
    stacks: list[tuple[list[str], int]]


def load(path: Path) -> Profile:
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return Profile(sum(n for _, n in stacks), stacks)


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, pattern in LAYERS:
            if pattern.search(frame):
                return name
    return UNKNOWN


def by_layer(profile: Profile) -> Counter[str]:
    shares: Counter[str] = Counter()
    for frames, count in profile.stacks:
        shares[layer_of(frames)] += count
    return shares


def watched(profile: Profile) -> Counter[str]:
    hits: Counter[str] = Counter()
    for frames, count in profile.stacks:
        joined = ";".join(frames)
        for pattern in WATCHED:
            if re.search(pattern, joined):
                hits[pattern] += count
    return hits


def print_profile(path: Path) -> None:
    profile = load(path)
    if not profile.total:
        print(f"{path}: no samples")
        return
    print(f"== {path} ({profile.total} samples)")
    for name, count in by_layer(profile).most_common():
        print(f"  {100 * count / profile.total:5.1f}%  {name}")
    print("  -- inclusive (sample has the frame on its stack)")
    for pattern, count in watched(profile).most_common():
        print(f"  {100 * count / profile.total:5.1f}%  {pattern}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    for path in parser.parse_args(argv).profiles:
        print_profile(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
