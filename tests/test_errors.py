"""One exception tree (``waypoint_hooks.errors``): every error the package exports has one root,
usage errors and plugin errors are branches a caller can catch, and each error keeps the
builtin base users' ``except`` clauses rely on."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import waypoint_hooks
from waypoint_hooks import errors
from waypoint_hooks.errors import (
    ConfigError,
    ConfigFileError,
    DestroyError,
    HookFailed,
    HookTimeout,
    PluginError,
    ReportDecodeError,
    StateError,
    StructureError,
    UnknownAppError,
    UsageError,
    WaypointHooksError,
)

#: Exceptions of the package that are not in the tree, and why.
OUTSIDE_THE_TREE = {
    # A second stop signal: a KeyboardInterrupt, which no `except Exception` may catch.
    "waypoint_hooks.plugins.signals.Interrupted",
}


def _public_modules() -> list[ModuleType]:
    """The package and its top-level modules: the wings (subpackages) are its inside."""
    names = [
        f"{waypoint_hooks.__name__}.{module.name}"
        for module in pkgutil.iter_modules(waypoint_hooks.__path__)
        if not module.ispkg and not module.name.startswith("_")
    ]
    return [waypoint_hooks, *map(importlib.import_module, names)]


def _exported_exceptions() -> list[type[BaseException]]:
    found: dict[type[BaseException], None] = {}  # each once, however many modules export it
    for module in _public_modules():
        # Without __all__ (hookspecs), every name not private is the module's.
        public = [name for name in dir(module) if not name.startswith("_")]
        for name in getattr(module, "__all__", public):
            value = getattr(module, name)
            if inspect.isclass(value) and issubclass(value, BaseException):
                found[value] = None
    return list(found)


def test_the_public_modules_export_the_errors_of_the_tree() -> None:
    exported = {cls.__name__ for cls in _exported_exceptions()}
    assert {"DestroyError", "PluginError", "StructureError", "WaypointHooksError"} <= exported


@pytest.mark.parametrize("cls", _exported_exceptions(), ids=lambda cls: cls.__qualname__)
def test_every_exception_a_public_module_exports_is_a_waypoint_hooks_error(
    cls: type[BaseException],
) -> None:
    assert issubclass(cls, WaypointHooksError)


def test_every_exception_class_of_the_package_is_in_errors_py_or_private() -> None:
    # One tree, readable in one file: a module's own exception is for its own use.
    walked = pkgutil.walk_packages(waypoint_hooks.__path__, f"{waypoint_hooks.__name__}.")
    strays = []
    for module in walked:
        if module.name.endswith("__main__"):
            continue  # importing it runs the command
        for name, value in vars(importlib.import_module(module.name)).items():
            if not (inspect.isclass(value) and issubclass(value, BaseException)):
                continue
            qualified = f"{value.__module__}.{name}"
            if value.__module__ != module.name or qualified in OUTSIDE_THE_TREE:
                continue
            if module.name != errors.__name__ and not name.startswith("_"):
                strays.append(qualified)
    assert strays == []


@pytest.mark.parametrize("cls", [ConfigError, ConfigFileError, StateError, UnknownAppError])
def test_what_the_user_must_fix_is_a_usage_error(cls: type[Exception]) -> None:
    assert issubclass(cls, UsageError)


@pytest.mark.parametrize("cls", [HookFailed, HookTimeout])
def test_a_hook_that_failed_is_a_plugin_error(cls: type[Exception]) -> None:
    assert issubclass(cls, PluginError)


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ConfigError, ValueError),
        (UnknownAppError, ValueError),
        (StructureError, ValueError),
        (ReportDecodeError, ValueError),
        (PluginError, RuntimeError),
        (HookFailed, RuntimeError),
        (HookTimeout, RuntimeError),
    ],
)
def test_each_error_keeps_the_builtin_base_users_catch_it_by(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(cls, builtin)


def test_only_the_usage_errors_are_usage_errors() -> None:
    others = [PluginError, HookFailed, HookTimeout, StructureError, ReportDecodeError, DestroyError]
    assert not any(issubclass(cls, UsageError) for cls in others)
