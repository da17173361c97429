"""An alert (DESIGN §15): what a notifier is sent about a target's health, and its JSON form."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final, Literal, final

import attrs

from .health import Health
from .report import StatusReport

__all__ = ["ALERT_STATES", "Alert", "AlertState"]

#: ``firing``: the target's health is a problem, for real (its thresholds say so);
#: ``resolved``: it is READY again; ``reminder``: it still fires (the notify block's ``remind``).
AlertState = Literal["firing", "resolved", "reminder"]
ALERT_STATES: Final[tuple[AlertState, ...]] = ("firing", "resolved", "reminder")


@final
@attrs.frozen
class Alert:
    """What one ``notify`` block says about one deployment or release, once.

    Its JSON form (:meth:`to_json`) is what the builtin ``webhook`` posts and ``command``
    writes to its program's stdin: these fields by name, healths by name, ``since`` in RFC
    3339, ``report`` in the report's wire form.
    """

    #: The ``notify`` block that raised it.
    notify: str
    app: str
    workspace: str
    kind: Literal["deployment", "release"]
    #: The deployment's or release's id.
    target_id: str
    state: AlertState = attrs.field(validator=attrs.validators.in_(ALERT_STATES))
    #: The health of the report that raised it.
    health: Health
    #: The health of the target's report before that one (``None`` for its first).
    previous_health: Health | None
    #: One line for a person: ``web deployment is DOWN: connection refused``.
    message: str
    #: When the trouble began: the first failing report of the run that fired.
    since: datetime
    #: The finalized report that raised it.
    report: StatusReport

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready form: the fields by name, as :meth:`to_json` writes them."""
        from .codec import converter

        plain: dict[str, Any] = converter.unstructure(self)
        return plain

    def to_json(self) -> str:
        """The alert as one JSON object (compact)."""
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_wire(cls, value: object) -> Alert:
        """Read back what :meth:`to_wire` gave; a :class:`~waypoint_hooks.StructureError`
        names the path to a bad field."""
        from .codec import structure

        return structure(value, cls)
