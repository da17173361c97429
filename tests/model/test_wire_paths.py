"""The codec's two decoders agree: the fast one reads only the text the encoder writes, and
reads it as the checking one does; everything else is the checking decoder's."""

from __future__ import annotations

import json

from hypothesis import given
from report_strategies import reports

from waypoint_hooks import Health, Resource, StatusReport, report_from_json, report_to_json
from waypoint_hooks.model.limits import ReportLimits
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
