"""The health and display-hint enums of Waypoint's StatusReport proto."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["HEALTH_NAMES", "CategoryDisplayHint", "Health"]


class Health(enum.IntEnum):
    """Health of a deployment, a release or one of their resources (``StatusReport.Health``)."""

    #: The health cannot be determined.
    UNKNOWN = 0
    #: Exists but might not be ready to handle requests.
    ALIVE = 1
    #: Exists and is ready to handle requests.
    READY = 2
    #: Down and not responding.
    DOWN = 3
    #: Some resources are OK, others are not.
    PARTIAL = 4
    #: Expected to exist, but does not.
    MISSING = 5


class CategoryDisplayHint(enum.IntEnum):
    """How a UI should group a resource (``StatusReport.Resource.CategoryDisplayHint``)."""

    UNKNOWN = 0
    OTHER = 1
    INSTANCE = 2
    INSTANCE_MANAGER = 3
    ROUTER = 4
    POLICY = 5
    CONFIG = 6
    FUNCTION = 7
    STORAGE = 8


#: Each health's name, indexed by the health: several times faster than its ``.name``.
HEALTH_NAMES: Final = tuple(health.name for health in Health)
