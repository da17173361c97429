"""Validating a report before it is finalized: the identity tests that pass what the
constructors make, and the validators that judge the rest."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
from hypothesis import given
from hypothesis import strategies as st
from report_strategies import reports

from waypoint_hooks import CategoryDisplayHint, Health, Resource, StatusReport
from waypoint_hooks.model.report import _plainly_valid, _validate_fully, validate_report


class _Text(str):
    pass


#: What object.__setattr__ may put where the validators would have refused it, or would have
#: taken it in another form: each is a value one field or another holds when valid.
ODD = st.sampled_from(
    [
        None,
        "",
        "web",
        _Text("web"),
        "{",
        '{"a": 1}',
        "NaN",
        3,
        True,
        False,
        1.5,
        [],
        [Resource("web")],
        ["web"],
        (Resource("web"),),
        Health.READY,
        CategoryDisplayHint.INSTANCE_MANAGER,
        datetime(2024, 5, 1, 12, 0),
        datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        datetime(2024, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
    ]
)
REPORT_FIELDS = st.sampled_from([f.name for f in attrs.fields(StatusReport)])
RESOURCE_FIELDS = st.sampled_from([f.name for f in attrs.fields(Resource)])


def _outcome(validate: object, report: StatusReport) -> str | None:
    try:
        validate(report)  # type: ignore[operator]
    except TypeError as exc:
        return str(exc)
    return None


def _msgspec_reads(report: StatusReport) -> bool:
    # json.loads reads Infinity and NaN, msgspec does not: for them the validators look.
    return not any("Infinity" in r.state_json for r in report.resources)


@given(reports().filter(_msgspec_reads))
def test_what_the_constructors_make_passes_the_identity_tests(report: StatusReport) -> None:
    assert _plainly_valid(report)
    validate_report(report)


@given(reports(), st.data())
def test_a_report_broken_behind_the_validators_back_is_judged_as_the_validators_judge_it(
    report: StatusReport, data: st.DataObject
) -> None:
    targets: list[object] = [report, *report.resources]
    for _ in range(data.draw(st.integers(1, 3))):
        target = data.draw(st.sampled_from(targets))
        fields = REPORT_FIELDS if isinstance(target, StatusReport) else RESOURCE_FIELDS
        object.__setattr__(target, data.draw(fields), data.draw(ODD))
    fully = _outcome(_validate_fully, report)
    if _plainly_valid(report):
        assert fully is None
    assert _outcome(validate_report, report) == fully
