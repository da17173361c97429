"""A wrapper of every platform status check that never lets the check start."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import Any

from waypoint_hooks import hookimpl


@hookimpl(wrapper=True)
def platform_status_func() -> Generator[None, Any, Any]:
    time.sleep(3600)
    return (yield)
