"""Durations, one syntax everywhere: ``"30s"``, ``"1m30s"``, ``"250ms"``, or a number of seconds.

The rule: a number is a number of seconds (``30``, ``0.5``); text is Waypoint's (Go's) duration
syntax and needs its unit (``"30s"``; ``"30"`` is refused, as Waypoint refuses it). On the
command line, where every value is text, a bare number is a number.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Final, final

__all__ = ["Duration", "compared", "longer_than_zero", "parse_duration"]

# Go's time.ParseDuration units (Waypoint's durations), without its signs and bare "0"; and
# days, which Go lacks, for what is counted in them (a certificate's "14d", a "30d" window).
_UNITS: Final = {
    "d": Decimal(86400),
    "h": Decimal(3600),
    "m": Decimal(60),
    "s": Decimal(1),
    "ms": Decimal("0.001"),
    "us": Decimal("0.000001"),
    "µs": Decimal("0.000001"),  # MICRO SIGN
    "μs": Decimal("0.000001"),  # GREEK SMALL LETTER MU
    "ns": Decimal("0.000000001"),
}
_PART: Final = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)"
_DURATION: Final = re.compile(f"(?:{_PART})+")
_PARTS: Final = re.compile(_PART)
_HELP: Final = (
    'write a number and a unit, without spaces, such as "30s", "2m", "1m30s" or "500ms" '
    "(units: d, h, m, s, ms, us, ns)"
)
#: Go's longest duration (2^63 - 1 ns, about 292 years), and so Waypoint's.
_LONGEST: Final = 9_223_372_036.854775807


def parse_duration(text: object) -> float:
    """Seconds in a duration as Waypoint writes them: ``"30s"``, ``"1m30s"``, ``"1.5h"``."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string, got {text!r}; {_HELP}")
    if _DURATION.fullmatch(text) is None:
        if text.startswith("-"):
            raise ValueError(f"duration {text!r} is negative; {_HELP}")
        if re.fullmatch(r"\d+(\.\d*)?", text):
            raise ValueError(f"duration {text!r} has no unit; {_HELP}")
        raise ValueError(f"{text!r} is not a duration; {_HELP}")
    # Decimal, so that "1.1s" is the float nearest 1.1 and not a sum's rounding error.
    seconds = sum(
        (Decimal(number) * _UNITS[unit] for number, unit in _PARTS.findall(text)),
        Decimal(0),
    )
    return float(seconds)


def _seconds(value: object) -> float:
    if isinstance(value, str):
        seconds = parse_duration(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if seconds < 0:
            raise ValueError(f"duration {value!r} is negative; {_HELP}")
        if math.isnan(seconds):
            raise ValueError(f"duration {value!r} is not a number of seconds; {_HELP}")
    else:
        raise TypeError(
            f"expected a duration, got {type(value).__name__} {value!r}; "
            f"{_HELP}, or a number of seconds"
        )
    if seconds > _LONGEST:
        raise ValueError(f"duration {value!r} is longer than the longest one, about 292 years")
    return seconds


@final
class Duration(float):
    """A length of time: a float of seconds that reads and prints as Waypoint writes durations.

    Annotate a plugin's config field with it, ``timeout: Duration = Duration("5s")``, and the
    field takes ``"30s"``, ``"1m30s"``, ``"250ms"`` or a number of seconds, with the same
    message for a bad one as the config file's own durations; the value is seconds
    (``time.sleep(config.timeout)``) and ``str()`` shows it as ``1m30s``.
    """

    __slots__ = ()

    def __new__(cls, value: object = 0) -> Duration:
        if type(value) is cls:
            return value
        return super().__new__(cls, _seconds(value))

    def __str__(self) -> str:
        seconds = float(self)
        if seconds == 0 or seconds >= 1:
            hours, rest = divmod(seconds, 3600)
            minutes, rest = divmod(rest, 60)
            parts = [f"{hours:.0f}h" if hours else "", f"{minutes:.0f}m" if minutes else ""]
            return "".join(parts) + (f"{rest:.9g}s" if rest or not (hours or minutes) else "")
        for unit, size in (("ms", 1e-3), ("us", 1e-6)):
            if seconds >= size:
                return f"{seconds / size:.9g}{unit}"
        return f"{seconds / 1e-9:.9g}ns"

    def __repr__(self) -> str:
        return f"Duration({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else super().__format__(spec)


_COMPARED: Final = {">=": "at least", ">": "longer than", "<=": "at most", "<": "shorter than"}


def compared(operator: str, bound: float, value: Duration) -> str:
    """What a duration that failed ``value OPERATOR bound`` must be: ``must be longer than 0s,
    got '0s'`` (for ``attrs.validators.gt(0)``, and the like)."""
    return f"must be {_COMPARED[operator]} {Duration(bound)}, got '{value}'"


def longer_than_zero(name: str, value: Duration) -> None:
    """Refuse a zero ``value`` for the duration called ``name``."""
    if value <= 0:
        raise ValueError(f"{name} {compared('>', 0, value)}")
