"""Hypothesis strategies for wire-format reports, shared by the codec and protobuf tests."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from waypoint_hooks import CategoryDisplayHint, Health, Resource, StatusReport

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["", "é✔🚀", "\x00\n\t\x7f\u2028", '"\\/']
)
OFFSETS = st.builds(
    timezone,
    st.timedeltas(
        min_value=-timedelta(hours=23, minutes=59), max_value=timedelta(hours=23, minutes=59)
    ),
)
TIMES = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=OFFSETS
)
SIMPLE_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)


@st.composite
def wire_resources(draw: st.DrawFn) -> Resource:
    return Resource(
        name=draw(TEXT),
        health=draw(st.sampled_from(Health)),
        health_message=draw(TEXT),
        id=draw(TEXT),
        parent_resource_id=draw(TEXT),
        platform=draw(TEXT),
        type=draw(TEXT),
        platform_url=draw(TEXT),
        category_display_hint=draw(st.sampled_from(CategoryDisplayHint)),
        created_time=draw(st.none() | TIMES),
        state_json=draw(st.just("") | SIMPLE_JSON.map(json.dumps)),
    )


@st.composite
def reports(draw: st.DrawFn) -> StatusReport:
    """Finalized reports, as the wire carries them: ``health`` is always set."""
    return StatusReport(
        resources=draw(st.lists(wire_resources(), max_size=4)),
        health=draw(st.sampled_from(Health)),
        health_message=draw(TEXT),
        generated_time=draw(st.none() | TIMES),
        external=draw(st.booleans()),
    )
