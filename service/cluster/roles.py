"""Which node is the primary now: asked of the nodes themselves, never of the configuration.

After a promotion the configured names lie (`primary` may be a standby, or a stale second
primary): the lab finds the truth the way a router must, from `pg_is_in_recovery()`, the
timeline and the WAL position. The choosing is pure so that unit tests can pin it down.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.cluster import config
from service.cluster.errors import ClusterError

# One row, `|`-separated by psql -A. On a primary the timeline comes from the current WAL
# file name (right at once); pg_control_checkpoint() lags up to 2 s after a promotion.
# On a standby: the WAL receiver's timeline, else the last checkpoint's.
FACTS_SQL = """
SELECT pg_is_in_recovery(),
  CASE WHEN pg_is_in_recovery()
    THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver),
                  (pg_control_checkpoint()).timeline_id)
    ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int
  END,
  pg_wal_lsn_diff(
    CASE WHEN pg_is_in_recovery()
      THEN greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
      ELSE pg_current_wal_insert_lsn()
    END, '0/0')::bigint,
  coalesce((SELECT status FROM pg_stat_wal_receiver), ''),
  coalesce((SELECT sender_port FROM pg_stat_wal_receiver), 0)
"""


@dataclass(frozen=True)
class NodeFacts:
    """What one running node says about itself."""

    in_recovery: bool
    timeline: int
    lsn: int  # bytes: the insert position on a primary, max(received, replayed) on a standby
    receiver_status: str  # pg_stat_wal_receiver.status ("streaming", ...) or "" for none
    upstream_port: int  # the port the WAL receiver streams from; 0 for none

    @classmethod
    def parse(cls, row: str) -> NodeFacts:
        try:
            recovery, timeline, lsn, status, upstream = row.strip().split("|")
            return cls(recovery == "t", int(timeline), int(lsn), status, int(upstream or 0))
        except ValueError:
            raise ClusterError(f"unexpected answer to the role probe: {row!r}") from None


def pick_primary(facts: Mapping[str, NodeFacts]) -> str | None:
    """The writable node on the highest timeline; None when no node is writable.

    Two writable nodes on the same timeline cannot be told apart by the data: a guess would
    send writes to a node that may be thrown away, so that is an error.
    """
    writable = {name: f for name, f in facts.items() if not f.in_recovery}
    if not writable:
        return None
    top = max(f.timeline for f in writable.values())
    best = [name for name, f in writable.items() if f.timeline == top]
    if len(best) > 1:
        raise ClusterError(
            f"split brain: {', '.join(sorted(best))} are all writable on timeline {top}"
        )
    return best[0]


def pick_most_advanced(facts: Mapping[str, NodeFacts]) -> str:
    """The standby that has received the most WAL (the one that loses the least on promotion).

    Ties go to the first name in `facts`' order, so the configured order decides, not chance.
    """
    standbys = [(name, f) for name, f in facts.items() if f.in_recovery]
    if not standbys:
        raise ClusterError("no running standby to promote")
    top = max(f.lsn for _, f in standbys)
    return next(name for name, f in standbys if f.lsn == top)


def primary_conninfo(upstream_port: int, application_name: str) -> str:
    """What a standby streams from; application_name names it in pg_stat_replication."""
    return (
        f"host=127.0.0.1 port={upstream_port} user={config.ADMIN_USER} "
        f"application_name={application_name}"
    )


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
