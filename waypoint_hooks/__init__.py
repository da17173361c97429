"""waypoint-hooks: deployment-health plugins on pluggy, after HashiCorp Waypoint's Status.

This module is the plugin author's API; a program that runs plugins uses
``waypoint_hooks.host``. The names load on first use (PEP 562, ``_exports``): the launcher's
``--help`` and ``--version`` must not pay for attrs, cattrs and pluggy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _exports

__version__ = "0.1.0"

_EXPORTS = {
    ".model.alert": ("Alert",),
    ".model.aggregate": ("DEFAULT_ORDER", "POLICIES", "Policy", "aggregate"),
    ".plugins.context": ("Context", "JobInfo", "Target"),
    ".model.durations": ("Duration",),
    ".errors": (
        "ConfigError",
        "HookFailed",
        "HookTimeout",
        "PluginError",
        "ReportDecodeError",
        "StructureError",
    ),
    ".model.health": ("CategoryDisplayHint", "Health"),
    ".plugins.markers": ("hookimpl",),
    ".model.report": ("Resource", "StatusReport", "finalize"),
    ".plugins.manager": ("AUTOLOAD_ENV", "Plugin", "PluginManager", "PluginSpecs", "discover"),
    ".model.redaction": ("redact_urls",),
    ".plugins.request": ("HookRequest",),
    ".plugins.runner": ("Runner", "StatusCheck"),
    ".model.wire": ("report_from_json", "report_to_json"),
}

# Spelled out (not derived) so that type checkers and linters see it; a test keeps it
# equal to the table above.
__all__ = [
    "AUTOLOAD_ENV",
    "DEFAULT_ORDER",
    "POLICIES",
    "Alert",
    "CategoryDisplayHint",
    "ConfigError",
    "Context",
    "Duration",
    "Health",
    "HookFailed",
    "HookRequest",
    "HookTimeout",
    "JobInfo",
    "Plugin",
    "PluginError",
    "PluginManager",
    "PluginSpecs",
    "Policy",
    "ReportDecodeError",
    "Resource",
    "Runner",
    "StatusCheck",
    "StatusReport",
    "StructureError",
    "Target",
    "aggregate",
    "discover",
    "finalize",
    "hookimpl",
    "redact_urls",
    "report_from_json",
    "report_to_json",
]

if TYPE_CHECKING:
    from .errors import (
        ConfigError,
        HookFailed,
        HookTimeout,
        PluginError,
        ReportDecodeError,
        StructureError,
    )
    from .model.aggregate import DEFAULT_ORDER, POLICIES, Policy, aggregate
    from .model.alert import Alert
    from .model.durations import Duration
    from .model.health import CategoryDisplayHint, Health
    from .model.redaction import redact_urls
    from .model.report import Resource, StatusReport, finalize
    from .model.wire import report_from_json, report_to_json
    from .plugins.context import Context, JobInfo, Target
    from .plugins.manager import AUTOLOAD_ENV, Plugin, PluginManager, PluginSpecs, discover
    from .plugins.markers import hookimpl
    from .plugins.request import HookRequest
    from .plugins.runner import Runner, StatusCheck


__getattr__, __dir__ = _exports.lazy(globals(), _EXPORTS)
