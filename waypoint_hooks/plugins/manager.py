"""Finding, loading and validating plugins, and dispatching a hook to the plugin an app uses.

One module, over 400 lines, because these are the steps of one object's life: what discovery
finds is what the manager loads, what it validates is what it dispatches, and the error of
each step stays on the one :class:`Plugin` that ``plugins --json`` prints.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
import typing
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, final

import attrs
import pluggy

from .. import __version__, hookspecs
from ..errors import ConfigError, PluginError, StructureError, prefixed
from ..model.codec import structure
from .components import HOOKS, LIFECYCLES, kinds_of
from .markers import PROJECT

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "AUTOLOAD_ENV",
    "HookCall",
    "Plugin",
    "PluginManager",
    "PluginSpecs",
]

#: Set to 1 to load only the builtin plugins and those named with ``-p``.
AUTOLOAD_ENV: Final = "WAYPOINT_HOOKS_DISABLE_PLUGIN_AUTOLOAD"
_DISTRIBUTION: Final = "waypoint-hooks"

STATUS_HOOKS: Final = tuple(lifecycle.status for lifecycle in LIFECYCLES)
# The arguments whose values are structured into the type the implementation annotates.
_TYPED_ARGUMENTS: Final = ("config", "deployment", "release")

Source = Literal["builtin", "entry-point", "cli"]


@final
@attrs.frozen
class PluginSpecs:
    """What ``-p`` asked for: plugins to block (``no:NAME``) and modules to load."""

    blocked: frozenset[str] = frozenset()
    modules: tuple[str, ...] = ()

    @classmethod
    def parse(cls, specs: Iterable[str]) -> PluginSpecs:
        blocked: set[str] = set()
        modules: list[str] = []
        for spec in specs:
            if spec.startswith("no:"):
                blocked.add(spec[3:])
            else:
                modules.append(spec)
        return cls(frozenset(blocked), tuple(modules))


@final
@attrs.define
class Plugin:
    """One plugin: where it comes from, what it implements, and why it failed if it did."""

    name: str
    #: The import path (``module`` or ``module:attribute``) it is loaded from.
    value: str
    source: Source
    distribution: str | None = None
    version: str | None = None
    hooks: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    error: str | None = None
    module: object = attrs.field(default=None, repr=False)
    #: What its distribution requires of waypoint-hooks (``waypoint-hooks>=1.2``), if anything.
    requires: str | None = None
    #: Its distribution requires a waypoint-hooks other than the one installed, so it is not
    #: loaded: an app that uses it cannot run at all (a config error), not just fail once.
    incompatible: bool = False

    def to_json(self) -> dict[str, Any]:
        """The object ``plugins --json`` prints for this plugin."""
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "kinds": list(self.kinds),
            "hooks": list(self.hooks),
            "source": self.source,
            "requires": self.requires,
            "error": self.error,
        }


#: No ``-p`` option given.
NO_SPECS: Final = PluginSpecs()


def discover(specs: PluginSpecs = NO_SPECS, autoload: bool | None = None) -> list[Plugin]:
    """Every plugin that would be loaded, without importing any of them.

    Entry points of the ``waypoint_hooks`` group (only this distribution's own when autoload
    is off), then the ``-p`` modules; blocked names are left out.
    """
    # Imported here: commands that run no plugin (status --cached, history) do without it.
    import importlib.metadata

    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_ENV, "") in ("", "0")
    found: dict[str, Plugin] = {}
    # Each distribution's name, version and requirement of waypoint-hooks, read once however
    # many plugins it provides: each read parses its whole metadata file.
    named: dict[importlib.metadata.Distribution, tuple[str, str, str | None, bool]] = {}
    for entry_point in importlib.metadata.entry_points(group=PROJECT):
        dist = entry_point.dist
        dist_name = version = requires = None
        compatible = True
        if dist is not None:
            if dist not in named:
                named[dist] = (dist.metadata["Name"], dist.version, *_requirement(dist))
            dist_name, version, requires, compatible = named[dist]
        builtin = dist_name is not None and _normal(dist_name) == _DISTRIBUTION
        if entry_point.name in specs.blocked or not (builtin or autoload):
            continue
        plugin = Plugin(
            entry_point.name,
            entry_point.value,
            "builtin" if builtin else "entry-point",
            dist_name,
            version,
            requires=requires,
        )
        if not compatible:
            plugin.incompatible = True
            plugin.error = (
                f"{dist_name} {version} requires {requires}, but waypoint-hooks {__version__} "
                f"is installed (pip was bypassed, or told not to check); install a version of "
                f"{dist_name} made for waypoint-hooks {__version__}"
            )
        earlier = found.get(entry_point.name)
        if earlier is not None:
            # Same name twice: neither can be trusted to be the one the config means.
            clash = (
                f"the name {entry_point.name!r} is provided by both {earlier.distribution} "
                f"and {dist_name}; uninstall one of them"
            )
            earlier.error = plugin.error = clash
            continue
        found[entry_point.name] = plugin
    for module in specs.modules:
        name = module.rpartition(".")[2]
        if name not in specs.blocked:
            found[name] = Plugin(name, module, "cli")
    return list(found.values())


def _requirement(dist: importlib.metadata.Distribution) -> tuple[str | None, bool]:
    """What ``dist`` requires of waypoint-hooks, as written, and whether the installed one
    meets it: pip checks that when it installs, but a ``--no-deps`` install, an upgrade of
    waypoint-hooks alone, or a copied site-packages does not."""
    if _normal(dist.metadata["Name"]) == _DISTRIBUTION:
        return None, True
    # Imported here: only a distribution with requirements needs it.
    from packaging.requirements import InvalidRequirement, Requirement

    for line in dist.requires or ():
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # pip would not have installed it; its other requirements are not ours
        if _normal(requirement.name) != _DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue  # an extra's requirement, or another platform's
        written = f"{requirement.name}{requirement.specifier}"
        return written, requirement.specifier.contains(__version__, prereleases=True)
    return None, True


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _where(function: object) -> str:
    code = getattr(inspect.unwrap(function), "__code__", None)  # type: ignore[arg-type]
    return "?" if code is None else f"{code.co_filename}:{code.co_firstlineno}"


def _unknown_hook_message(hook: str, where: str) -> str:
    if hook.endswith("status_func"):
        return (
            f"hook {hook!r} ({where}) is not allowed: status can only be implemented by "
            f"platform and release-manager components, as {' or '.join(STATUS_HOOKS)}"
        )
    close = difflib.get_close_matches(hook, HOOKS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; known hooks: {', '.join(HOOKS)}"
    return f"unknown hook {hook!r} ({where}){hint}"


def _hook_problems(manager: pluggy.PluginManager, module: object) -> list[str]:
    """Why the hooks ``module`` implements cannot be registered, if they cannot."""
    problems = []
    for attribute in dir(module):
        opts = manager.parse_hookimpl_opts(module, attribute)
        if opts is None:
            continue
        hook = opts.get("specname") or attribute
        function = getattr(module, attribute)
        where = _where(function)
        if hook not in HOOKS:
            problems.append(_unknown_hook_message(hook, where))
        elif opts.get("hookwrapper"):
            problems.append(
                f"hook {hook!r} ({where}) uses hookwrapper=True, which this "
                "framework does not run; use wrapper=True (a plain generator)"
            )
        elif opts.get("wrapper") and inspect.isasyncgenfunction(function):
            problems.append(
                f"wrapper {hook!r} ({where}) is an async generator; wrappers "
                "must be plain generators (they also wrap async hooks)"
            )
    return problems


def _argument_types(function: Any) -> dict[str, type | None]:
    """The attrs or dataclass type each typed argument of ``function`` is annotated with."""
    names = [n for n in _TYPED_ARGUMENTS if n in inspect.signature(function).parameters]
    if not names:
        return {}
    hints = typing.get_type_hints(function)
    return {name: structured_type(hints.get(name)) for name in names}


def structured_type(annotation: object) -> type | None:
    """``annotation``, if a value is structured into it: an attrs class or a dataclass."""
    # Only classes with fields are structured; dict, Mapping, Any and the rest get the value.
    if isinstance(annotation, type) and (
        attrs.has(annotation) or dataclasses.is_dataclass(annotation)
    ):
        return annotation
    return None


@final
@attrs.frozen
class Impl:
    """A hook implementation, with the types its typed arguments are structured into."""

    hookimpl: pluggy.HookImpl
    types: Mapping[str, type | None]
    is_async: bool

    @property
    def argnames(self) -> tuple[str, ...]:
        return tuple(self.hookimpl.argnames)

    def arguments(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments this implementation takes, typed values structured."""
        arguments = {}
        for name in self.hookimpl.argnames:
            value = values[name]
            cls = self.types.get(name)
            if cls is not None and value is not None and not isinstance(value, cls):
                try:
                    value = structure(value, cls)
                except StructureError as exc:
                    raise prefixed(exc, name) from None
            arguments[name] = value
        return arguments


@final
@attrs.frozen
class HookCall:
    """One hook as one plugin implements it, inside every wrapper of that hook."""

    hook: str
    plugin: str
    #: Outermost first.
    wrappers: tuple[Impl, ...]
    impl: Impl

    def takes(self, argument: str) -> bool:
        """Whether the implementation, or a wrapper around it, takes ``argument``."""
        return any(argument in i.hookimpl.argnames for i in (*self.wrappers, self.impl))


@final
class PluginManager:
    """The plugins of one run: loads them, validates them and dispatches hooks to them."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, Plugin] = {}
        self._impls: dict[pluggy.HookImpl, Impl] = {}
        self._calls: dict[tuple[str, str], HookCall] = {}
        self._observers: dict[str, list[HookCall]] = {}
        #: How :meth:`load` found the plugins, so an isolated process can find the same ones;
        #: ``None`` for a manager whose plugins were registered by hand.
        self.specs: PluginSpecs | None = None
        self.autoload: bool | None = None
        for plugin in plugins:
            self.add(plugin)

    @classmethod
    def load(cls, specs: PluginSpecs = NO_SPECS, autoload: bool | None = None) -> PluginManager:
        """Discover and load every enabled plugin; failures are kept on the plugin."""
        manager = cls(discover(specs, autoload))
        manager.specs, manager.autoload = specs, autoload
        return manager

    @property
    def plugins(self) -> list[Plugin]:
        return list(self._plugins.values())

    def add(self, plugin: Plugin, module: object = None) -> Plugin:
        """Load ``plugin`` (importing it unless ``module`` is given) and register its hooks.

        A failure to import or validate is recorded on ``plugin.error``, never raised: one
        broken plugin does not take the others down.
        """
        self._plugins[plugin.name] = plugin
        self._calls.clear()
        self._observers.clear()
        if plugin.error is not None:
            return plugin
        try:
            plugin.module = module if module is not None else _import(plugin.value)
        except (Exception, SystemExit) as exc:  # a plugin's import may run any code
            plugin.error = f"cannot import {plugin.value!r}: {type(exc).__name__}: {exc}"
            return plugin
        problems = _hook_problems(self._pm, plugin.module)
        if not problems:
            try:
                self._pm.register(plugin.module, plugin.name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                problems.append(str(exc).replace("\n", " "))
        if problems:
            plugin.error = "; ".join(problems)
            return plugin
        plugin.hooks = tuple(
            sorted(caller.name for caller in self._pm.get_hookcallers(plugin.module) or ())
        )
        plugin.kinds = kinds_of(
            [
                hook
                for hook in plugin.hooks
                if any(not (i.wrapper or i.hookwrapper) for i in self._own_impls(hook, plugin.name))
            ]
        )
        try:
            self._check_annotations(plugin)
        except (NameError, TypeError) as exc:
            self._pm.unregister(name=plugin.name)
            plugin.error = f"cannot resolve its annotations: {type(exc).__name__}: {exc}"
        return plugin

    def register(self, module: object, name: str | None = None) -> Plugin:
        """Register an imported module or object as a plugin (source ``cli``); for tests."""
        name = name or getattr(module, "__name__", type(module).__name__).rpartition(".")[2]
        plugin = Plugin(name, getattr(module, "__name__", name), "cli")
        return self.add(plugin, module)

    def plugin(self, name: str) -> Plugin:
        """The plugin called ``name``, broken or not; KeyError if there is none."""
        return self._plugins[name]

    def get(self, name: str) -> Plugin:
        """The plugin called ``name``; a :class:`PluginError` if there is none or it is broken."""
        plugin = self._plugins.get(name)
        if plugin is None:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise PluginError(
                name,
                f"no such plugin is installed (installed: {known}); "
                "pip install the package that provides it",
            )
        if plugin.error is not None:
            raise PluginError(name, plugin.error)
        return plugin

    def implements(self, plugin: str, hook: str) -> bool:
        return any(not (i.wrapper or i.hookwrapper) for i in self._own_impls(hook, plugin))

    def call(self, hook: str, plugin: str) -> HookCall:
        """``plugin``'s implementation of ``hook``, inside every plugin's wrappers of it."""
        key = (hook, plugin)
        cached = self._calls.get(key)
        if cached is not None:
            return cached
        self.get(plugin)
        impls = self._pm.hook.__dict__[hook].get_hookimpls()
        own = [i for i in impls if i.plugin_name == plugin and not (i.wrapper or i.hookwrapper)]
        if not own:
            raise PluginError(plugin, f"does not implement {hook}")
        # pluggy keeps implementations in reverse call order: the last one runs outermost.
        wrappers = tuple(self._impl(i) for i in reversed(impls) if i.wrapper)
        call = self._calls[key] = HookCall(hook, plugin, wrappers, self._impl(own[-1]))
        return call

    def observers(self, hook: str) -> list[HookCall]:
        """Every plugin's implementation of a broadcast hook, each inside the wrappers."""
        cached = self._observers.get(hook)
        if cached is None:
            impls = self._pm.hook.__dict__[hook].get_hookimpls()
            names = [i.plugin_name for i in reversed(impls) if not i.wrapper]
            cached = self._observers[hook] = [self.call(hook, name) for name in names]
        return cached

    def structure_config(
        self, app: str, plugin: str, config: Mapping[str, Any], hooks: Iterable[str]
    ) -> None:
        """Check that ``config`` fits every type ``plugin`` annotates it with in ``hooks``."""
        for hook in hooks:
            if not self.implements(plugin, hook):
                continue
            cls = self.call(hook, plugin).impl.types.get("config")
            if cls is None:
                continue
            try:
                structure(dict(config), cls)
            except StructureError as exc:
                raise ConfigError(app, plugin, exc.problems) from None

    def _own_impls(self, hook: str, plugin: str) -> list[pluggy.HookImpl]:
        caller = self._pm.hook.__dict__.get(hook)
        if caller is None:
            return []
        return [i for i in caller.get_hookimpls() if i.plugin_name == plugin]

    def _impl(self, hookimpl: pluggy.HookImpl) -> Impl:
        impl = self._impls.get(hookimpl)
        if impl is None:
            function = hookimpl.function
            impl = self._impls[hookimpl] = Impl(
                hookimpl, _argument_types(function), inspect.iscoroutinefunction(function)
            )
        return impl

    def _check_annotations(self, plugin: Plugin) -> None:
        for hook in plugin.hooks:
            for hookimpl in self._own_impls(hook, plugin.name):
                self._impl(hookimpl)


def _import(value: str) -> object:
    module_name, _, attribute = value.partition(":")
    module: object = importlib.import_module(module_name.strip())
    for part in filter(None, attribute.strip().split(".")):
        module = getattr(module, part)
    return module
