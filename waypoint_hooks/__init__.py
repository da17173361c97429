"""waypoint-hooks: deployment-health plugins on pluggy, after HashiCorp Waypoint's Status."""

from ._aggregate import DEFAULT_ORDER, POLICIES, Policy, aggregate
from ._codec import StructureError
from ._context import Context, JobInfo, Target
from ._errors import ConfigError, PluginError
from ._health import CategoryDisplayHint, Health
from ._markers import hookimpl, hookspec
from ._model import Resource, StatusReport
from ._plugins import AUTOLOAD_ENV, Plugin, PluginManager, PluginSpecs, discover
from ._runner import HookFailed, HookTimeout, Runner, StatusCheck, finalize, invoke
from ._wire import ReportDecodeError, report_from_json, report_to_json

__all__ = [
    "AUTOLOAD_ENV",
    "DEFAULT_ORDER",
    "POLICIES",
    "CategoryDisplayHint",
    "ConfigError",
    "Context",
    "Health",
    "HookFailed",
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
    "hookspec",
    "invoke",
    "report_from_json",
    "report_to_json",
]
