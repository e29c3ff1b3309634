"""Which node is the primary, learned from what the nodes say of themselves."""

from service.db.roles import Memory, Observation, elect

CLUSTER = 7714090705421197213


def node(
    name: str, writable: bool, timeline: int | None, sysid: int | None = CLUSTER
) -> Observation:
    return Observation(name, not writable, timeline, sysid)


def test_the_writable_node_is_the_primary_whatever_its_name() -> None:
    election = elect(
        [node("primary", False, 2), node("replica-1", True, 2), node("replica-2", False, 2)],
        Memory(),
        configured_primary="primary",
    )
    assert election.primary == "replica-1"
    assert election.fenced == {}
    assert election.foreign == {}


def test_split_brain_the_highest_timeline_wins_and_the_old_primary_is_fenced() -> None:
    election = elect(
        [node("primary", True, 1), node("replica-1", True, 2), node("replica-2", False, 1)],
        Memory(),
        configured_primary="primary",
    )
    assert election.primary == "replica-1"
    assert set(election.fenced) == {"primary", "replica-2"}  # and the standby still following it
    assert "split brain" in election.fenced["primary"]


def test_the_highest_timeline_is_remembered_when_the_new_primary_goes_away() -> None:
    first = elect([node("primary", True, 1), node("replica-1", True, 2)], Memory(), "primary")
    later = elect([node("primary", True, 1)], first.memory, "primary")
    assert later.primary is None
    assert "primary" in later.fenced


def test_two_writable_nodes_on_one_timeline_elect_nobody() -> None:
    election = elect([node("a", True, 3), node("b", True, 3)], Memory(), "a")
    assert election.primary is None
    assert election.no_primary_reason is not None
    assert "refusing to guess" in election.no_primary_reason


def test_another_clusters_node_is_foreign_and_never_elected() -> None:
    election = elect(
        [node("primary", True, 1), node("replica-1", False, 1), node("stray", True, 9, sysid=42)],
        Memory(),
        configured_primary="primary",
    )
    assert election.primary == "primary"
    assert set(election.foreign) == {"stray"}
    assert election.memory.highest_timeline == 1  # a foreign timeline counts for nothing


def test_an_unknown_timeline_alone_is_no_reason_to_refuse_writes() -> None:
    assert elect([node("primary", True, None)], Memory(), "primary").primary == "primary"
