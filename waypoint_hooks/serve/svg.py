"""The page's pictures, drawn on the server as SVG (they need no script and fetch nothing):
a health timeline on a time axis, a chart of response times, and the badges of
``/badges/{app}/...``.

Every text is XML-escaped here; every picture has a title and an ``aria-label`` that say in
words what its colours show, and each coloured part a ``<title>`` of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final
from xml.sax.saxutils import escape, quoteattr

from ..model.health import Health
from .timeline import Sample, Span

__all__ = ["COLOURS", "badge", "response_chart", "timeline"]

#: A health's colour, the page's stylesheet's too; ``None``: no data.
COLOURS: Final[dict[Health | None, str]] = {
    Health.READY: "#1a7f37",
    Health.ALIVE: "#9a6700",
    Health.PARTIAL: "#bc4c00",
    Health.UNKNOWN: "#6e7781",
    Health.DOWN: "#cf222e",
    Health.MISSING: "#a40e26",
    None: "#eaeef2",
}
#: The drawing's size in its own units; the stylesheet scales it to the page's width.
WIDTH: Final = 600
_BAR: Final = 24
_CHART: Final = 120
_AXIS: Final = 16
_LEFT: Final = 48


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def _x(moment: datetime, start: datetime, end: datetime) -> float:
    whole = (end - start).total_seconds() or 1.0
    return _LEFT + (WIDTH - _LEFT) * (moment - start).total_seconds() / whole


def _axis(start: datetime, end: datetime, top: float) -> str:
    """The time axis under a drawing: its start, middle and end, in UTC."""
    ticks = ((start, "start"), (start + (end - start) / 2, "middle"), (end, "end"))
    return "".join(
        f'<text class="axis" x="{_x(moment, start, end):.1f}" y="{top + 12}" '
        f'text-anchor="{anchor}">{escape(moment.strftime("%m-%d %H:%M:%S"))}</text>'
        for moment, anchor in ticks
    )


def _open(label: str, height: float, css: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css}" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" aria-label={quoteattr(label)}>'
        f"<title>{escape(label)}</title>"
    )


def timeline(spans: Sequence[Span], start: datetime, end: datetime, label: str) -> str:
    """``spans`` between ``start`` and ``end`` as a bar, a colour per health (and a hatched
    grey where nothing was known), each part titled with its health and times in words."""
    parts = [_open(label, _BAR + _AXIS, "timeline")]
    for span in spans:
        left, right = max(span.start, start), min(span.end, end)
        if right <= left:
            continue
        x = _x(left, start, end)
        width = max(_x(right, start, end) - x, 1.0)
        said = "no data" if span.health is None else span.health.name
        css = "gap" if span.health is None else f"span {span.health.name}"
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="0" width="{width:.1f}" height="{_BAR}" '
            f'fill="{COLOURS[span.health]}"><title>{escape(said)} from {_when(left)} '
            f"to {_when(right)}</title></rect>"
        )
    parts.append(_axis(start, end, _BAR))
    parts.append("</svg>")
    return "".join(parts)


def response_chart(samples: Sequence[Sample], start: datetime, end: datetime, label: str) -> str:
    """The response times of ``samples`` between ``start`` and ``end``: a point per report
    that has one, joined by a line, on a time axis and a millisecond axis from 0."""
    points = [s for s in samples if s.response_ms is not None and start <= s.at <= end]
    highest = max((s.response_ms or 0.0 for s in points), default=0.0) or 1.0
    parts = [_open(label, _CHART + _AXIS, "chart")]
    parts.append(
        f'<text class="axis" x="{_LEFT - 4}" y="10" text-anchor="end">{highest:.0f} ms</text>'
        f'<text class="axis" x="{_LEFT - 4}" y="{_CHART}" text-anchor="end">0 ms</text>'
        f'<line class="frame" x1="{_LEFT}" y1="{_CHART}" x2="{WIDTH}" y2="{_CHART}"/>'
    )
    coordinates = [
        (_x(s.at, start, end), _CHART - (_CHART - 8) * (s.response_ms or 0.0) / highest, s)
        for s in points
    ]
    if len(coordinates) > 1:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in coordinates)
        parts.append(f'<polyline class="line" points="{line}"/>')
    parts.extend(
        f'<circle class="point {s.health.name}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
        f"<title>{s.response_ms:.0f} ms at {_when(s.at)} ({s.health.name})</title></circle>"
        for x, y, s in coordinates
    )
    parts.append(_axis(start, end, _CHART))
    parts.append("</svg>")
    return "".join(parts)


def _text_width(text: str) -> int:
    # Verdana at 11px is about 7 px a character: badges need no font metrics to be legible.
    return 7 * len(text) + 10


def badge(label: str, value: str, colour: str) -> str:
    """A badge in the flat style of shields.io: ``label`` on grey, ``value`` on ``colour``."""
    left, right = _text_width(label), _text_width(value)
    said = f"{label}: {value}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="20" '
        f'role="img" aria-label={quoteattr(said)}><title>{escape(said)}</title>'
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" '
        f'text-anchor="middle">'
        f'<text x="{left / 2:.1f}" y="14">{escape(label)}</text>'
        f'<text x="{left + right / 2:.1f}" y="14">{escape(value)}</text></g></svg>'
    )
