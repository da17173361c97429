"""Loading the config file, ``waypoint.hcl`` or ``waypoint.hcl.json``, into a :class:`Project`.

Loading takes three steps. *Reading* (:mod:`.reader`) turns the file into a tree of attributes
and blocks, each with its line. The *document* step here checks the tree's shape (the keys and
blocks each body holds, labels, duplicates, expressions) and turns it into plain values shaped
like a :class:`Project`, noting what was written where. *Structuring* by the one converter
turns those values into a :class:`Project`: its classes (:mod:`.project`), and the status
policy, check them, and each problem's path (``apps[web].status.timeout``) leads back to the
line it was written on.
"""

from __future__ import annotations

import graphlib
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final, final

import attrs

from ..errors import ConfigFileError
from ..model.aggregate import OPTIONS, inherit_options
from ..model.codec import MISFITS, Problem, converter, problems
from ..model.collector import paused
from ..model.limits import ReportLimits
from .direct import build
from .project import HELP, Maintenance, Notify, PluginPin, Project, StatusSettings
from .reader import Attribute, Block, Body, Cache, Shape, decode, read_hcl, read_json

__all__ = ["CONFIG_NAMES", "MAX_CONFIG_BYTES", "find_config", "load_config"]

#: How big a config file may be (DESIGN §13). Checked before the file is read, so no file
#: can set it: a configuration is a few kilobytes, and parsing takes about 200 times the
#: file's size in memory.
MAX_CONFIG_BYTES: Final = 10 * 1024 * 1024
#: The files :func:`find_config` looks for, in order.
CONFIG_NAMES: Final = ("waypoint.hcl", "waypoint.hcl.json")


def find_config(directory: Path) -> Path:
    """``directory``'s ``waypoint.hcl``, else its ``waypoint.hcl.json``."""
    for name in CONFIG_NAMES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    raise ConfigFileError(
        directory / CONFIG_NAMES[0],
        None,
        f"no such file, nor {CONFIG_NAMES[1]}; create one, or name another with --config PATH",
    )


def load_config(path: Path, cache_dir: Path | None = None) -> Project:
    """Read and validate the config file at ``path`` (HCL, or HCL JSON if it ends in ``.json``).

    With ``cache_dir``, what reading an HCL file produced is kept there, so that an unchanged
    file is not parsed again by the next run; only a valid file's is kept.
    """
    absolute = path.resolve()
    try:
        with open(path, "rb") as file:
            stat = os.fstat(file.fileno())
            # One byte more than the limit tells a file over it, however big it is (or says
            # it is: a pipe or /dev/zero has no size), without reading it.
            data = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigFileError(
            path, None, f"cannot read the config file: {exc.strerror or exc}"
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigFileError(
            path,
            None,
            f"the file is over {MAX_CONFIG_BYTES // (1024 * 1024)} MiB, the most a config file "
            "may be; is it the right file?",
        )
    text = decode(path, data)
    # The parse tree and the rule tree are millions of objects for a big config, and the
    # checked document and the project thousands: a collection while they are made walks
    # them again and again, and, once they fill a collection of the oldest generation, all
    # else the process holds too (a read of 5,000 apps cost more per app than one of 1,000).
    with paused():
        if path.name.endswith(".json"):
            return _Document(path).project(absolute, read_json(path, text, _TOP))
        cache = None
        if cache_dir is not None:
            cache = Cache(cache_dir, absolute, stat.st_size, stat.st_mtime_ns, data)
        body = cache.load() if cache is not None else None
        if body is not None:
            return _Document(path).project(absolute, body)
        body = read_hcl(path, text)
        project = _Document(path).project(absolute, body)
        if cache is not None:
            cache.store(body)
        return project


# --- the shape of the file ----------------------------------------------------------------

# The fields of StatusSettings whose values a status block writes as keys of its own.
_NESTED: Final = ("policy", "limits")
_LIMIT_KEYS: Final = tuple(field.name for field in attrs.fields(ReportLimits))
_STATUS_KEYS: Final = (
    "policy",
    *(field.name for field in attrs.fields(StatusSettings) if field.name not in _NESTED),
    *_LIMIT_KEYS,
    *OPTIONS,
)
_POLICY_KEYS: Final = frozenset(("policy", *OPTIONS))
#: The field each of those keys belongs to.
_NESTED_KEYS: Final = {
    **dict.fromkeys(_POLICY_KEYS, "policy"),
    **dict.fromkeys(_LIMIT_KEYS, "limits"),
}
_SETTINGS: Final = Shape(attributes=None)
_COMPONENT: Final = Shape(blocks={"use": (1, _SETTINGS)})
_STATUS: Final = Shape(attributes=_STATUS_KEYS)
# build and registry are inside app, where real Waypoint files have them.
_APP: Final = Shape(
    attributes=("isolate", "depends_on"),
    blocks={
        "deploy": (0, _COMPONENT),
        "release": (0, _COMPONENT),
        "status": (0, _STATUS),
        "build": (0, None),
        "registry": (0, None),
    },
)


def _written_keys(cls: type[Notify] | type[Maintenance] | type[PluginPin]) -> tuple[str, ...]:
    """The fields of a labelled block written as its attributes: all but the label, the line
    and the ``use`` block."""
    return tuple(f.name for f in attrs.fields(cls) if f.name not in ("name", "line", "use"))


_NOTIFY: Final = Shape(attributes=_written_keys(Notify), blocks={"use": (1, _SETTINGS)})
_MAINTENANCE: Final = Shape(attributes=_written_keys(Maintenance))
_PLUGIN: Final = Shape(attributes=_written_keys(PluginPin))
_TOP: Final = Shape(
    attributes=("project",),
    blocks={
        "status": (0, _STATUS),
        "app": (1, _APP),
        "notify": (1, _NOTIFY),
        "maintenance": (1, _MAINTENANCE),
        "plugin": (1, _PLUGIN),
    },
)
#: What a problem's first step is about, as its message names it: ``app "web": ...``.
_OWNERS: Final = {
    ".apps": "app",
    ".notify": "notify",
    ".maintenance": "maintenance",
    ".plugins": "plugin",
}

# A template sequence, escaped (doubled) or not; tried left to right as HCL's scanner does.
_TEMPLATE: Final = re.compile(r"\$\$\{|%%\{|\$\{|%\{")
#: How much of an expression a message quotes.
_QUOTED: Final = 80


def _literal(value: Any) -> Any:
    """``value`` with template escapes resolved; a ValueError if it holds an expression.

    Waypoint files may use variables, functions and interpolation; this framework evaluates
    none, and passing ``"${var.dir}"`` on to a plugin as a directory name would be worse
    than saying so. python-hcl2 writes every expression that is not a literal as ``"${...}"``.
    """
    if isinstance(value, str):
        return _TEMPLATE.sub(_unescape, value)
    if isinstance(value, list):
        return [_literal(item) for item in value]
    if isinstance(value, dict):
        return {_literal(key): _literal(item) for key, item in value.items()}
    return value


def _unescape(match: re.Match[str]) -> str:
    sequence = match.group()
    if len(sequence) == 3:
        return sequence[1:]
    # Only the expression is quoted: the text around it may be a secret (DESIGN §13).
    expression = "".join(match.string[match.start() :].partition("}")[:2])[:_QUOTED]
    raise ValueError(
        f'holds the expression "{expression}"; variables, functions and interpolation are not '
        f'supported, so write the value itself (a literal "{sequence}" is written "'
        f'{sequence[0]}{sequence}")'
    )


def _allowed(name: str, allowed: list[str]) -> str:
    import difflib  # only a config in error needs it

    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f'; did you mean "{close[0]}"? Allowed: ' if close else "; allowed: "
    return hint + ", ".join(allowed)


@final
class _Members:
    """A body's attributes, values checked, and its blocks by type, each in file order."""

    __slots__ = ("attributes", "blocks")

    def __init__(self) -> None:
        self.attributes: dict[str, Attribute] = {}
        self.blocks: dict[str, list[Block]] = {}


def _inherited(project: Mapping[str, Attribute], app: Mapping[str, Attribute]) -> dict[str, Any]:
    """The status keys an app's block sets over the project's: settings key by key, the policy
    and its options as the policy says (``inherit_options``)."""
    merged = {name: item for name, item in project.items() if name not in _POLICY_KEYS}
    merged |= {name: item for name, item in app.items() if name not in _POLICY_KEYS}
    policy = inherit_options(
        {name: item.value for name, item in project.items() if name in _POLICY_KEYS},
        {name: item.value for name, item in app.items() if name in _POLICY_KEYS},
    )
    return merged | {name: app.get(name) or project[name] for name in policy}


# --- the document, and its problems at their lines ------------------------------------------


@final
class _Document:
    """Turns a read file's tree into a :class:`Project`, or a ConfigFileError at its line."""

    def __init__(self, path: Path) -> None:
        self._path = path
        #: What was written at each path of the document: an attribute, or a block.
        self._written: dict[tuple[str, ...], Attribute | Block] = {}

    def _error(self, line: int | None, message: str) -> ConfigFileError:
        return ConfigFileError(self._path, line, message)

    def project(self, absolute: Path, body: Body) -> Project:
        members = self._members(body, "", "at the top level", _TOP)
        name = members.attributes.get("project")
        if name is None:
            raise self._error(None, 'the project has no name; add project = "NAME" at the top')
        self._note((".name",), name)
        status = self._status_keys(members, "")
        document = {
            "path": absolute,
            "name": name.value,
            "status": self._status((".status",), status),
            "apps": self._labelled(
                members, "app", "the app's name", lambda block, app: self._app(block, app, status)
            ),
            "notify": self._labelled(members, "notify", "the notify block's name", self._notify),
            "maintenance": self._labelled(
                members, "maintenance", "the maintenance block's name", self._maintenance
            ),
            "plugins": self._labelled(members, "plugin", "the plugin's name", self._plugin),
        }
        project = build(document)
        if project is None:  # the converter says what does not fit, and where
            try:
                project = converter.structure(document, Project)
            except MISFITS as exc:
                found = list(problems(exc))
                raise self._problem(min(found, key=self._order)) from None
        self._check_references(project)
        return project

    def _check_references(self, project: Project) -> None:
        """Every app named in ``depends_on``, ``notify`` and ``maintenance`` is an app of the
        file, and no app depends on itself, however indirectly."""
        named = [
            ((".apps", f"[{app.name}]", ".depends_on"), f'app "{app.name}": ', app.depends_on)
            for app in project.apps.values()
        ]
        for owner, blocks in (("notify", project.notify), ("maintenance", project.maintenance)):
            named += [
                ((f".{owner}", f"[{name}]", ".apps"), f'{owner} "{name}": ', block.apps or ())
                for name, block in blocks.items()
            ]
        known = list(project.apps)
        for steps, prefix, apps in named:
            for app in apps:
                if app not in project.apps:
                    key = steps[-1][1:]
                    raise self._error(
                        self._written[steps].line,
                        f'{prefix}{key}: no app "{app}" in this file{_allowed(app, known)}',
                    )
        graph = {app.name: app.depends_on for app in project.apps.values()}
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            # Each app of the cycle is a dependency of the next: reversed, each depends on the
            # next; told from the app written first.
            cycle: list[str] = exc.args[1][:0:-1]
            first = cycle.index(min(cycle, key=known.index))
            path = [*cycle[first:], *cycle[:first], cycle[first]]
            raise self._error(
                self._written[(".apps", f"[{path[0]}]", ".depends_on")].line,
                f'app "{path[0]}": depends_on makes a cycle: {" → ".join(path)}; an app cannot '
                "wait for itself, so remove one of these dependencies",
            ) from None

    def _labelled(
        self,
        members: _Members,
        kind: str,
        what: str,
        read: Callable[[Block, str], dict[str, Any]],
    ) -> dict[str, dict[str, Any]]:
        """Each ``kind "NAME"`` block, read, by its name (``what`` the label is); a name given
        twice is an error."""
        found: dict[str, dict[str, Any]] = {}
        for block in members.blocks.get(kind, ()):
            name = self._label(block, "", what, "NAME")
            earlier = found.get(name)
            if earlier is not None:
                raise self._error(
                    block.line,
                    f'{kind} "{name}" is defined twice (first on line {earlier["line"]}); '
                    "rename one, or merge them",
                )
            found[name] = read(block, name)
        return found

    def _note(self, steps: tuple[str, ...], written: Attribute | Block) -> None:
        self._written[steps] = written

    def _members(self, body: Body, prefix: str, where: str, shape: Shape) -> _Members:
        allowed = shape.names
        members = _Members()
        for item in body:
            if item.name not in allowed:
                raise self._error(
                    item.line,
                    f'{prefix}unknown key "{item.name}" {where}{_allowed(item.name, allowed)}',
                )
            if isinstance(item, Attribute) and item.name in shape.blocks:
                raise self._error(
                    item.line,
                    f'{prefix}"{item.name}" is a block, not an attribute; '
                    f"write {item.name} {{ ... }}",
                )
            if isinstance(item, Block):
                if item.name not in shape.blocks:
                    raise self._error(
                        item.line,
                        f'{prefix}"{item.name}" is an attribute, not a block; '
                        f"write {item.name} = VALUE",
                    )
                members.blocks.setdefault(item.name, []).append(item)
            else:
                members.attributes[item.name] = self._attribute(members.attributes, item, prefix)
        return members

    def _once(self, found: Mapping[str, Attribute], item: Attribute | Block, prefix: str) -> None:
        earlier = found.get(item.name)
        if earlier is not None:
            raise self._error(
                item.line,
                f'{prefix}"{item.name}" is set twice (first on line {earlier.line}); keep one',
            )

    def _attribute(
        self, found: Mapping[str, Attribute], attribute: Attribute, prefix: str
    ) -> Attribute:
        self._once(found, attribute, prefix)
        try:
            value = _literal(attribute.value)
        except ValueError as exc:
            raise self._error(attribute.line, f"{prefix}{attribute.name}: {exc}") from None
        # Most values are kept as written (re.sub gives back the very string it found nothing in).
        return (
            attribute
            if value is attribute.value
            else Attribute(attribute.name, value, attribute.line)
        )

    def _single(self, members: _Members, name: str, prefix: str) -> Block | None:
        """The one ``name`` block of a body, if any; it takes no label."""
        blocks = members.blocks.get(name, [])
        if len(blocks) > 1:
            raise self._error(
                blocks[1].line,
                f"{prefix}a second {name} block (the first is on line {blocks[0].line}); "
                "there can be one, so merge them",
            )
        if not blocks:
            return None
        if blocks[0].labels:
            raise self._error(
                blocks[0].line, f"{prefix}a {name} block takes no label; write {name} {{ ... }}"
            )
        return blocks[0]

    def _label(self, block: Block, prefix: str, what: str, placeholder: str) -> str:
        """The one label of ``block``, ``what`` it names."""
        if len(block.labels) != 1:
            raise self._error(
                block.line,
                f"{prefix}{block.name} blocks take one label, {what}: "
                f'{block.name} "{placeholder}" {{ ... }}',
            )
        return block.labels[0]

    def _status_keys(self, members: _Members, prefix: str) -> dict[str, Attribute]:
        """The keys of a body's status block, if it has one."""
        block = self._single(members, "status", prefix)
        if block is None:
            return {}
        return self._members(block.body, prefix, "in the status block", _STATUS).attributes

    def _status(self, at: tuple[str, ...], keys: Mapping[str, Attribute]) -> dict[str, Any]:
        """A status block's keys as :class:`StatusSettings` holds them: the policy's and the
        limits' gathered under ``policy`` and ``limits``."""
        status: dict[str, Any] = {}
        for name, item in keys.items():
            field = _NESTED_KEYS.get(name)
            if field is None:
                status[name] = item.value
                self._note((*at, f".{name}"), item)
            else:
                status.setdefault(field, {})[name] = item.value
                self._note((*at, f".{field}", f".{name}"), item)
        return status

    def _app(self, block: Block, name: str, project: Mapping[str, Attribute]) -> dict[str, Any]:
        prefix = f'app "{name}": '
        at = (".apps", f"[{name}]")
        self._note((*at, ".name"), block)
        members = self._members(block.body, prefix, "in the app block", _APP)
        deploy = self._single(members, "deploy", prefix)
        if deploy is None:
            raise self._error(
                block.line,
                f'{prefix}no deploy block; add one: deploy {{ use "PLUGIN" {{ ... }} }}',
            )
        release = self._single(members, "release", prefix)
        own = self._status_keys(members, prefix)
        if "concurrency" in own:
            # Checks of all the named apps share one pool: a per-app limit would not mean
            # anything, and silently ignoring it would mean something else than it says.
            raise self._error(
                own["concurrency"].line,
                f"{prefix}concurrency applies to the whole run; set it in the project's status "
                "block, or pass --concurrency",
            )
        return {
            "name": name,
            "line": block.line,
            "deploy": self._use(deploy, prefix),
            "release": self._use(release, prefix) if release is not None else None,
            "status": self._status((*at, ".status"), _inherited(project, own)),
            **self._values(at, members),
        }

    def _notify(self, block: Block, name: str) -> dict[str, Any]:
        prefix = f'notify "{name}": '
        at = (".notify", f"[{name}]")
        self._note(at, block)
        members = self._members(block.body, prefix, "in the notify block", _NOTIFY)
        use = self._one_use(block, members, prefix, "notify")
        settings = self._settings(use, prefix)
        return {"name": name, "line": block.line, "use": settings, **self._values(at, members)}

    def _maintenance(self, block: Block, name: str) -> dict[str, Any]:
        return self._attributes_only(block, name, "maintenance", _MAINTENANCE)

    def _plugin(self, block: Block, name: str) -> dict[str, Any]:
        return self._attributes_only(block, name, "plugin", _PLUGIN)

    def _attributes_only(self, block: Block, name: str, kind: str, shape: Shape) -> dict[str, Any]:
        """A labelled block that holds attributes only (``maintenance``, ``plugin``)."""
        at = (f".{'plugins' if kind == 'plugin' else kind}", f"[{name}]")
        self._note(at, block)
        members = self._members(block.body, f'{kind} "{name}": ', f"in the {kind} block", shape)
        return {"name": name, "line": block.line, **self._values(at, members)}

    def _values(self, at: tuple[str, ...], members: _Members) -> dict[str, Any]:
        """A block's own attributes as its class takes them, each noted where it is written."""
        for name, item in members.attributes.items():
            self._note((*at, f".{name}"), item)
        return {name: item.value for name, item in members.attributes.items()}

    def _use(self, component: Block, prefix: str) -> dict[str, Any]:
        """The one ``use`` block of a component's block (``deploy``, ``release``)."""
        kind = component.name
        where = f"in the {kind} block"
        members = self._members(component.body, prefix, where, _COMPONENT)
        use = self._one_use(component, members, prefix, kind)
        return self._settings(use, f"{prefix}{kind}: ")

    def _one_use(self, block: Block, members: _Members, prefix: str, kind: str) -> Block:
        uses = members.blocks.get("use", [])
        if not uses:
            raise self._error(
                block.line,
                f'{prefix}the {kind} block uses no plugin; add use "PLUGIN" {{ ... }} inside it',
            )
        if len(uses) > 1:
            raise self._error(
                uses[1].line,
                f"{prefix}a second use block in the {kind} block (the first is on line "
                f"{uses[0].line}); a {kind} block uses one plugin, so keep one",
            )
        return uses[0]

    def _settings(self, use: Block, prefix: str) -> dict[str, Any]:
        """A ``use`` block as :class:`Use` takes it; ``prefix`` says where it is."""
        plugin = self._label(use, prefix, "the plugin's name", "PLUGIN")
        lines: dict[str, int] = {}
        return {
            "plugin": plugin,
            "config": self._plugin_settings(use.body, f'{prefix}use "{plugin}": ', lines),
            "line": use.line,
            "lines": lines,
        }

    def _plugin_settings(
        self, body: Body, where: str, lines: dict[str, int], path: str = ""
    ) -> dict[str, Any]:
        """A plugin's settings, or a block's among them, as plain values; the line of each
        goes into ``lines`` under its path (``healthcheck.interval``).

        A block without a label is the object value it holds: ``healthcheck { ... }`` means
        ``healthcheck = { ... }``, as in HCL JSON, which writes both alike.
        """
        settings: dict[str, Attribute] = {}
        for item in body:
            if isinstance(item, Attribute):
                settings[item.name] = self._attribute(settings, item, where)
            elif item.labels:
                raise self._error(
                    item.line,
                    f"{where}a {item.name} block in plugin settings takes no label; "
                    f"write {item.name} {{ ... }}",
                )
            else:
                self._once(settings, item, where)
                inner = f"{path}{item.name}."
                value = self._plugin_settings(item.body, f"{where}{item.name}: ", lines, inner)
                settings[item.name] = Attribute(item.name, value, item.line)
            lines[path + item.name] = item.line
        return {name: item.value for name, item in settings.items()}

    def _at(self, problem: Problem) -> Attribute | Block | None:
        """What was written where ``problem`` is, or around it."""
        for end in range(len(problem.steps), 0, -1):
            item = self._written.get(problem.steps[:end])
            if item is not None:
                return item
        return None

    def _order(self, problem: Problem) -> tuple[bool, int]:
        # The first in the file first; those without a line last.
        item = self._at(problem)
        return (item is None, item.line if item is not None else 0)

    def _problem(self, problem: Problem) -> ConfigFileError:
        item = self._at(problem)
        steps = problem.steps
        owner = _OWNERS.get(steps[0]) if len(steps) > 2 else None
        prefix = f'{owner} "{steps[1][1:-1]}": ' if owner is not None else ""
        key = next((step[1:] for step in reversed(steps) if step.startswith(".")), "")
        explained = problem.field.metadata.get(HELP) if problem.field is not None else None
        if explained is not None:
            got = f"; got {item.value!r}" if isinstance(item, Attribute) else ""
            message = explained + got
        elif re.search(rf"(?<!\w){re.escape(key)}(?!\w)", problem.message):
            # The checks of the framework's own keys name the key: "interval must be ...".
            message = problem.message
        else:
            message = f"{key}: {problem.message}"
        return self._error(item.line if item is not None else None, prefix + message)
