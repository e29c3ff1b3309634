import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.db import Intent, format_lsn, parse_lsn
from service.db.request import parse_staleness, resolve_intent
from service.db.selection import Candidate, choose_read_replica, eligible_replicas
from service.problems import InvalidHeader as InvalidHeaderError

methods = st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
route_intents = st.sampled_from([None, Intent.WRITE, Intent.READ, Intent.STRONG_READ])
headers = st.sampled_from([None, "strong", "eventual", "STRONG", " eventual "])


@given(methods, route_intents, headers)
def test_a_header_never_moves_a_write_off_the_primary(
    method: str, route: Intent | None, header: str | None
) -> None:
    intent = resolve_intent(method, route, header)
    if method not in ("GET", "HEAD", "OPTIONS") or route is Intent.WRITE:
        assert intent is Intent.WRITE
    if header and header.strip().lower() == "strong" and intent is not Intent.WRITE:
        assert intent is Intent.STRONG_READ
    if route is Intent.STRONG_READ:
        assert intent in (Intent.STRONG_READ, Intent.WRITE)


def test_plain_get_is_a_read() -> None:
    assert resolve_intent("GET", None, None) is Intent.READ
    assert resolve_intent("GET", None, "eventual") is Intent.READ


@pytest.mark.parametrize("value", ["weak", "", "strong,eventual"])
def test_unknown_consistency_is_rejected(value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        resolve_intent("GET", None, value)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lsn_round_trips(position: int) -> None:
    assert parse_lsn(format_lsn(position)) == position


def test_lsn_text_form() -> None:
    assert parse_lsn("0/3009138") == 0x3009138
    assert format_lsn(0x1_0000_0010) == "1/10"


@pytest.mark.parametrize("value", ["", "3009138", "0/", "x/1", "0/3009138/1", "123456789/0"])
def test_malformed_lsn_is_rejected(value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        parse_lsn(value)


candidates = st.lists(
    st.builds(
        Candidate,
        name=st.text("abc", min_size=1, max_size=3),
        serving=st.booleans(),
        replay_lsn=st.none() | st.integers(0, 100),
        checked_out=st.integers(0, 5),
    ),
    max_size=5,
    unique_by=lambda c: c.name,
)


@given(candidates, st.none() | st.integers(0, 100), st.integers(0, 50), st.booleans())
def test_a_token_is_never_served_by_a_node_behind_it(
    replicas: list[Candidate], min_lsn: int | None, turn: int, least: bool
) -> None:
    chosen = choose_read_replica(eligible_replicas(replicas, min_lsn), turn, least)
    if chosen is None:
        return
    assert chosen.serving
    if min_lsn is not None:
        assert chosen.replay_lsn is not None
        assert chosen.replay_lsn >= min_lsn


def test_round_robin_spreads_and_least_connections_picks_idle() -> None:
    replicas = [Candidate("a", True, None, 3), Candidate("b", True, None, 1)]
    assert [choose_read_replica(replicas, t, False).name for t in range(4)] == list("abab")  # type: ignore[union-attr]
    assert choose_read_replica(replicas, 0, True).name == "b"  # type: ignore[union-attr]


def test_excluded_and_down_replicas_are_not_eligible() -> None:
    replicas = [Candidate("a", True, 5, 0), Candidate("b", False, 5, 0), Candidate("c", True, 5, 0)]
    assert [r.name for r in eligible_replicas(replicas, None, frozenset({"a"}))] == ["c"]


def test_least_connections_breaks_ties_round_robin() -> None:
    idle = [
        Candidate("a", True, None, 0),
        Candidate("b", True, None, 0),
        Candidate("c", True, None, 2),
    ]
    chosen = {choose_read_replica(idle, turn, True).name for turn in range(4)}  # type: ignore[union-attr]
    assert chosen == {"a", "b"}


def test_a_bad_consistency_header_is_rejected_on_writes_too() -> None:
    with pytest.raises(InvalidHeaderError):
        resolve_intent("POST", None, "sometimes")


@pytest.mark.parametrize(
    ("value", "seconds"), [("250ms", 0.25), ("2s", 2.0), (" 2 ", 2.0), ("0ms", 0.0), ("1.5s", 1.5)]
)
def test_staleness_durations(value: str, seconds: float) -> None:
    assert parse_staleness(value) == seconds


@pytest.mark.parametrize("value", ["", "-1s", "1h", "soon", "1e3s", "nan", "2 s s"])
def test_malformed_staleness_is_rejected(value: str) -> None:
    with pytest.raises(InvalidHeaderError):
        parse_staleness(value)
