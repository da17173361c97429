"""One exception tree: every error the framework raises is a :class:`WaypointHooksError`.

A caller catches at the level it cares about: :class:`UsageError` is what the user must fix
(the command exits 2, DESIGN §8), :class:`PluginError` a plugin that cannot be used or failed.
Each class also keeps the builtin base it always had (``StructureError`` is a ``ValueError``,
``PluginError`` a ``RuntimeError``), so that ``except ValueError`` goes on catching it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, TypeVar

from .model.durations import Duration

__all__ = [
    "ConfigError",
    "ConfigFileError",
    "DestroyError",
    "HookFailed",
    "HookTimeout",
    "NoLiveVersionError",
    "PluginError",
    "ReportDecodeError",
    "ReportRefusedError",
    "RollbackError",
    "StateError",
    "StructureError",
    "UnknownAppError",
    "UsageError",
    "WaypointHooksError",
]

_S = TypeVar("_S", bound="StructureError")


def join_path(path: str, inner: str) -> str:
    """``resources[3]`` + ``health`` → ``resources[3].health``; indexes join without a dot."""
    if not inner:
        return path
    if not path or inner.startswith("["):
        return f"{path}{inner}"
    return f"{path}.{inner}"


def describe(problems: Iterable[tuple[str, str]]) -> str:
    """``(path, message)`` pairs as one line: ``port: expected int, got str 'x'; …``."""
    return "; ".join(f"{path}: {message}" if path else message for path, message in problems)


def describe_error(error: BaseException) -> str:
    """What a hook did wrong, as the end of a sentence that names the plugin and hook."""
    if isinstance(error, StructureError):
        return f"cannot take its arguments: {error}"
    name = type(error).__name__
    try:
        text = str(error)
    except Exception:  # a plugin's exception may fail even to describe itself
        text = "<its message cannot be shown: str() of it raised too>"
    return f"raised {name}: {text}" if text else f"raised {name}"


class WaypointHooksError(Exception):
    """The root of the tree: any error of waypoint-hooks."""


# --- what the user must fix -------------------------------------------------------------------


class UsageError(WaypointHooksError):
    """Something the user gave cannot be used: the config, the state, an app's name. The
    command prints the message alone, without the class's name, and exits 2."""


class ConfigError(UsageError, ValueError):
    """The configuration of an app does not fit: names the app, the plugin and the field.

    ``problems`` holds ``(path, message)`` pairs, the path relative to the plugin's config
    (``directory``, ``headers.accept``); an empty path is about the config as a whole.
    """

    def __init__(self, app: str, plugin: str, problems: list[tuple[str, str]]) -> None:
        self.app = app
        self.plugin = plugin
        self.problems = problems
        super().__init__(f"app {app!r}, plugin {plugin!r}: {describe(problems)}")


class ConfigFileError(UsageError):
    """The config file is wrong: ``str()`` is the whole message, ``FILE:LINE: what to fix``.

    ``path`` is absolute; the message shows it relative to the working directory when the file
    is inside it, as compilers do. ``line`` is ``None`` when no one line is to blame.
    """

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        self.path = Path(os.path.abspath(path))
        self.line = line
        self.message = message
        where = _shown(self.path) if line is None else f"{_shown(self.path)}:{line}"
        super().__init__(f"{where}: {message}")


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):  # outside the working directory, or it was deleted
        return str(path)


class StateError(UsageError):
    """The state cannot be used; the message names it and what to do."""


class UnknownAppError(UsageError, ValueError):
    """An app named on the command line is not in the config."""


class RollbackError(UsageError, ValueError):
    """A rollback cannot be made: not one app named, or no such live deployment of it."""


class NoLiveVersionError(UsageError, LookupError):
    """A report from outside names an app with no live deployment (or release) for it to be
    about."""


class ReportRefusedError(UsageError, ValueError):
    """A report from outside is over a limit of its app's (DESIGN §13): refused whole, nothing
    stored."""


# --- plugins ----------------------------------------------------------------------------------


class PluginError(WaypointHooksError, RuntimeError):
    """A plugin cannot be used — it failed to load or validate, or lacks the hook asked for —
    or, for the subclasses, one of its hooks failed. ``plugin`` names it, ``hook`` the hook
    when the error is about one; ``message`` is what went wrong, ``str()`` says whose."""

    def __init__(self, plugin: str, message: str, hook: str | None = None) -> None:
        self.plugin = plugin
        self.hook = hook
        self.message = message
        # About a hook, the message ends the sentence: plugin 'web' platform_status_func raised …
        where = f"plugin {plugin!r}:" if hook is None else f"plugin {plugin!r} {hook}"
        super().__init__(f"{where} {message}")


class _HookCall(Protocol):
    """What an error of a hook call names (a ``HookCall`` of the plugin manager, which this
    module, below the report model, cannot import)."""

    @property
    def plugin(self) -> str: ...

    @property
    def hook(self) -> str: ...


class HookFailed(PluginError):
    """A hook implementation (or a wrapper of it) raised ``error``."""

    def __init__(self, call: _HookCall, error: BaseException, what: str | None = None) -> None:
        self.call = call
        self.error = error
        super().__init__(call.plugin, describe_error(error) if what is None else what, call.hook)


class HookTimeout(PluginError):
    """A hook did not return within its timeout."""

    def __init__(self, call: _HookCall, timeout: float) -> None:
        self.call = call
        self.timeout = timeout
        super().__init__(call.plugin, f"timed out after {Duration(timeout)}", call.hook)


# --- values -----------------------------------------------------------------------------------


class StructureError(WaypointHooksError, ValueError):
    """A value does not fit the type asked for; ``problems`` lists ``(path, message)`` pairs.

    A plugin's validator or converter may raise one to name a path inside its field
    (``StructureError.at("urls[2]", "is not a URL")``); a plain ``ValueError`` from a validator
    is reported at the validator's field.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(describe(problems))

    @classmethod
    def at(cls: type[_S], path: str, message: str) -> _S:
        """One problem, at ``path``."""
        return cls([(path, message)])

    @property
    def path(self) -> str:
        """The path to the first bad field, e.g. ``resources[3].health``."""
        return self.problems[0][0]


def prefixed(error: _S, prefix: str) -> _S:
    """``error`` with ``prefix`` put before each of its paths (same error class)."""
    return type(error)([(join_path(prefix, path), message) for path, message in error.problems])


class ReportDecodeError(StructureError):
    """The text is not a wire-format ``StatusReport``; ``path`` names the bad field."""


class DestroyError(WaypointHooksError):
    """Some resources could not be destroyed; ``errors`` pairs each one's name with what its
    destroy function raised, in the order they were destroyed. The others were."""

    def __init__(self, errors: list[tuple[str, Exception]]) -> None:
        self.errors = errors
        listed = "; ".join(f"resource {name!r}: it {describe_error(e)}" for name, e in errors)
        super().__init__(f"could not destroy {listed}")
