"""Rolling per-resource health up into one overall health: the status policies."""

from __future__ import annotations

import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from ..errors import StructureError
from .health import Health

if TYPE_CHECKING:
    from .report import Resource

__all__ = [
    "DEFAULT_ORDER",
    "DEFAULT_POLICY",
    "OPTIONS",
    "POLICIES",
    "Policy",
    "aggregate",
    "inherit_options",
]

#: The policies a ``status`` block may select.
POLICIES: Final = ("waypoint", "worst", "threshold")

#: The ``worst`` policy's order, best first.
DEFAULT_ORDER: Final = (
    Health.READY,
    Health.ALIVE,
    Health.PARTIAL,
    Health.UNKNOWN,
    Health.MISSING,
    Health.DOWN,
)

# Which policy each policy-specific option belongs to; the rest apply to every policy.
_OPTION_POLICY: Final = {"order": "worst", "ready_fraction": "threshold", "min_ready": "threshold"}
_COMMON_OPTIONS: Final = ("ignore", "top_level_only")
#: The options a ``status`` block may set besides ``policy``.
OPTIONS: Final = (*_OPTION_POLICY, *_COMMON_OPTIONS)
# Two ways of saying one thing: how many resources must be READY.
_EXCLUSIVE: Final = ("ready_fraction", "min_ready")
#: How many causes the ``worst`` message names before it says "and N more" (as Argo CD does).
_MAX_CAUSES: Final = 3


def _to_health(value: object, option: str) -> Health:
    if isinstance(value, Health):
        return value
    if isinstance(value, str) and value.upper() in Health.__members__:
        return Health[value.upper()]
    if isinstance(value, int) and not isinstance(value, bool) and value in set(Health):
        return Health(value)
    raise ValueError(
        f"status option {option!r}: {value!r} is not a health; "
        f"use one of {', '.join(Health.__members__)}"
    )


def _convert_order(value: Iterable[object], _: attrs.Attribute[Any]) -> tuple[Health, ...]:
    # It takes the field so that a config error can name it (see _codec's problems).
    if value is DEFAULT_ORDER:
        return DEFAULT_ORDER  # checked once, below; most policies keep it
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"status option 'order' must be a list of healths, got {value!r}")
    order = tuple(_to_health(item, "order") for item in value)
    if sorted(order) != sorted(Health):
        raise ValueError(
            "status option 'order' must name every health exactly once, best first, "
            f"e.g. {[h.name for h in DEFAULT_ORDER]}; got {[h.name for h in order]}"
        )
    return order


def _convert_ignore(value: Iterable[object], _: attrs.Attribute[Any]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"status option 'ignore' must be a list of globs, got {value!r}")
    globs = []
    for glob in value:
        if not isinstance(glob, str):
            raise TypeError(f"status option 'ignore' must hold strings, got {glob!r}")
        globs.append(glob)
    return tuple(globs)


def _check_fraction(_: object, __: attrs.Attribute[float | None], value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(
            f"status option 'ready_fraction' must be a number from 0 to 1, got {value!r}"
        )


def _check_min_ready(policy: Policy, _: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"status option 'min_ready' must be a whole number >= 0, got {value!r}")
    if policy.ready_fraction is not None:
        raise ValueError(
            "ready_fraction and min_ready exclude each other: both say how many resources must "
            "be READY; keep one"
        )


def _check_bool(_: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"status option {attribute.name!r} must be true or false, got {value!r}")


def _ignore_pattern(policy: Policy) -> re.Pattern[str] | None:
    if not policy.ignore:
        return None
    return re.compile("|".join(fnmatch.translate(glob) for glob in policy.ignore))


@final
@attrs.frozen
class Policy:
    """A validated status policy: how a report's health follows from its resources.

    Build one with :meth:`from_options` from a ``status`` block's keys; it is immutable and
    reusable, so the runner builds one per app and evaluates it for every report.
    """

    name: str = attrs.field(default="waypoint", validator=attrs.validators.in_(POLICIES))
    order: tuple[Health, ...] = attrs.field(
        default=DEFAULT_ORDER,
        converter=attrs.Converter(_convert_order, takes_field=True),  # type: ignore[misc]
    )
    ready_fraction: float | None = attrs.field(default=None, validator=_check_fraction)
    min_ready: int | None = attrs.field(default=None, validator=_check_min_ready)
    ignore: tuple[str, ...] = attrs.field(
        default=(),
        converter=attrs.Converter(_convert_ignore, takes_field=True),  # type: ignore[misc]
    )
    top_level_only: bool = attrs.field(default=False, validator=_check_bool)
    _ignore_re: re.Pattern[str] | None = attrs.field(
        init=False, eq=False, repr=False, default=attrs.Factory(_ignore_pattern, takes_self=True)
    )

    @classmethod
    def from_options(cls, policy: str = "waypoint", **options: Any) -> Policy:
        """Validate a policy name and its options (the keys of a ``status`` block).

        What is wrong raises a ``ValueError`` (a :class:`StructureError` naming the key when
        the key itself is wrong), or a ``TypeError`` for a value of the wrong type.
        """
        if policy not in POLICIES:
            raise StructureError.at(
                "policy", f"unknown status policy {policy!r}; use one of {', '.join(POLICIES)}"
            )
        for option in options:
            owner = _OPTION_POLICY.get(option)
            if owner is None and option not in _COMMON_OPTIONS:
                known = ", ".join(sorted(OPTIONS))
                raise StructureError.at(option, f"unknown status option {option!r}; known: {known}")
            if owner is not None and owner != policy:
                raise StructureError.at(
                    option, f"status option {option!r} belongs to policy {owner!r}, not {policy!r}"
                )
        return cls(name=policy, **options)

    def counted(self, resources: Sequence[Resource]) -> list[Resource]:
        """The resources this policy counts: not ignored, and top-level when asked."""
        counted = list(resources)
        if self.top_level_only:
            ids = {r.id for r in counted if r.id}
            # A resource whose parent is not in the report is top-level too: its tree is cut.
            counted = [r for r in counted if r.parent_resource_id not in ids]
        pattern = self._ignore_re
        if pattern is not None:
            counted = [r for r in counted if not (pattern.match(r.type) or pattern.match(r.name))]
        return counted

    def evaluate(self, resources: Sequence[Resource]) -> tuple[Health, str]:
        """The overall health and its message for ``resources``."""
        counted = self.counted(resources)
        if not counted:
            if not resources:
                return Health.UNKNOWN, "no resources reported"
            return Health.UNKNOWN, f"no resources counted ({len(resources)} reported, all ignored)"
        if self.name == "worst":
            return _worst(counted, self.order)
        if self.name == "threshold":
            return _threshold(counted, self.ready_fraction, self.min_ready)
        return _waypoint(counted)


def _waypoint(counted: list[Resource]) -> tuple[Health, str]:
    # Exactly the Waypoint SDK's healthSummary (framework/resource/manager.go).
    groups = Counter((r.health, r.type) for r in counted)
    healths = {health for health, _ in groups}
    if len(healths) == 1:
        (health,) = healths
        return health, f"All {len(counted)} resources are reporting {health.name}"
    parts = [f"{n} {type_} {health.name}" for (health, type_), n in sorted(groups.items())]
    return Health.PARTIAL, ", ".join(parts)


def _worst(counted: list[Resource], order: tuple[Health, ...]) -> tuple[Health, str]:
    rank = {health: i for i, health in enumerate(order)}
    worst = max({r.health for r in counted}, key=rank.__getitem__)
    if worst is order[0]:
        return worst, f"All {len(counted)} resources are {worst.name}"
    # Sorted so the message, like the health, does not depend on the resources' order.
    causes = sorted(
        f"{r.name} ({r.health_message})" if r.health_message else r.name
        for r in counted
        if r.health is worst
    )
    named = ", ".join(causes[:_MAX_CAUSES])
    more = len(causes) - _MAX_CAUSES
    return worst, f"{worst.name}: {named}" + (f" and {more} more" if more > 0 else "")


def _threshold(
    counted: list[Resource], ready_fraction: float | None, min_ready: int | None
) -> tuple[Health, str]:
    total = len(counted)
    states = Counter(r.health for r in counted)
    ready = states[Health.READY]
    if states[Health.UNKNOWN] == total:
        # Nothing could be checked: saying DOWN would page someone for a blind spot.
        return Health.UNKNOWN, f"the health of all {total} resources is UNKNOWN"
    if ready == 0 and states[Health.ALIVE] == 0:
        return Health.DOWN, f"None of {total} resources is READY or ALIVE"
    if min_ready is not None:
        enough = ready >= min_ready
    else:
        # Exact arithmetic: 0.7 * 10 is 7.000000000000001 in floats. Imported here: fractions
        # imports decimal, which commands that aggregate nothing (status --cached) do without.
        from fractions import Fraction

        fraction = Fraction(repr(ready_fraction)) if ready_fraction is not None else Fraction(1)
        enough = ready >= fraction * total
    if enough:
        return Health.READY, f"{ready}/{total} resources are READY"
    return Health.PARTIAL, f"Only {ready}/{total} resources are READY"


def inherit_options(outer: Mapping[str, Any], inner: Mapping[str, Any]) -> dict[str, Any]:
    """The policy and options of a ``status`` block inside another's (an app's in its
    project's): ``inner``'s keys over ``outer``'s, key by key.

    Another policy inherits none of the outer policy's own options (they would mean nothing to
    it), and ``ready_fraction`` and ``min_ready`` replace each other.
    """
    inherited = dict(outer)
    if inner.get("policy", outer.get("policy", "waypoint")) != outer.get("policy", "waypoint"):
        for option in _OPTION_POLICY:
            inherited.pop(option, None)
    if any(option in inner for option in _EXCLUSIVE):
        for option in _EXCLUSIVE:
            inherited.pop(option, None)
    return inherited | dict(inner)


#: The policy of an app whose config has no ``status`` block.
DEFAULT_POLICY: Final = Policy()


def aggregate(
    resources: Sequence[Resource], policy: str | Policy = "waypoint", **options: Any
) -> tuple[Health, str]:
    """The overall health and message of ``resources`` under ``policy`` and its options.

    ``options`` are the keys of a config ``status`` block: ``order``, ``ready_fraction``,
    ``min_ready``, ``ignore``, ``top_level_only``. Pure and total: any list, in any order,
    gives one answer.
    """
    if isinstance(policy, Policy):
        if options:
            raise TypeError("pass options either in the Policy or as keywords, not both")
        return policy.evaluate(resources)
    return Policy.from_options(policy, **options).evaluate(resources)
