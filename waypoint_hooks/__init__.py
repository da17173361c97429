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
    ".errors": ("ConfigError", "PluginError", "ReportDecodeError", "StructureError"),
    ".model.health": ("CategoryDisplayHint", "Health"),
    ".plugins.markers": ("hookimpl",),
    ".model.report": ("Resource", "StatusReport", "finalize"),
    ".model.redaction": ("redact_urls",),
    ".model.wire": ("report_from_json", "report_to_json"),
}

#: The embedding API, now in waypoint_hooks.host: importable from here until 1.0, each use
#: with a DeprecationWarning. Host's ``__all__`` again, not read from it: importing this
#: package must not import host too (a test of the pytest plugin keeps to that).
_MOVED = dict.fromkeys(
    (
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
    ),
    "waypoint_hooks.host",
)

# Spelled out (not derived) so that type checkers and linters see it; a test keeps it
# equal to the table above.
__all__ = [
    "DEFAULT_ORDER",
    "POLICIES",
    "Alert",
    "CategoryDisplayHint",
    "ConfigError",
    "Context",
    "Duration",
    "Health",
    "JobInfo",
    "PluginError",
    "Policy",
    "ReportDecodeError",
    "Resource",
    "StatusReport",
    "StructureError",
    "Target",
    "aggregate",
    "finalize",
    "hookimpl",
    "redact_urls",
    "report_from_json",
    "report_to_json",
]

if TYPE_CHECKING:
    from .errors import ConfigError, PluginError, ReportDecodeError, StructureError

    # The names that moved to the host, still typed where they are used from here; type
    # checkers that want re-exports explicit flag such uses, as the warning does at run time.
    from .host import (  # noqa: F401
        AUTOLOAD_ENV,
        HookFailed,
        HookRequest,
        HookTimeout,
        Plugin,
        PluginManager,
        PluginSpecs,
        Runner,
        StatusCheck,
        discover,
    )
    from .model.aggregate import DEFAULT_ORDER, POLICIES, Policy, aggregate
    from .model.alert import Alert
    from .model.durations import Duration
    from .model.health import CategoryDisplayHint, Health
    from .model.redaction import redact_urls
    from .model.report import Resource, StatusReport, finalize
    from .model.wire import report_from_json, report_to_json
    from .plugins.context import Context, JobInfo, Target
    from .plugins.markers import hookimpl

__getattr__, __dir__ = _exports.lazy(globals(), _EXPORTS, _MOVED)
