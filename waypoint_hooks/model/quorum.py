"""The health of an app checked from several locations (DESIGN §21): one place cannot tell
"down" from "unreachable from here", so the app is not READY only when enough locations'
latest reports agree that it is not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, final

import attrs

from .aggregate import DEFAULT_ORDER
from .health import Health

__all__ = ["Quorum"]

#: Each health's rank in the ``worst`` policy's order (DESIGN §3), best first.
_RANK: Final = {health: rank for rank, health in enumerate(DEFAULT_ORDER)}


@final
@attrs.frozen
class Quorum:
    """An app's ``locations`` and how many of them must agree it is not READY."""

    locations: tuple[str, ...]
    needed: int

    def combine(self, latest: Mapping[str, Health]) -> Health:
        """The app's health from the latest health of each location that reported (a
        location with no report yet says nothing): READY unless at least ``needed`` of its
        locations are not READY; then the worst of theirs, in the ``worst`` policy's order.
        A report of a location that is not one of the app's does not count."""
        troubled = [
            health
            for location, health in latest.items()
            if location in self.locations and health is not Health.READY
        ]
        if len(troubled) < self.needed:
            return Health.READY
        return max(troubled, key=_RANK.__getitem__)
