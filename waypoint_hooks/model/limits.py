"""How big a status report may be (DESIGN §13), so that one plugin cannot fill the state or
the terminal: its resources, its messages, its ``state_json`` documents, its encoded size."""

from __future__ import annotations

import codecs
from datetime import datetime, timezone
from typing import Final, TypeVar, final

import attrs

from .health import CategoryDisplayHint, Health
from .report import Resource, StatusReport
from .wire import encode_report

__all__ = ["ReportLimits"]

_KIB: Final = 1024
#: What ends a message that was cut.
_CUT: Final = "…"
#: Text is measured and cut with its lone surrogates (what os.fsdecode makes of a file name's
#: undecodable bytes) as three bytes each, as UTF-8 would write them; the wire escapes them.
_SURROGATES: Final = "surrogatepass"
_UTF8: Final = codecs.getincrementaldecoder("utf-8")


@final
@attrs.frozen
class ReportLimits:
    """The limits of one app's reports; its ``status`` block (or the project's) sets them."""

    #: How many resources a report may hold.
    max_resources: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    #: How long a ``health_message`` may be, in UTF-8 bytes; a longer one is cut.
    max_message_bytes: int = attrs.field(default=8 * _KIB, validator=attrs.validators.ge(_KIB))
    #: How long a resource's ``state_json`` may be, in UTF-8 bytes.
    max_state_json_bytes: int = attrs.field(default=64 * _KIB, validator=attrs.validators.ge(_KIB))
    #: How long the report may be in its wire form (as the state stores it).
    max_report_bytes: int = attrs.field(
        default=8 * _KIB * _KIB, validator=attrs.validators.ge(_KIB)
    )

    def too_many(self, report: StatusReport) -> str | None:
        """Why a report a plugin returned is refused before it is even finalized (checking
        a million resources would be the harm the limit prevents), or ``None``."""
        count = len(report.resources) if isinstance(report.resources, list) else 0
        if count <= self.max_resources:
            return None
        return f"{count} resources, over the limit of {self.max_resources} (max_resources)"

    def enforce(self, report: StatusReport) -> str | None:
        """Cut ``report``'s messages (finalized) to the limit, in place, ending them with
        ``…``; then why it is still over a limit, or ``None`` when it is within them all."""
        self._cut_message(report)
        for index, resource in enumerate(report.resources):
            self._cut_message(resource)
            size = len(resource.state_json.encode(errors=_SURROGATES))
            if size > self.max_state_json_bytes:
                return (
                    f"a report whose resources[{index}].state_json is {size} bytes, over the "
                    f"limit of {self.max_state_json_bytes} (max_state_json_bytes)"
                )
        if _most_bytes(report) <= self.max_report_bytes:
            return None  # the state encodes it to store it: once is enough
        size = len(encode_report(report))
        if size > self.max_report_bytes:
            return (
                f"a report of {size} bytes encoded, over the limit of {self.max_report_bytes} "
                "(max_report_bytes)"
            )
        return None

    def _cut_message(self, instance: StatusReport | Resource) -> None:
        # Assigned only when cut: assignment runs the field's validators, for every report.
        data = instance.health_message.encode(errors=_SURROGATES)
        if len(data) <= self.max_message_bytes:
            return
        kept = data[: self.max_message_bytes - len(_CUT.encode())]
        # A character cut in two is dropped whole: the decoder waits for the rest of it.
        instance.health_message = _UTF8(_SURROGATES).decode(kept) + _CUT


_E = TypeVar("_E", Health, CategoryDisplayHint)


def _widest(cls: type[_E]) -> _E:
    return max(cls, key=lambda member: len(member.name))


def _frames() -> tuple[int, int]:
    """The bytes of an encoded report and of each resource in it, but for their text: at
    their widest (the longest enum names, times with microseconds)."""
    when = datetime(2000, 1, 1, 0, 0, 0, 1, timezone.utc)
    resource = Resource(
        "",
        _widest(Health),
        category_display_hint=_widest(CategoryDisplayHint),
        created_time=when,
    )
    empty = StatusReport(health=_widest(Health), generated_time=when)
    report = len(encode_report(empty))
    # A resource after the first is one comma longer.
    return report, len(encode_report(attrs.evolve(empty, resources=[resource]))) - report + 1


_REPORT_FRAME, _RESOURCE_FRAME = _frames()
#: The most bytes a character of text takes encoded: an astral one as two \u escapes, as
#: json.dumps writes a report that holds a lone surrogate (msgspec writes at most six, \u00XX).
_CHARACTER: Final = 12


def _most_bytes(report: StatusReport) -> int:
    """The most bytes ``report`` can take encoded, from the length of its text: a report far
    within ``max_report_bytes``, as nearly all are, is not encoded to be measured."""
    characters = len(report.health_message)
    for r in report.resources:
        characters += (
            len(r.name)
            + len(r.health_message)
            + len(r.id)
            + len(r.parent_resource_id)
            + len(r.platform)
            + len(r.type)
            + len(r.platform_url)
            + len(r.state_json)
        )
    return _REPORT_FRAME + _RESOURCE_FRAME * len(report.resources) + _CHARACTER * characters
