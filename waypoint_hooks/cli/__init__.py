"""The ``waypoint-hooks`` command: parse, call the library, render."""

from .commands import main

__all__ = ["main"]
