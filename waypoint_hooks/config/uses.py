"""Checking the ``use`` blocks of a project against the installed plugins, before anything runs:
each plugin is installed, is the component its block needs, and its settings fit its types."""

from __future__ import annotations

from collections.abc import Collection

from ..errors import ConfigError, ConfigFileError, PluginError, describe
from ..plugins.components import NOTIFIER, PLATFORM, RELEASE_MANAGER, Component
from ..plugins.manager import Plugin, PluginManager
from .project import Project, Use

__all__ = ["check_plugins", "used_plugins"]


def used_plugins(project: Project) -> set[str]:
    """The plugins ``project`` calls hooks of: its platforms, release managers and notifiers."""
    uses = [use for app in project.apps.values() for use in (app.deploy, app.release)]
    uses += [notify.use for notify in project.notify.values()]
    return {use.plugin for use in uses if use is not None}


def check_plugins(project: Project, plugins: PluginManager, names: Collection[str] = ()) -> None:
    """Check that the named apps' plugins (every app's when none is named) and every notify
    block's are installed, of the right kind, and fit their config.

    A plugin that is installed but broken (it failed to import or validate) is not a config
    error: only the apps that use it fail when they run, and the others go on (DESIGN §5); a
    broken notifier's deliveries fail, and are tried again.
    """
    for app in project.apps.values():
        if names and app.name not in names:
            continue
        for component, use in ((PLATFORM, app.deploy), (RELEASE_MANAGER, app.release)):
            if use is not None:
                where = f'app "{app.name}": {component.block}: use "{use.plugin}"'
                _check_use(project, app.name, where, component, use, plugins)
    for notify in project.notify.values():
        where = f'notify "{notify.name}": use "{notify.use.plugin}"'
        _check_use(project, notify.name, where, NOTIFIER, notify.use, plugins)


def _check_use(
    project: Project,
    owner: str,
    where: str,
    component: Component,
    use: Use,
    plugins: PluginManager,
) -> None:
    names = [plugin.name for plugin in plugins.plugins]
    if use.plugin in names:
        plugin = plugins.plugin(use.plugin)
        if plugin.incompatible:
            raise ConfigFileError(project.path, use.line, f"{where}: {plugin.error}")
        if plugin.error is not None:
            return
    try:
        plugins.get(use.plugin)
    except PluginError as exc:
        import difflib  # only a config in error needs it

        close = difflib.get_close_matches(use.plugin, names, n=1)
        todo = f'; did you mean "{close[0]}"?' if close else ""
        raise ConfigFileError(project.path, use.line, f"{where}: {exc}{todo}") from None
    _check_pin(project, where, plugins.plugin(use.plugin))
    if not plugins.implements(use.plugin, component.required):
        raise ConfigFileError(
            project.path,
            use.line,
            f"{where}: the plugin is not a {component.title} (it does not implement "
            f"{component.required}); use a plugin that is one",
        )
    try:
        plugins.structure_config(owner, use.plugin, use.config, component.hooks)
    except ConfigError as exc:
        raise ConfigFileError(
            project.path,
            _line(use, exc.problems[0][0]),
            f"{where}: {describe(exc.problems)}; change this use block to fit the plugin",
        ) from None


def _check_pin(project: Project, where: str, plugin: Plugin) -> None:
    """``plugin``'s version is one its ``plugin`` block pins, if the project pins it."""
    pin = project.plugins.get(plugin.name)
    if pin is None:
        return
    # Imported here: only a project that pins a plugin needs it.
    from packaging.specifiers import SpecifierSet

    if plugin.version is None:
        installed = f"it is loaded from the module {plugin.value}, which has no version"
        todo = "install its distribution instead"
    elif SpecifierSet(pin.version).contains(plugin.version, prereleases=True):
        return
    else:
        installed = f"{plugin.distribution} {plugin.version} is installed"
        todo = f"pip install '{plugin.distribution}{pin.version}'"
    raise ConfigFileError(
        project.path,
        pin.line,
        f'plugin "{plugin.name}": this project works with versions "{pin.version}" of it, but '
        f"{installed} ({where}); {todo}, or change the pin",
    )


def _line(use: Use, path: str) -> int | None:
    """The line of the innermost setting that ``path`` (``headers[accept]``, ``port``,
    ``healthcheck.interval``) is in."""
    holding = [
        name for name in use.lines if path == name or path.startswith((f"{name}.", f"{name}["))
    ]
    return use.lines[max(holding, key=len)] if holding else use.line
