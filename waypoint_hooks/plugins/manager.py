"""Loading and validating the plugins discovery found, and dispatching a hook to the plugin an
app uses.

One module, over 400 lines, because these are the steps of one object's life: what discovery
finds is what the manager loads, what it validates is what it dispatches, and the error of
each step stays on the one :class:`Plugin` that ``plugins --json`` prints.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import sys
import threading
import typing
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, final

import attrs
import pluggy

from .. import hookspecs
from ..errors import ConfigError, PluginError, StructureError, prefixed
from ..model.codec import structure
from .components import HOOKS, LIFECYCLES, OBSERVER_HOOK, kinds_of
from .configs import content_key, unchangeable
from .discovery import (
    AUTOLOAD_ENV,
    NO_SPECS,
    Cached,
    DiscoveryCache,
    Plugin,
    PluginSpecs,
    discover,
    mtimes,
    named_modules,
)
from .markers import PROJECT

__all__ = [
    "AUTOLOAD_ENV",
    "HookCall",
    "Plugin",
    "PluginManager",
    "PluginSpecs",
    "discover",
]

STATUS_HOOKS: Final = tuple(lifecycle.status for lifecycle in LIFECYCLES)
#: How many configs one implementation keeps structured: more than any project has apps; past
#: it, they are structured again (a dict cleared, not an LRU: threads of sync hooks share it).
_SHARED_CONFIGS: Final = 16_384
# The arguments whose values are structured into the type the implementation annotates.
_TYPED_ARGUMENTS: Final = ("config", "deployment", "release")


def _code(function: object) -> Any:
    return getattr(inspect.unwrap(function), "__code__", None)  # type: ignore[arg-type]


def _where(function: object) -> str:
    code = _code(function)
    return "?" if code is None else f"{code.co_filename}:{code.co_firstlineno}"


def _module_file(value: str) -> str | None:
    """The file of the module a plugin is loaded from (``module`` or ``module:attribute``),
    imported or not (it may have failed to), if there is one."""
    name = value.partition(":")[0].strip()
    module = sys.modules.get(name)
    if module is not None:
        return getattr(module, "__file__", None)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # its package did not import, or no such name
        return None
    return None if spec is None else spec.origin


def _file(function: object) -> str | None:
    """The file ``function`` is defined in, if it is defined in one."""
    code = _code(function)
    return None if code is None else str(code.co_filename)


def _unknown_hook_message(hook: str, where: str) -> str:
    if hook.endswith("status_func"):
        return (
            f"hook {hook!r} ({where}) is not allowed: status can only be implemented by "
            f"platform and release-manager components, as {' or '.join(STATUS_HOOKS)}"
        )
    import difflib  # only a plugin in error needs it

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
    #: The configs structured for it, by what they hold, when its config class is one that
    #: no hook can change (:mod:`.configs`); ``None`` when each call structures its own.
    configs: dict[Hashable, Any] | None = attrs.field(default=None, eq=False, repr=False)

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
                value = self._structured(name, value, cls)
            arguments[name] = value
        return arguments

    def _structured(self, name: str, value: Any, cls: type) -> Any:
        configs = self.configs if name == "config" else None
        key = None if configs is None else content_key(value)
        if configs is not None and key is not None:
            shared = configs.get(key)
            if shared is not None:
                return shared
        try:
            structured: Any = structure(value, cls)
        except StructureError as exc:
            raise prefixed(exc, name) from None
        if configs is not None and key is not None:
            if len(configs) >= _SHARED_CONFIGS:
                configs.clear()
            configs[key] = structured
        return structured


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
        # The hook first, with no tuple made: asked of every status check (whether to make
        # it a Context), where most hooks have no wrapper.
        return argument in self.impl.hookimpl.argnames or any(
            argument in wrapper.hookimpl.argnames for wrapper in self.wrappers
        )


@final
class PluginManager:
    """The plugins of one run: loads them, validates them and dispatches hooks to them."""

    def __init__(self, plugins: Iterable[Plugin] = ()) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, Plugin] = {}
        #: Plugins discovered but not imported: no hook of theirs was called yet.
        self._deferred: dict[str, Plugin] = {}
        # A deferred plugin is imported by the first call that needs it, from any thread.
        self._importing = threading.Lock()
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
    def load(
        cls,
        specs: PluginSpecs = NO_SPECS,
        autoload: bool | None = None,
        *,
        cache: Path | None = None,
        needed: Collection[str] = (),
    ) -> PluginManager:
        """Discover and load every enabled plugin; failures are kept on the plugin.

        With a ``cache`` directory, what an earlier run found is used while the environment
        is unchanged, and only the ``needed`` plugins and those that wrap or observe every
        call are imported; the others are imported by the first call that needs them.
        """
        kept = None
        if cache is not None:
            discovery = DiscoveryCache(cache, specs, autoload)
            kept = discovery.load()
        if kept is None:
            found = discover(specs, autoload)
            never_imported = {plugin.name for plugin in found if plugin.error is not None}
            manager = cls(found)
            if cache is not None:
                discovery.store(manager._cached(never_imported))
        else:
            manager = cls()
            for cached in kept:
                if cached.eager or cached.plugin.name in needed:
                    manager.add(attrs.evolve(cached.plugin, hooks=(), kinds=()))
                else:
                    manager._plugins[cached.plugin.name] = cached.plugin
                    manager._deferred[cached.plugin.name] = cached.plugin
            for plugin in named_modules(specs):
                manager._deferred.pop(plugin.name, None)
                manager.add(plugin)
        manager.specs, manager.autoload = specs, autoload
        return manager

    def _cached(self, never_imported: Collection[str]) -> Iterator[Cached]:
        """The installed plugins, as a :class:`DiscoveryCache` keeps them."""
        for plugin in self._plugins.values():
            if plugin.source == "cli":
                continue
            module = _module_file(plugin.value)
            if plugin.name in never_imported:
                yield Cached(plugin, eager=False)
            elif plugin.error is not None:
                # Its error is told by the command that imports it again, as it is then;
                # mended, its file changes. Where that file is not known, every command
                # imports it again.
                unknown = module is None
                kept = attrs.evolve(plugin, error=None, hooks=(), kinds=())
                yield Cached(kept, eager=unknown, files=mtimes(filter(None, [module])))
            else:
                impls = [i for hook in plugin.hooks for i in self._own_impls(hook, plugin.name)]
                eager = OBSERVER_HOOK in plugin.hooks or any(i.wrapper for i in impls)
                files = {_file(i.function) for i in impls} | {module}
                yield Cached(plugin, eager, mtimes(sorted(filter(None, files))))

    def _undeferred(self, name: str) -> None:
        """Import the plugin ``name`` if it is deferred: a hook of it is called after all."""
        if name not in self._deferred:
            return
        with self._importing:
            plugin = self._deferred.pop(name, None)
            if plugin is not None:
                self.add(attrs.evolve(plugin, hooks=(), kinds=()))

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
        self._undeferred(name)
        return self._plugins[name]

    def get(self, name: str) -> Plugin:
        """The plugin called ``name``; a :class:`PluginError` if there is none or it is broken."""
        self._undeferred(name)
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
        self._undeferred(plugin)
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
            types = _argument_types(function)
            shared = unchangeable(types.get("config"))
            impl = self._impls[hookimpl] = Impl(
                hookimpl, types, inspect.iscoroutinefunction(function), {} if shared else None
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
