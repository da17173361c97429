"""The embedding API: what a program that runs plugins uses (a test harness, a dashboard,
another launcher); a plugin's author needs only ``waypoint_hooks``.

Lazy as ``waypoint_hooks`` is: importing this module imports none of what its names need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _exports

_EXPORTS = {
    ".errors": ("HookFailed", "HookTimeout"),
    ".plugins.manager": ("AUTOLOAD_ENV", "Plugin", "PluginManager", "PluginSpecs", "discover"),
    ".plugins.request": ("HookRequest",),
    ".plugins.runner": ("Runner", "StatusCheck"),
}

# Spelled out (not derived) so that type checkers and linters see it; a test keeps it
# equal to the table above.
__all__ = [
    "AUTOLOAD_ENV",
    "HookFailed",
    "HookRequest",
    "HookTimeout",
    "Plugin",
    "PluginManager",
    "PluginSpecs",
    "Runner",
    "StatusCheck",
    "discover",
]

if TYPE_CHECKING:
    from .errors import HookFailed, HookTimeout
    from .plugins.manager import AUTOLOAD_ENV, Plugin, PluginManager, PluginSpecs, discover
    from .plugins.request import HookRequest
    from .plugins.runner import Runner, StatusCheck

__getattr__, __dir__ = _exports.lazy(globals(), _EXPORTS)
