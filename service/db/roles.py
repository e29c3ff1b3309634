"""Which node is the primary, learned from the nodes themselves (names are labels, not roles).

Pure: the monitor feeds in what each answering node said of itself and what it remembers of
the cluster, and applies the verdict. The rules (DESIGN.md, "roles"):
- a node with another cluster's system identifier is `foreign` and never served (the
  cluster is the identifier most nodes share, learned once);
- the writable node on the highest timeline is the primary;
- a writable node on an older timeline than the highest one seen is `fenced` (split brain: a
  promotion happened and it was not told), and so is a standby still on such a timeline: it
  follows a fenced node, and its WAL positions are not comparable with the primary's;
- two writable nodes on the highest timeline (or a writable node whose timeline is unknown
  beside another writable node) elect nobody: writes get a 503 rather than a guess.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Observation:
    """What one answering node said of itself in the last probe."""

    name: str
    in_recovery: bool
    timeline: int | None
    system_identifier: int | None


@dataclass(frozen=True, slots=True)
class Memory:
    """What the monitor remembers across rounds: the cluster it serves and how far it got."""

    cluster_id: int | None = None
    highest_timeline: int = 0


@dataclass(frozen=True, slots=True)
class Election:
    primary: str | None
    # Why nobody was elected (None when somebody was, or nobody answers writable).
    no_primary_reason: str | None
    fenced: dict[str, str] = field(default_factory=dict)
    foreign: dict[str, str] = field(default_factory=dict)
    memory: Memory = Memory()


def elect(observations: Sequence[Observation], memory: Memory, configured_primary: str) -> Election:
    cluster_id = memory.cluster_id or _cluster_id(observations, configured_primary)
    foreign = {
        o.name: (
            f"system identifier {o.system_identifier} is not this cluster's ({cluster_id}): "
            "another cluster or a mistyped URL"
        )
        for o in observations
        if cluster_id is not None
        and o.system_identifier is not None
        and o.system_identifier != cluster_id
    }
    ours = [o for o in observations if o.name not in foreign]
    highest = max([memory.highest_timeline, *(o.timeline or 0 for o in ours)])
    remembered = Memory(cluster_id, highest)

    fenced = {
        o.name: (
            f"writable on timeline {o.timeline}, but timeline {highest} exists: "
            "an old primary that was not demoted (split brain)"
            if not o.in_recovery
            else f"a standby on timeline {o.timeline}, behind timeline {highest}: "
            "it follows an old primary"
        )
        for o in ours
        if o.timeline is not None and o.timeline < highest
    }
    writable = [o for o in ours if not o.in_recovery and o.name not in fenced]
    if len(writable) == 1:
        return Election(writable[0].name, None, fenced, foreign, remembered)
    if not writable:
        return Election(None, None, fenced, foreign, remembered)
    names = ", ".join(sorted(o.name for o in writable))
    reason = f"{len(writable)} writable nodes ({names}) on timeline {highest}: refusing to guess"
    return Election(None, reason, fenced, foreign, remembered)


def _cluster_id(observations: Sequence[Observation], configured_primary: str) -> int | None:
    """The identifier most answering nodes share; on a tie, the configured primary's."""
    counts = Counter(o.system_identifier for o in observations if o.system_identifier is not None)
    ranked = counts.most_common()
    if not ranked:
        return None
    if len(ranked) == 1 or ranked[0][1] > ranked[1][1]:
        return ranked[0][0]
    tied = {value for value, count in ranked if count == ranked[0][1]}
    for o in observations:
        if o.name == configured_primary and o.system_identifier in tied:
            return o.system_identifier
    return ranked[0][0]
