"""Loading and validating ``waypoint.hcl`` (or ``waypoint.hcl.json``): the project and its apps.

A file is read in two steps. *Reading* turns HCL native syntax, or HCL JSON, into the same
neutral tree of attributes and blocks, each with its line; this is the slow part for HCL, so its
result is cached. *Validation* turns that tree into a :class:`Project`, naming the file, the
line and what to fix for anything wrong.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import itertools
import json
import os
import re
import tempfile
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from ._aggregate import DEFAULT_POLICY, Policy
from ._duration import parse_duration
from ._errors import ConfigError, PluginError, StructureError
from ._plugins import PluginManager

if TYPE_CHECKING:
    from hcl2.rules.base import BodyRule
    from hcl2.utils import SerializationOptions
    from lark import Tree
    from lark.exceptions import UnexpectedInput

__all__ = [
    "CONFIG_NAMES",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_INTERVAL",
    "DEFAULT_KEEP",
    "DEFAULT_TIMEOUT",
    "App",
    "ConfigFileError",
    "Project",
    "StatusSettings",
    "Use",
    "check_plugins",
    "find_config",
    "load_config",
    "parse_duration",
]

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_CONCURRENCY: Final = 16
DEFAULT_INTERVAL: Final = 300.0
#: Reports kept per deployment or release: a state checked every 5 minutes for a year stays
#: well under this many rows per target only if old ones go.
DEFAULT_KEEP: Final = 1000
#: The files :func:`find_config` looks for, in order.
CONFIG_NAMES: Final = ("waypoint.hcl", "waypoint.hcl.json")

# The options that only one policy understands (Policy.from_options knows which).
_POLICY_OPTIONS: Final = ("order", "ready_fraction", "min_ready")
# Two ways of saying one thing: how many resources must be READY.
_THRESHOLD_OPTIONS: Final = ("ready_fraction", "min_ready")
_OPTIONS: Final = (*_POLICY_OPTIONS, "ignore", "top_level_only")
_STATUS_KEYS: Final = ("policy", "timeout", "concurrency", "interval", "keep", *_OPTIONS)
# What each component block's plugin must implement, and the hooks its config is given to.
_COMPONENTS: Final = {
    "deploy": (
        "platform",
        ("platform_deploy_func", "platform_status_func", "platform_destroy_func"),
    ),
    "release": (
        "release manager",
        (
            "release_manager_release_func",
            "release_manager_status_func",
            "release_manager_destroy_func",
        ),
    ),
}
# Bump when the cached form of a read file changes, so that older entries are not trusted.
_CACHE_FORMAT: Final = 1


class ConfigFileError(Exception):
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


@final
@attrs.frozen
class StatusSettings:
    """How an app's status is checked: the policy, and the runner's limits."""

    policy: Policy = DEFAULT_POLICY
    #: Seconds one check may take.
    timeout: float = DEFAULT_TIMEOUT
    #: How many checks run at a time (at least 1).
    concurrency: int = DEFAULT_CONCURRENCY
    #: Seconds between checks with ``--watch``; a stored report older than this is stale.
    interval: float = DEFAULT_INTERVAL
    #: How many reports of each deployment and release the state keeps, newest first.
    keep: int = DEFAULT_KEEP


@final
@attrs.frozen
class Use:
    """A ``use "PLUGIN" { ... }`` block: the plugin a component runs, and its config."""

    plugin: str
    #: Plain values (str, int, float, bool, None, lists and dicts of them), as written.
    config: Mapping[str, Any]
    # Where it is written is not what it means: an HCL file and its JSON twin compare equal.
    line: int | None = attrs.field(eq=False)


@final
@attrs.frozen
class App:
    name: str
    line: int | None = attrs.field(eq=False)
    deploy: Use
    release: Use | None
    #: The project's status settings, overridden key by key by the app's ``status`` block.
    status: StatusSettings
    #: Run this app's plugin calls in a subprocess of their own, so that a plugin that
    #: crashes the interpreter takes only its own report down.
    isolate: bool = False


@final
@attrs.frozen
class Project:
    #: The config file, absolute.
    path: Path
    name: str
    status: StatusSettings
    #: In file order.
    apps: Mapping[str, App]


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
            data = file.read()
    except OSError as exc:
        raise ConfigFileError(
            path, None, f"cannot read the config file: {exc.strerror or exc}"
        ) from None
    text = _decode(path, data)
    if path.name.endswith(".json"):
        return _Validator(path).project(absolute, _read_json(path, text))
    cache = None
    if cache_dir is not None:
        cache = _Cache(cache_dir, absolute, stat.st_size, stat.st_mtime_ns, data)
    body = cache.load() if cache is not None else None
    if body is not None:
        return _Validator(path).project(absolute, body)
    body = _read_hcl(path, text)
    project = _Validator(path).project(absolute, body)
    if cache is not None:
        cache.store(body)
    return project


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(
            path,
            data.count(b"\n", 0, exc.start) + 1,
            "the file is not UTF-8 text; save it as UTF-8",
        ) from None


# --- reading: HCL or HCL JSON into one neutral tree ---------------------------------------


@final
@attrs.frozen
class _Attribute:
    name: str
    #: As written: strings may still hold template sequences ("${"), checked in validation.
    value: Any
    line: int


@final
@attrs.frozen
class _Block:
    name: str
    labels: tuple[str, ...]
    body: tuple[_Attribute | _Block, ...]
    line: int


_Body = tuple[_Attribute | _Block, ...]


_SERIALIZATION: Final = {
    "with_comments": False,
    "explicit_blocks": True,
    # Values as a plugin wants them: heredocs and quoted strings as plain strings, 1e3 as a
    # number (kept as written, it would be the expression "${1e3}").
    "preserve_heredocs": False,
    "preserve_scientific_notation": False,
    "strip_string_quotes": True,
}


def _read_hcl(path: Path, text: str) -> _Body:
    # Imported here: hcl2 and lark take longer to import than the rest of a run's start-up,
    # and --help, --version and a cached config do without them.
    import hcl2
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        # Not hcl2.loads: its with_meta option gives no lines (python-hcl2 8.1.4), and it keeps
        # only the last of two same-named attributes. The raw lark tree, whose nodes carry
        # lines, is walked in step with hcl2's rule tree, whose values serialize as loads's.
        tree = hcl2.parses_to_tree(text)
        rules = hcl2.transform(tree, discard_comments=True)
        reader = _HclReader(path, hcl2.SerializationOptions(**_SERIALIZATION))
        return reader.body(tree.children[0], rules.body)
    except UnexpectedInput as exc:
        # An unexpected end of file may have no line (-1): it is on the last one.
        line = exc.line if exc.line > 0 else text.count("\n") + 1
        raise ConfigFileError(path, line, _syntax_message(exc)) from None
    except (LarkError, RuntimeError) as exc:  # hcl2's serializer raises RuntimeError too
        raise ConfigFileError(path, None, f"syntax error: {exc}") from None


def _syntax_message(exc: UnexpectedInput) -> str:
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        # The lexer may take the rest of a line, and more, as one token: show its first line.
        found = str(exc.token).split("\n", 1)[0].strip()
    elif isinstance(exc, UnexpectedCharacters):
        found = exc.char
    else:
        return "syntax error: unexpected end of file; close the block, string or bracket left open"
    shown = f'"{found}"' if found else "end of line"
    return (
        f"syntax error at column {exc.column}: unexpected {shown}; "
        'write attributes as NAME = VALUE and blocks as NAME "LABEL" { ... }'
    )


_ITEMS: Final = ("attribute", "block")


@final
class _HclReader:
    """Walks the raw lark tree (lines) in step with hcl2's rule tree (values)."""

    def __init__(self, path: Path, options: SerializationOptions) -> None:
        self._path = path
        self._options = options

    def body(
        self, tree: Tree[Any], rules: BodyRule, braces: tuple[int, int] | None = None
    ) -> _Body:
        """``tree``'s items; ``braces``: the lines of its ``{`` and ``}``, if it is a block's."""
        from lark import Token, Tree

        nodes = [c for c in tree.children if isinstance(c, Tree) and c.data in _ITEMS]
        items = [c for c in rules.children if c.lark_name() in _ITEMS]
        self._check_layout(nodes, braces)
        body: list[_Attribute | _Block] = []
        for node, rule in zip(nodes, items, strict=True):
            if node.data == "attribute":
                name = rule.identifier.serialize(self._options)
                value = rule.expression.serialize(self._options)
                body.append(_Attribute(name, value, node.meta.line))
                continue
            name, *labels = (label.serialize(self._options) for label in rule.labels)
            inner = next(c for c in node.children if isinstance(c, Tree) and c.data == "body")
            opening = next(
                c.line for c in node.children if isinstance(c, Token) and c.type == "LBRACE"
            )
            # The parser gives every token a line; the fallback is for the type checker.
            braces = (opening or node.meta.line, node.meta.end_line)
            block_body = self.body(inner, rule.body, braces)
            body.append(_Block(name, tuple(labels), block_body, node.meta.line))
        return tuple(body)

    def _check_layout(self, nodes: list[Tree[Any]], braces: tuple[int, int] | None) -> None:
        # python-hcl2's grammar accepts layouts that HashiCorp's parser, and so Waypoint,
        # rejects: the file must mean the same to both.
        for before, after in itertools.pairwise(nodes):
            if after.meta.line <= _last_line(before):
                raise ConfigFileError(
                    self._path,
                    after.meta.line,
                    "syntax error: put each attribute and block on a line of its own",
                )
        if braces is None or not nodes:
            return
        opening, closing = braces
        first, last = nodes[0], nodes[-1]
        if first.meta.line == opening:
            if len(nodes) > 1 or first.data != "attribute" or closing != _last_line(first):
                raise ConfigFileError(
                    self._path,
                    opening,
                    "syntax error: a one-line block holds one attribute at most and no "
                    "block; start its content on the line after the {",
                )
        elif closing == _last_line(last):
            raise ConfigFileError(
                self._path, closing, "syntax error: put the closing } on a line of its own"
            )


def _last_line(node: Tree[Any]) -> int:
    # A heredoc's token takes the newline after it: the node then ends at column 1 of the next.
    return node.meta.end_line - 1 if node.meta.end_column == 1 else node.meta.end_line


# A JSON token of text that json.loads has accepted; a string holds no raw newline there.
_JSON_TOKEN: Final = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


@final
class _JsonObject:
    """A JSON object with the line of its ``{`` and of each member; duplicate keys are kept."""

    __slots__ = ("line", "members")

    def __init__(self, line: int, members: list[tuple[str, Any, int]]) -> None:
        self.line = line
        self.members = members


@final
class _JsonReader:
    """Reads JSON again, noting lines, once :func:`json.loads` has found it valid."""

    def __init__(self, text: str) -> None:
        self._tokens: list[tuple[str, int]] = []
        line, last = 1, 0
        for match in _JSON_TOKEN.finditer(text):
            line += text.count("\n", last, match.start())
            last = match.start()
            self._tokens.append((match.group(), line))
        self._next = 0

    def value(self) -> Any:
        token, line = self._take()
        if token == "{":
            return self._object(line)
        if token == "[":
            return self._array()
        return json.loads(token)

    def _take(self) -> tuple[str, int]:
        self._next += 1
        return self._tokens[self._next - 1]

    def _object(self, line: int) -> _JsonObject:
        members: list[tuple[str, Any, int]] = []
        if self._tokens[self._next][0] == "}":
            self._next += 1
            return _JsonObject(line, members)
        while True:
            key, key_line = self._take()
            self._take()  # the ":"
            members.append((json.loads(key), self.value(), key_line))
            if self._take()[0] == "}":
                return _JsonObject(line, members)

    def _array(self) -> list[Any]:
        items: list[Any] = []
        if self._tokens[self._next][0] == "]":
            self._next += 1
            return items
        while True:
            items.append(self.value())
            if self._take()[0] == "]":
                return items


# The blocks each body may hold: the labels each takes, and the blocks of its own body (None:
# the block is ignored). HCL JSON writes a block like an object value, so only this tells them
# apart; validation allows the same blocks.
_Schema = Mapping[str, tuple[int, "_Schema | None"]]
_COMPONENT_BLOCKS: Final[_Schema] = {"use": (1, {})}
# build and registry are inside app, where real Waypoint files have them.
_APP_BLOCKS: Final[_Schema] = {
    "deploy": (0, _COMPONENT_BLOCKS),
    "release": (0, _COMPONENT_BLOCKS),
    "status": (0, {}),
    "build": (0, None),
    "registry": (0, None),
}
_TOP_BLOCKS: Final[_Schema] = {"status": (0, {}), "app": (1, _APP_BLOCKS)}


def _read_json(path: Path, text: str) -> _Body:
    try:
        parsed = json.loads(text)
        # "\ud800" is valid JSON but no text: it could be neither stored nor printed.
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        document = _JsonReader(text).value()
    except json.JSONDecodeError as exc:
        raise ConfigFileError(
            path, exc.lineno, f"JSON syntax error at column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeEncodeError:
        raise ConfigFileError(
            path, None, "a string holds a lone surrogate escape (like \\ud800); use real text"
        ) from None
    except RecursionError:
        raise ConfigFileError(
            path, None, "the JSON is nested too deeply to be a configuration"
        ) from None
    if not isinstance(document, _JsonObject):
        raise ConfigFileError(
            path, 1, 'the file must hold one JSON object: {"project": "NAME", "app": {...}}'
        )
    return _JsonBody(path).body(document, _TOP_BLOCKS)


@final
class _JsonBody:
    """Turns HCL JSON objects into the same tree as HCL native syntax gives."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def body(self, document: _JsonObject, schema: _Schema) -> _Body:
        body: list[_Attribute | _Block] = []
        for key, value, line in document.members:
            if key == "//":  # HCL JSON's comment property
                continue
            if key not in schema:
                body.append(_Attribute(key, self._value(value), line))
                continue
            count, inner = schema[key]
            for labels, content in self._blocks(key, value, count, (), line):
                block_body = self.body(content, inner) if inner is not None else ()
                body.append(_Block(key, labels, block_body, content.line))
        return tuple(body)

    def _blocks(
        self, name: str, value: object, count: int, labels: tuple[str, ...], line: int
    ) -> Iterator[tuple[tuple[str, ...], _JsonObject]]:
        # Each level, the block's own and each label's, is an object or a list of them.
        if isinstance(value, list):
            for item in value:
                yield from self._blocks(name, item, count, labels, line)
        elif not isinstance(value, _JsonObject):
            raise ConfigFileError(
                self._path, line, f'"{name}" is a block; write it as a JSON object: "{name}": {{}}'
            )
        elif len(labels) == count:
            yield labels, value
        else:
            for label, inner, inner_line in value.members:
                yield from self._blocks(name, inner, count, (*labels, label), inner_line)

    def _value(self, value: object) -> Any:
        if isinstance(value, list):
            return [self._value(item) for item in value]
        if not isinstance(value, _JsonObject):
            return value
        result: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for key, item, line in value.members:
            if key in result:
                raise ConfigFileError(
                    self._path, line, f'key "{key}" is given twice (also on line {lines[key]})'
                )
            result[key], lines[key] = self._value(item), line
        return result


# --- validation: the neutral tree into a Project -----------------------------------------

# A template sequence, escaped (doubled) or not; tried left to right as HCL's scanner does.
_TEMPLATE: Final = re.compile(r"\$\$\{|%%\{|\$\{|%\{")


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
    raise ValueError(
        f'"{match.string}" holds an expression; variables, functions and interpolation are not '
        f'supported, so write the value itself (a literal "{sequence}" is written "'
        f'{sequence[0]}{sequence}")'
    )


def _allowed(name: str, allowed: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f'; did you mean "{close[0]}"? Allowed: ' if close else "; allowed: "
    return hint + ", ".join(allowed)


@final
@attrs.frozen
class _Members:
    """A body's attributes, values checked, and its blocks by type, each in file order."""

    attributes: dict[str, _Attribute]
    blocks: dict[str, list[_Block]]


def _inherit(project: Mapping[str, Any], app: Mapping[str, Any]) -> dict[str, Any]:
    """The app's status keys over the project's, key by key."""
    inherited = dict(project)
    if app.get("policy", project.get("policy", "waypoint")) != project.get("policy", "waypoint"):
        # Another policy's options mean nothing to the app's policy.
        for option in _POLICY_OPTIONS:
            inherited.pop(option, None)
    if any(option in app for option in _THRESHOLD_OPTIONS):
        # Either form replaces the other: keeping both would contradict.
        for option in _THRESHOLD_OPTIONS:
            inherited.pop(option, None)
    return inherited | dict(app)


def _duration(name: str, value: object) -> float:
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    if seconds <= 0:
        raise ValueError(f"{name} must be longer than 0s, got {value!r}")
    return seconds


_COUNTS: Final = {
    "concurrency": "how many checks run at a time",
    "keep": "how many reports of each deployment and release are kept",
}


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} is {_COUNTS[name]}: a whole number, 1 or more; got {value!r}")
    return value


@final
class _Validator:
    """Turns a read file's tree into a :class:`Project`, or a ConfigFileError at its line."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def _error(self, line: int | None, message: str) -> ConfigFileError:
        return ConfigFileError(self._path, line, message)

    def project(self, absolute: Path, body: _Body) -> Project:
        members = self._members(body, "", "at the top level", ("project",), _TOP_BLOCKS)
        name = self._project_name(members.attributes.get("project"))
        settings, status = self._status(self._single(members, "status", ""), {}, "")
        apps: dict[str, App] = {}
        for block in members.blocks.get("app", ()):
            app = self._label(block, "", "the app's name", "NAME")
            earlier = apps.get(app)
            if earlier is not None:
                raise self._error(
                    block.line,
                    f'app "{app}" is defined twice (first on line {earlier.line}); '
                    "rename one, or merge them",
                )
            apps[app] = self._app(block, app, settings)
        if not apps:
            raise self._error(
                None, 'no app is defined; add one: app "NAME" { deploy { use "PLUGIN" { } } }'
            )
        return Project(absolute, name, status, apps)

    def _project_name(self, attribute: _Attribute | None) -> str:
        if attribute is None:
            raise self._error(None, 'the project has no name; add project = "NAME" at the top')
        if not isinstance(attribute.value, str) or not attribute.value:
            raise self._error(
                attribute.line,
                f'project must be the project\'s name, a string: project = "NAME"; '
                f"got {attribute.value!r}",
            )
        return attribute.value

    def _members(
        self,
        body: _Body,
        prefix: str,
        where: str,
        attributes: Sequence[str],
        blocks: Collection[str],
    ) -> _Members:
        allowed = [*attributes, *blocks]
        members = _Members({}, {})
        for item in body:
            if item.name not in allowed:
                raise self._error(
                    item.line,
                    f'{prefix}unknown key "{item.name}" {where}{_allowed(item.name, allowed)}',
                )
            if isinstance(item, _Attribute) and item.name in blocks:
                raise self._error(
                    item.line,
                    f'{prefix}"{item.name}" is a block, not an attribute; '
                    f"write {item.name} {{ ... }}",
                )
            if isinstance(item, _Block):
                if item.name in attributes:
                    raise self._error(
                        item.line,
                        f'{prefix}"{item.name}" is an attribute, not a block; '
                        f"write {item.name} = VALUE",
                    )
                members.blocks.setdefault(item.name, []).append(item)
            else:
                members.attributes[item.name] = self._attribute(members.attributes, item, prefix)
        return members

    def _attribute(
        self, found: Mapping[str, _Attribute], attribute: _Attribute, prefix: str
    ) -> _Attribute:
        earlier = found.get(attribute.name)
        if earlier is not None:
            raise self._error(
                attribute.line,
                f'{prefix}"{attribute.name}" is set twice (first on line {earlier.line}); keep one',
            )
        try:
            value = _literal(attribute.value)
        except ValueError as exc:
            raise self._error(attribute.line, f"{prefix}{attribute.name}: {exc}") from None
        return attrs.evolve(attribute, value=value)

    def _single(self, members: _Members, name: str, prefix: str) -> _Block | None:
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

    def _label(self, block: _Block, prefix: str, what: str, placeholder: str) -> str:
        """The one label of ``block``, ``what`` it names."""
        if len(block.labels) != 1:
            raise self._error(
                block.line,
                f"{prefix}{block.name} blocks take one label, {what}: "
                f'{block.name} "{placeholder}" {{ ... }}',
            )
        return block.labels[0]

    def _app(self, block: _Block, name: str, project_status: Mapping[str, Any]) -> App:
        prefix = f'app "{name}": '
        members = self._members(block.body, prefix, "in the app block", ("isolate",), _APP_BLOCKS)
        deploy = self._single(members, "deploy", prefix)
        if deploy is None:
            raise self._error(
                block.line,
                f'{prefix}no deploy block; add one: deploy {{ use "PLUGIN" {{ ... }} }}',
            )
        release = self._single(members, "release", prefix)
        status_block = self._single(members, "status", prefix)
        _, status = self._status(status_block, project_status, prefix)
        own = {item.name: item for item in status_block.body} if status_block else {}
        if "concurrency" in own:
            # Checks of all the named apps share one pool: a per-app limit would not mean
            # anything, and silently ignoring it would mislead.
            raise self._error(
                own["concurrency"].line,
                f"{prefix}concurrency applies to the whole run; set it in the project's status "
                "block, or pass --concurrency",
            )
        return App(
            name,
            block.line,
            self._use(deploy, prefix),
            self._use(release, prefix) if release is not None else None,
            status,
            self._isolate(members, prefix),
        )

    def _isolate(self, members: _Members, prefix: str) -> bool:
        attribute = members.attributes.get("isolate")
        if attribute is None:
            return False
        if not isinstance(attribute.value, bool):
            raise self._error(
                attribute.line,
                f"{prefix}isolate is true or false (run this app's plugins in a process of "
                f"their own); got {attribute.value!r}",
            )
        return attribute.value

    def _use(self, component: _Block, prefix: str) -> Use:
        kind = component.name
        where = f"in the {kind} block"
        uses = self._members(component.body, prefix, where, (), ("use",)).blocks.get("use", [])
        if not uses:
            raise self._error(
                component.line,
                f'{prefix}the {kind} block uses no plugin; add use "PLUGIN" {{ ... }} inside it',
            )
        if len(uses) > 1:
            raise self._error(
                uses[1].line,
                f"{prefix}a second use block in the {kind} block (the first is on line "
                f"{uses[0].line}); a {kind} block uses one plugin, so keep one",
            )
        use = uses[0]
        plugin = self._label(use, f"{prefix}{kind}: ", "the plugin's name", "PLUGIN")
        config: dict[str, _Attribute] = {}
        for item in use.body:
            if isinstance(item, _Block):
                raise self._error(
                    item.line,
                    f'{prefix}{kind}: use "{plugin}": blocks are not supported in plugin '
                    f"settings; write {item.name} = {{ ... }}",
                )
            config[item.name] = self._attribute(config, item, f'{prefix}{kind}: use "{plugin}": ')
        return Use(plugin, {name: item.value for name, item in config.items()}, use.line)

    def _status(
        self, block: _Block | None, inherited: Mapping[str, Any], prefix: str
    ) -> tuple[dict[str, Any], StatusSettings]:
        """The keys a status block sets over ``inherited``, and the settings they make."""
        own: dict[str, _Attribute] = {}
        if block is not None:
            where = "in the status block"
            own = self._members(block.body, prefix, where, _STATUS_KEYS, ()).attributes
        values = _inherit(inherited, {name: item.value for name, item in own.items()})
        policy = values.get("policy", "waypoint")
        # Key by key first, so that an error points at its line; policy first, as the
        # options depend on it.
        for name in sorted(own, key=lambda name: name != "policy"):
            try:
                values[name] = _status_value(name, values[name], policy)
            except (ValueError, TypeError) as exc:
                raise self._error(own[name].line, f"{prefix}{_said(exc)}") from None
        if all(option in values for option in _THRESHOLD_OPTIONS):
            later = max((own[option] for option in _THRESHOLD_OPTIONS), key=lambda a: a.line)
            raise self._error(
                later.line,
                f"{prefix}ready_fraction and min_ready exclude each other: both say how many "
                "resources must be READY; keep one",
            )
        options = {name: values[name] for name in values if name in _OPTIONS}
        try:
            checked = Policy.from_options(policy, **options)
        except (ValueError, TypeError) as exc:
            line = block.line if block is not None else None
            raise self._error(line, f"{prefix}{_said(exc)}") from None
        settings = StatusSettings(
            checked,
            values.get("timeout", DEFAULT_TIMEOUT),
            values.get("concurrency", DEFAULT_CONCURRENCY),
            values.get("interval", DEFAULT_INTERVAL),
            values.get("keep", DEFAULT_KEEP),
        )
        return values, settings


def _said(exc: Exception) -> str:
    return exc.problems[0][1] if isinstance(exc, StructureError) else str(exc)


def _status_value(name: str, value: Any, policy: str) -> Any:
    """``value`` of status key ``name``, checked and converted; ValueError/TypeError if bad."""
    if name in ("timeout", "interval"):
        return _duration(name, value)
    if name in _COUNTS:
        return _count(name, value)
    if name == "policy":
        Policy.from_options(value)
    else:
        Policy.from_options(policy, **{name: value})
    return value


# --- the cache of read HCL files ----------------------------------------------------------


def _encode(item: _Attribute | _Block) -> list[Any]:
    if isinstance(item, _Attribute):
        return ["a", item.name, item.value, item.line]
    return ["b", item.name, list(item.labels), item.line, [_encode(i) for i in item.body]]


def _decode_item(item: object) -> _Attribute | _Block:
    match item:
        case ["a", str(name), value, int(line)]:
            return _Attribute(name, value, line)
        case ["b", str(name), list(labels), int(line), list(body)] if all(
            isinstance(label, str) for label in labels
        ):
            return _Block(name, tuple(labels), tuple(_decode_item(i) for i in body), line)
    raise ValueError(f"not a cached config item: {item!r}")


@final
class _Cache:
    """A config file's read tree, kept in a directory while the file is unchanged.

    One entry per config file, overwritten when the file changes, so the directory does not
    grow.
    """

    def __init__(self, directory: Path, path: Path, size: int, mtime_ns: int, data: bytes) -> None:
        self._file = directory / f"config-{hashlib.sha256(bytes(path)).hexdigest()[:16]}.json"
        self._key = {
            "format": _CACHE_FORMAT,
            "path": str(path),
            "size": size,
            "mtime_ns": mtime_ns,
            "sha256": hashlib.sha256(data).hexdigest(),
        }

    def load(self) -> _Body | None:
        try:
            entry = json.loads(self._file.read_bytes())
            if entry["key"] != self._key:
                return None
            return tuple(_decode_item(item) for item in entry["body"])
        except (OSError, ValueError, KeyError, TypeError):
            # Missing, unreadable or corrupt: read the file as if there were no cache.
            return None

    def store(self, body: _Body) -> None:
        entry = {"key": self._key, "body": [_encode(item) for item in body]}
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(
                prefix=self._file.name, suffix=".tmp", dir=self._file.parent
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as file:
                    json.dump(entry, file)
                # Atomic: a concurrent run reads the old entry or the new one, never half.
                os.replace(temp, self._file)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except OSError:
            # Only a speed-up: a read-only project directory must not fail the run.
            return


# --- plugins ------------------------------------------------------------------------------


def check_plugins(project: Project, plugins: PluginManager, names: Collection[str] = ()) -> None:
    """Check that the named apps' plugins (every app's when none is named) are installed, of
    the right kind, and fit their config.

    A plugin that is installed but broken (it failed to import or validate) is not a config
    error: only the apps that use it fail when they run, and the others go on (DESIGN §5).
    """
    for app in project.apps.values():
        if names and app.name not in names:
            continue
        _check_use(project.path, app, "deploy", app.deploy, plugins)
        if app.release is not None:
            _check_use(project.path, app, "release", app.release, plugins)


def _check_use(path: Path, app: App, kind: str, use: Use, plugins: PluginManager) -> None:
    component, hooks = _COMPONENTS[kind]
    where = f'app "{app.name}": {kind}: use "{use.plugin}"'
    names = [plugin.name for plugin in plugins.plugins]
    if use.plugin in names and plugins.plugin(use.plugin).error is not None:
        return
    try:
        plugins.get(use.plugin)
    except PluginError as exc:
        close = difflib.get_close_matches(use.plugin, names, n=1)
        todo = f'; did you mean "{close[0]}"?' if close else ""
        raise ConfigFileError(path, use.line, f"{where}: {exc}{todo}") from None
    if not plugins.implements(use.plugin, hooks[0]):
        raise ConfigFileError(
            path,
            use.line,
            f"{where}: the plugin is not a {component} (it does not implement {hooks[0]}); "
            f"use a plugin that is one",
        )
    try:
        plugins.structure_config(app.name, use.plugin, use.config, hooks)
    except ConfigError as exc:
        problems = "; ".join(
            f"{field}: {message}" if field else message for field, message in exc.problems
        )
        raise ConfigFileError(
            path, use.line, f"{where}: {problems}; change this use block to fit the plugin"
        ) from None
