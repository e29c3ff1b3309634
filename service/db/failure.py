"""Why a node could not serve a request, and whether that says anything about its health."""

from __future__ import annotations

import enum


class FailureKind(enum.Enum):
    # The node (or the way to it) failed: the request that saw it bans the node.
    REFUSED = "connection failed"
    LOST = "the connection was lost"
    STARTING_OR_STOPPING = "the node is starting up or shutting down"
    # Nothing new about the node's health: no ban.
    DEADLINE = "no answer within the statement deadline"
    FOUND_DOWN = "the node was found down while the statement waited"
    MARKED_DOWN = "the node is marked down"
    POOL_EXHAUSTED = "every pooled connection stayed busy"
    RECOVERY_CONFLICT = "recovery conflict on the standby"

    @property
    def node_fault(self) -> bool:
        return self in (FailureKind.REFUSED, FailureKind.LOST, FailureKind.STARTING_OR_STOPPING)
