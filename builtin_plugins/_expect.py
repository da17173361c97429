"""What an HTTP probe expects of an answer (DESIGN §19), for ``http`` and ``process``'s
``ready_http``: its status, text in its body, a regular expression the body matches, and values
in a JSON body found by a simple path (``$.status``, ``$.checks[0].state``).

Only the first :data:`BODY_LIMIT` bytes of a body are read, and kept only while it is judged:
a condition on a longer body is judged on that much of it, and says so when it fails.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, final

import attrs

from waypoint_hooks import StructureError

__all__ = [
    "BODY_LIMIT",
    "Expect",
    "ExpectedStatus",
    "JsonPath",
]

#: The most of a body that is read to judge it (DESIGN §13's 4 KiB, as for log tails).
BODY_LIMIT: Final = 4096
#: How much of a value from the answer a message quotes.
_QUOTED: Final = 80


@final
class ExpectedStatus:
    """The response codes that count as healthy: ``200``, ``[200, 204]`` or ``"200-299"``.

    A plain class, not attrs: cattrs then has no hook for it and hands the value as written to
    the field's converter, :meth:`parse`.
    """

    __slots__ = ("_ranges",)

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self._ranges = tuple(ranges)

    @classmethod
    def parse(cls, value: object) -> ExpectedStatus:
        """An int, a list of ints, or a ``"LOW-HIGH"`` string (one code alone is fine too)."""
        if isinstance(value, ExpectedStatus):
            return value
        if isinstance(value, str):
            low, dash, high = value.partition("-")
            try:
                first, last = int(low), int(high if dash else low)
            except ValueError:
                raise ValueError(
                    f'{value!r} is neither a status code nor a range such as "200-299"'
                ) from None
            if _code(first) > _code(last):
                raise ValueError(f"{value!r} is an empty range: write the lower code first")
            return cls([(first, last)])
        if isinstance(value, list) and value:
            return cls([(code, code) for code in map(_code, value)])
        code = _code(value)
        return cls([(code, code)])

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and any(low <= code <= high for low, high in self._ranges)

    def __str__(self) -> str:
        return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in self._ranges)

    def __repr__(self) -> str:
        return f"ExpectedStatus({str(self)!r})"


def _code(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    raise ValueError(f"{value!r} is not an HTTP status code (100-599)")


def expected_status(field: str, value: object) -> ExpectedStatus:
    """``value`` as the field ``field`` of :class:`ExpectedStatus`, its errors naming it."""
    try:
        return ExpectedStatus.parse(value)
    except ValueError as exc:
        raise StructureError.at(field, str(exc)) from None


def _status(value: object) -> ExpectedStatus:
    return expected_status("status", value)


def _json_conditions(value: object) -> JsonConditions:
    return JsonConditions.parse(value)


# --- JSON paths --------------------------------------------------------------------------------

# One step after the "$": ".key" (anything but dots and brackets) or "[index]".
_STEP: Final = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")
#: What a path finds where the document has nothing.
_ABSENT: Final = object()


@final
@attrs.frozen
class JsonPath:
    """A path into a JSON document: ``$``, then ``.key`` and ``[index]`` steps, as in
    ``$.checks[0].state``. No wildcards, filters or quoted keys: a key is written as it is,
    and holds no dot or bracket."""

    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> JsonPath:
        if not text.startswith("$"):
            raise ValueError(f"{text!r} is not a JSON path: start it with $, as in $.status")
        steps: list[str | int] = []
        at = 1
        while at < len(text):
            step = _STEP.match(text, at)
            if step is None:
                raise ValueError(
                    f"{text!r} is not a JSON path: at {text[at:]!r}, write .key or [index] "
                    "(as in $.checks[0].state)"
                )
            key, index = step.groups()
            steps.append(key if index is None else int(index))
            at = step.end()
        return cls(tuple(steps))

    def __str__(self) -> str:
        return "$" + "".join(
            f"[{step}]" if isinstance(step, int) else f".{step}" for step in self.steps
        )

    def find(self, document: object) -> object:
        """The value at this path in ``document``; :data:`_ABSENT` where there is none."""
        found = document
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(found, list) or step >= len(found):
                    return _ABSENT
                found = found[step]
            else:
                if not isinstance(found, dict) or step not in found:
                    return _ABSENT
                found = found[step]
        return found


def same(found: object, expected: object) -> bool:
    """Whether a JSON value is the one expected: ``true`` is not ``1``, nor ``1`` ``true``
    (as Python's ``==`` has them), while ``1`` is ``1.0``."""
    if isinstance(found, bool) or isinstance(expected, bool):
        return type(found) is type(expected) and found == expected
    if isinstance(found, dict) and isinstance(expected, dict):
        return found.keys() == expected.keys() and all(same(found[k], expected[k]) for k in found)
    if isinstance(found, list) and isinstance(expected, list):
        return len(found) == len(expected) and all(map(same, found, expected))
    return found == expected


def _shown(value: object) -> str:
    """``value`` as JSON writes it, cut to what a message carries."""
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _QUOTED else f"{text[:_QUOTED]}..."


# --- the expect block ----------------------------------------------------------------------


def _check_regex(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a regular expression: {exc}") from None


@final
class JsonConditions:
    """``json = { "$.status" = "up" }``: JSON paths, each to the value it must have.

    A plain class, as :class:`ExpectedStatus` is, so that the field's converter,
    :meth:`parse`, gets the value as written.
    """

    __slots__ = ("paths",)

    def __init__(self, paths: Mapping[JsonPath, object]) -> None:
        self.paths = dict(paths)

    @classmethod
    def parse(cls, value: object) -> JsonConditions:
        if isinstance(value, JsonConditions):
            return value
        if not isinstance(value, Mapping):
            raise StructureError.at(
                "json", f"expected a map of JSON paths to values, got {type(value).__name__}"
            )
        paths: dict[JsonPath, object] = {}
        for text, expected in value.items():
            try:
                paths[JsonPath.parse(str(text))] = expected
            except ValueError as exc:
                raise StructureError.at(f"json[{text}]", str(exc)) from None
        return cls(paths)

    def failures(self, text: str) -> list[str]:
        """Each path that ``text``, a JSON document, lacks or holds another value at."""
        import json

        try:
            document = json.loads(text)
        except ValueError:
            return ["body is not JSON"]
        failed = []
        for path, expected in self.paths.items():
            found = path.find(document)
            if found is _ABSENT:
                failed.append(f"{path} is missing, expected {_shown(expected)}")
            elif not same(found, expected):
                failed.append(f"{path} is {_shown(found)}, expected {_shown(expected)}")
        return failed


@attrs.define
class Expect:
    """An ``expect { ... }`` block: every condition must hold for the answer to be healthy."""

    #: The response codes that count (after redirects): 2xx unless set.
    status: ExpectedStatus = attrs.field(default=ExpectedStatus([(200, 299)]), converter=_status)
    #: Text the body holds.
    body_contains: str | None = None
    #: A regular expression (Python's) that matches somewhere in the body.
    body_regex: str | None = attrs.field(default=None, validator=_check_regex)
    #: JSON paths in the body, each to the value it must have.
    json: JsonConditions = attrs.field(
        factory=lambda: JsonConditions({}), converter=_json_conditions
    )

    @property
    def reads_body(self) -> bool:
        return (
            self.body_contains is not None or self.body_regex is not None or bool(self.json.paths)
        )

    def failures(self, status: int, body: bytes, truncated: bool) -> list[str]:
        """What the answer fails of what is expected, each in a few words; none when it
        meets it all. ``truncated``: ``body`` is the first :data:`BODY_LIMIT` bytes only."""
        failed = [] if status in self.status else [f"status {status}, expected {self.status}"]
        if not self.reads_body:
            return failed
        text = body.decode("utf-8", "replace")
        body_failed: list[str] = []
        if self.body_contains is not None and self.body_contains not in text:
            body_failed.append(f"body does not contain {_shown(self.body_contains)}")
        if self.body_regex is not None and re.search(self.body_regex, text) is None:
            body_failed.append(f"body does not match {_shown(self.body_regex)}")
        if self.json.paths:
            body_failed.extend(self.json.failures(text))
        if truncated:
            # Said once, after the body's failures: each was judged on that much.
            body_failed[-1:] = [f"{failure} (in its first 4 KiB)" for failure in body_failed[-1:]]
        return failed + body_failed
