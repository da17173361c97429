"""An observer of every status report that never returns."""

from __future__ import annotations

import time

from waypoint_hooks import hookimpl


@hookimpl
def status_report_generated() -> None:
    time.sleep(3600)
