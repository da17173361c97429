"""The health of an app checked from several locations (DESIGN §21): not READY only when at
least ``quorum`` locations' latest reports agree, then the worst of those that agree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks.model.aggregate import DEFAULT_ORDER
from waypoint_hooks.model.health import Health
from waypoint_hooks.model.quorum import Quorum

NAMES = ("eu", "us", "asia", "au", "sa")


@st.composite
def quorums_and_reports(draw: st.DrawFn) -> tuple[Quorum, dict[str, Health]]:
    locations = tuple(draw(st.lists(st.sampled_from(NAMES), min_size=1, unique=True)))
    needed = draw(st.integers(1, len(locations)))
    # Some locations have not reported yet; a report of a location the app does not list
    # (an instance elsewhere) may be among them.
    reporting = draw(st.lists(st.sampled_from((*NAMES, "elsewhere")), unique=True))
    latest = {name: draw(st.sampled_from(list(Health))) for name in reporting}
    return Quorum(locations, needed), latest


@given(quorums_and_reports())
def test_not_ready_only_when_a_quorum_agrees_and_then_the_worst_of_them(
    case: tuple[Quorum, dict[str, Health]],
) -> None:
    quorum, latest = case
    agreeing = [h for n, h in latest.items() if n in quorum.locations and h is not Health.READY]
    combined = quorum.combine(latest)
    if len(agreeing) < quorum.needed:
        assert combined is Health.READY
    else:
        assert combined in agreeing
        assert all(DEFAULT_ORDER.index(combined) >= DEFAULT_ORDER.index(h) for h in agreeing)


@given(quorums_and_reports(), st.sampled_from(NAMES), st.sampled_from(list(Health)))
def test_one_more_location_in_trouble_never_makes_the_app_healthier(
    case: tuple[Quorum, dict[str, Health]], name: str, health: Health
) -> None:
    quorum, latest = case
    if latest.get(name, Health.READY) is not Health.READY or health is Health.READY:
        return
    before = quorum.combine(latest)
    after = quorum.combine({**latest, name: health})
    assert DEFAULT_ORDER.index(after) >= DEFAULT_ORDER.index(before)


def test_one_location_down_of_two_with_quorum_two_is_ready() -> None:
    quorum = Quorum(("eu", "us"), 2)
    assert quorum.combine({"eu": Health.DOWN, "us": Health.READY}) is Health.READY
    assert quorum.combine({"eu": Health.DOWN}) is Health.READY
    assert quorum.combine({"eu": Health.DOWN, "us": Health.PARTIAL}) is Health.DOWN
