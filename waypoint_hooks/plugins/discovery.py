"""Finding the installed plugins without importing them, and keeping what importing them
taught (their hooks) for the next run of the same environment.

Discovery reads the ``waypoint_hooks`` entry points of every distribution on ``sys.path``;
the :class:`DiscoveryCache` keeps what it found, and what each plugin implements once
imported, while nothing it depends on changed: the interpreter, ``sys.path`` and each of its
directories (pip adds or removes a distribution's metadata there at every install, upgrade
and uninstall), and the files each plugin's hooks are defined in. A command then imports only
the plugins whose hooks it calls (``docs/design.md``, "Plugins").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, final

import attrs

from .. import __version__
from ..model.cachefile import read_entry, write_entry
from .markers import PROJECT

if TYPE_CHECKING:
    import importlib.metadata

__all__ = [
    "AUTOLOAD_ENV",
    "NO_SPECS",
    "Cached",
    "DiscoveryCache",
    "Plugin",
    "PluginSpecs",
    "discover",
]

#: Set to 1 to load only the builtin plugins and those named with ``-p``.
AUTOLOAD_ENV: Final = "WAYPOINT_HOOKS_DISABLE_PLUGIN_AUTOLOAD"
_DISTRIBUTION: Final = "waypoint-hooks"


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

    autoload = _autoload(autoload)
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
    found.update((plugin.name, plugin) for plugin in named_modules(specs))
    return list(found.values())


def named_modules(specs: PluginSpecs) -> list[Plugin]:
    """The plugins ``-p MODULE`` names, not blocked: each replaces an installed one of its
    name."""
    plugins = [Plugin(module.rpartition(".")[2], module, "cli") for module in specs.modules]
    return [plugin for plugin in plugins if plugin.name not in specs.blocked]


def _autoload(autoload: bool | None) -> bool:
    if autoload is None:
        return os.environ.get(AUTOLOAD_ENV, "") in ("", "0")
    return autoload


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


# --- the cache ------------------------------------------------------------------------------

# Bump when what the cache keeps changes, so that older entries are not trusted.
_CACHE_FORMAT: Final = 1
# What a cached plugin keeps of a :class:`Plugin`: all but its module.
_KEPT: Final = tuple(field.name for field in attrs.fields(Plugin) if field.name != "module")


@final
@attrs.frozen
class Cached:
    """A discovered plugin as the cache keeps it."""

    #: As discovery found it, with the hooks and kinds importing it showed; its error only if
    #: it was never imported (an incompatible version, a name two distributions provide).
    plugin: Plugin
    #: Imported by every command that runs hooks: it wraps or observes every call of a hook,
    #: or it failed to import from a file that cannot be found (it may have been mended).
    eager: bool
    #: The files its hooks are defined in (the file it failed to import from), each with its
    #: modification time (ns).
    files: Mapping[str, int | None] = attrs.field(factory=dict)


@final
class DiscoveryCache:
    """The plugins discovery found, and what each implements, kept in a directory while the
    environment they were found in is unchanged.

    The key is taken when the cache is made, before discovery: an install that happens
    meanwhile makes the entry stored stale at once, never a stale entry look fresh.
    """

    def __init__(self, directory: Path, specs: PluginSpecs, autoload: bool | None) -> None:
        self._file = directory / "plugins.json"
        self._key = {
            "format": _CACHE_FORMAT,
            "waypoint_hooks": __version__,
            "python": sys.executable,
            "autoload": _autoload(autoload),
            "blocked": sorted(specs.blocked),
            "modules": list(specs.modules),
            # '' is the working directory: another one may hold other distributions.
            "path": [[path, _mtime(path)] for path in map(os.path.abspath, sys.path)],
        }

    def load(self) -> list[Cached] | None:
        """The plugins kept, if the environment and every plugin's files are as they were."""
        body = read_entry(self._file, self._key)
        try:
            if body is None or _changed(body["metadata"]):
                return None
            kept = [_cached(item) for item in body["plugins"]]
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # corrupt: discover as if there were no cache
        return None if any(_changed(cached.files) for cached in kept) else kept

    def store(self, found: Iterable[Cached]) -> None:
        body = {
            "plugins": [_plain(cached) for cached in found],
            "metadata": mtimes(_entry_point_files()),
        }
        write_entry(self._file, self._key, body)


def _entry_point_files() -> list[str]:
    """The entry-points files of the distributions that provide plugins: one rewritten in
    place (``pip install -e`` of a project installed the old, ``setup.py develop`` way) changes
    no directory's time on ``sys.path``."""
    import importlib.metadata

    found = set()
    for entry_point in importlib.metadata.entry_points(group=PROJECT):
        # Private to importlib.metadata, but where else is a distribution's metadata found.
        directory = getattr(entry_point.dist, "_path", None)
        if directory is not None:
            found.add(os.path.abspath(os.path.join(directory, "entry_points.txt")))
    return sorted(found)


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except (OSError, ValueError):  # no such file, or no path at all (a NUL in it)
        return None


def mtimes(paths: Iterable[str]) -> dict[str, int | None]:
    """Each of ``paths`` with its modification time (``None``: it does not exist)."""
    return {path: _mtime(path) for path in paths}


def _changed(files: Mapping[str, int | None]) -> bool:
    return any(_mtime(path) != mtime for path, mtime in files.items())


def _plain(cached: Cached) -> dict[str, Any]:
    plugin = {name: getattr(cached.plugin, name) for name in _KEPT}
    return {"plugin": plugin, "eager": cached.eager, "files": dict(cached.files)}


def _cached(item: Mapping[str, Any]) -> Cached:
    fields = {name: item["plugin"][name] for name in _KEPT}
    fields["hooks"], fields["kinds"] = tuple(fields["hooks"]), tuple(fields["kinds"])
    files, eager = item["files"], item["eager"]
    # Only this module writes the file: anything else in it is damage, and read as none.
    texts = (fields["name"], fields["value"], fields["source"], *fields["hooks"], *fields["kinds"])
    optional = (fields["distribution"], fields["version"], fields["error"], fields["requires"])
    times = files.values() if isinstance(files, dict) else [""]
    if not (
        all(isinstance(text, str) for text in texts)
        and all(text is None or isinstance(text, str) for text in optional)
        and all(isinstance(flag, bool) for flag in (eager, fields["incompatible"]))
        and all(mtime is None or type(mtime) is int for mtime in times)
    ):
        raise ValueError(f"not a cached plugin: {item!r}")
    return Cached(Plugin(**fields), eager, files)
