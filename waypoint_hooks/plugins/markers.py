"""The pluggy markers of the ``waypoint_hooks`` project."""

from __future__ import annotations

from typing import Final

import pluggy

#: The pluggy project name, and the entry-point group plugins are published under.
PROJECT: Final = "waypoint_hooks"

#: Marks a hook specification (used only by :mod:`waypoint_hooks.hookspecs`).
hookspec: Final = pluggy.HookspecMarker(PROJECT)
#: Marks a function of a plugin module as the implementation of the hook of the same name.
hookimpl: Final = pluggy.HookimplMarker(PROJECT)
