"""The codec's two decoders agree: the fast one reads only the text the encoder writes, and
reads it as the checking one does; everything else is the checking decoder's."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_strategies import reports

from waypoint_hooks import (
    Health,
    ReportDecodeError,
    Resource,
    StatusReport,
    report_from_json,
    report_to_json,
)
from waypoint_hooks.model.limits import ReportLimits, _most_bytes
from waypoint_hooks.model.wire import _from_canonical, encode_report, report_from_wire


@given(reports())
def test_the_fast_decoder_reads_what_the_encoder_writes_as_the_checking_one_does(
    report: StatusReport,
) -> None:
    text = report_to_json(report)
    assert _from_canonical(text) == report_from_wire(json.loads(text)) == report


def test_other_spellings_of_the_same_report_are_left_to_the_checking_decoder() -> None:
    text = report_to_json(StatusReport(resources=[Resource(name="é")]))
    escaped = json.dumps(json.loads(text), separators=(",", ":"))  # "\u00e9", as json writes
    spaced = json.dumps(json.loads(text))
    for other in (escaped, spaced):
        assert _from_canonical(other) is None
        assert report_from_json(other) == report_from_json(text)


def test_a_time_finer_than_a_microsecond_is_read_by_the_checking_decoder() -> None:
    text = '{"generated_time":"2024-05-01T12:00:00.1234569Z"}'
    assert _from_canonical(text) is None
    generated = report_from_json(text).generated_time
    assert generated is not None
    assert generated.microsecond == 123456


def test_text_is_written_as_utf8_and_a_lone_surrogate_as_an_escape() -> None:
    assert encode_report(StatusReport(health_message="é ✔")).count("é ✔".encode()) == 1
    undecodable = StatusReport(health=Health.READY, health_message="/srv/\udcff")
    assert b"\\udcff" in encode_report(undecodable)
    assert report_from_json(report_to_json(undecodable)) == undecodable


def test_the_encoded_size_limit_counts_bytes_not_characters() -> None:
    report = StatusReport(health_message="✔" * 341)  # 341 characters, 1,023 bytes
    assert len(report_to_json(report)) < 1024
    over = ReportLimits(max_report_bytes=1024).enforce(report)
    assert over is not None
    assert "max_report_bytes" in over


# Text shaped like JSON, and near misses of it: what the two checks of state_json may disagree on.
_JSONISH = st.text(
    alphabet='{}[]":,.-+0123456789eEtrufalsnNI \t\n\r\\/abcdu\x00\u00e9\ud800', max_size=30
)
_DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
).map(json.dumps)


@given(_JSONISH | _DOCUMENTS)
def test_what_the_fast_decoder_takes_as_state_json_the_checking_one_takes_too(text: str) -> None:
    """The fast decoder checks state_json without building it (msgspec's Raw), and what that
    refuses with json.loads: it takes exactly what json.loads takes."""
    report = StatusReport(resources=[Resource(name="web")])
    wire = json.loads(report_to_json(report))
    wire["resources"][0]["state_json"] = text
    canonical = json.dumps(wire, separators=(",", ":"), ensure_ascii=False)
    try:
        json.loads(text or "{}")  # empty: no state, as the model has it
    except (ValueError, RecursionError):
        with pytest.raises(ReportDecodeError):
            report_from_json(canonical)
        return
    decoded = report_from_json(canonical)
    assert decoded.resources[0].state_json == text


@pytest.mark.parametrize("document", ["NaN", "Infinity", '"\\ud800"'])
def test_state_json_that_only_json_loads_reads_is_read_by_the_fast_decoder_too(
    document: str,
) -> None:
    text = report_to_json(StatusReport(resources=[Resource(name="web", state_json=document)]))
    decoded = _from_canonical(text)
    assert decoded is not None
    assert decoded.resources[0].state_json == document


# Text at its widest encoded: escapes, control characters, astral characters, lone surrogates.
_WIDE_TEXT = st.text(alphabet='a"\\\x00\x1f\u2028é\U0001f680\udcff', max_size=8)


@given(
    st.lists(st.builds(Resource, name=_WIDE_TEXT, id=_WIDE_TEXT, platform=_WIDE_TEXT), max_size=3),
    _WIDE_TEXT,
    st.sampled_from(Health),
)
def test_the_size_limit_encodes_only_a_report_that_may_be_over_it(
    resources: list[Resource], message: str, health: Health
) -> None:
    """The limits measure a report's most bytes from its text; only a report whose most is
    over the limit is encoded to be measured, so that most is never below what it encodes to."""
    report = StatusReport(resources, health, message, datetime.now(timezone.utc))
    assert _most_bytes(report) >= len(encode_report(report))


def test_a_report_whose_most_is_over_the_limit_is_measured() -> None:
    fits = StatusReport(health_message="a" * 900)  # at most 10,919 bytes; 989 encoded
    assert _most_bytes(fits) > 1024
    assert ReportLimits(max_report_bytes=1024).enforce(fits) is None
    over = StatusReport(health_message="a" * 1000)
    assert ReportLimits(max_report_bytes=1024).enforce(over) == (
        "a report of 1089 bytes encoded, over the limit of 1024 (max_report_bytes)"
    )
