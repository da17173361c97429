"""waypoint-hooks: deployment-health plugins on pluggy, after HashiCorp Waypoint's Status.

The public names load on first use (PEP 562): the launcher's ``--help`` and ``--version``
must not pay for attrs, cattrs and pluggy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "._alert": ("Alert",),
    "._aggregate": ("DEFAULT_ORDER", "POLICIES", "Policy", "aggregate"),
    "._context": ("Context", "JobInfo", "Target"),
    "._duration": ("Duration",),
    "._errors": ("ConfigError", "PluginError", "StructureError"),
    "._health": ("CategoryDisplayHint", "Health"),
    "._markers": ("hookimpl",),
    "._model": ("Resource", "StatusReport", "finalize"),
    "._plugins": ("AUTOLOAD_ENV", "Plugin", "PluginManager", "PluginSpecs", "discover"),
    "._redact": ("redact_urls",),
    "._callers": ("HookFailed", "HookTimeout"),
    "._request": ("HookRequest",),
    "._runner": ("Runner", "StatusCheck"),
    "._wire": ("ReportDecodeError", "report_from_json", "report_to_json"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

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
    from ._aggregate import DEFAULT_ORDER, POLICIES, Policy, aggregate
    from ._alert import Alert
    from ._callers import HookFailed, HookTimeout
    from ._context import Context, JobInfo, Target
    from ._duration import Duration
    from ._errors import ConfigError, PluginError, StructureError
    from ._health import CategoryDisplayHint, Health
    from ._markers import hookimpl
    from ._model import Resource, StatusReport, finalize
    from ._plugins import AUTOLOAD_ENV, Plugin, PluginManager, PluginSpecs, discover
    from ._redact import redact_urls
    from ._request import HookRequest
    from ._runner import Runner, StatusCheck
    from ._wire import ReportDecodeError, report_from_json, report_to_json


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'waypoint_hooks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # the next look-up is an ordinary global
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
