"""``waypoint-hooks docs PLUGIN``: what a plugin is and the settings it takes, from its code.

The settings are the fields of the attrs class (or dataclass) each of its hooks annotates
``config`` with: a field's type, its default, and its documentation, the ``"doc"`` key of its
metadata (``attrs.field(default=..., metadata={"doc": "..."})``). Metadata, not the comment
or docstring above a field: it is there at run time, in an installed plugin, without its
source.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

import click

from .output import print_json
from .params import Command
from .session import Session, handle_errors, pass_session

if TYPE_CHECKING:
    from ..plugins.components import Component
    from ..plugins.manager import Plugin, PluginManager

__all__ = ["DOC", "docs", "plugin_docs"]

#: The key of a config field's metadata that documents the setting.
DOC: Final = "doc"


@click.command(cls=Command)
@click.argument("plugin")
@click.option("--json", "json_output", is_flag=True, help="Print a JSON object.")
@pass_session
@handle_errors
def docs(session: Session, plugin: str, json_output: bool) -> None:
    """Show what PLUGIN is (its kinds and hooks) and every setting its use blocks take: type,
    default and documentation, read from its code.

    \b
    Examples:
      waypoint-hooks docs http
      waypoint-hooks docs http --json
    """
    from ..errors import PluginError, UsageError

    manager = session.plugins()
    try:
        manager.get(plugin)
    except PluginError as exc:
        raise UsageError(str(exc)) from None
    document = plugin_docs(manager, plugin)
    if json_output:
        print_json(document)
    else:
        for line in _text(document):
            click.echo(line)


def plugin_docs(manager: PluginManager, name: str) -> dict[str, Any]:
    """The document ``docs --json`` prints for the plugin ``name``, loaded and valid."""
    from ..plugins.components import COMPONENTS

    plugin = manager.plugin(name)
    settings: dict[str, list[dict[str, Any]]] = {}
    for component in COMPONENTS:
        if component.kind in plugin.kinds:
            cls = _config_class(manager, plugin, component)
            settings[component.kind] = [] if cls is None else list(_settings(cls))
    return {**plugin.to_json(), "settings": settings}


def _config_class(manager: PluginManager, plugin: Plugin, component: Component) -> type | None:
    """The class the component's hooks annotate ``config`` with (the first that does)."""
    for hook in component.hooks:
        if manager.implements(plugin.name, hook):
            cls = manager.call(hook, plugin.name).impl.types.get("config")
            if cls is not None:
                return cls
    return None


def _settings(cls: type, prefix: str = "") -> Iterator[dict[str, Any]]:
    """Each field of ``cls``, and of the classes its fields are, as ``name.inner``."""
    import attrs

    from ..plugins.manager import structured_type

    hints = typing.get_type_hints(cls)
    for name, default, metadata in _fields(cls):
        kind = hints.get(name)
        inner = structured_type(kind)
        if inner is not None:
            yield from _settings(inner, f"{prefix}{name}.")
            continue
        required = default is attrs.NOTHING or default is dataclasses.MISSING
        yield {
            "name": prefix + name,
            "type": _type_name(kind),
            "required": required,
            "default": None if required else _plain(default),
            "doc": metadata.get(DOC, ""),
        }


def _fields(cls: type) -> Iterator[tuple[str, Any, typing.Mapping[str, Any]]]:
    """Each field's name, default (made, if a factory makes it) and metadata."""
    import attrs

    if attrs.has(cls):
        for field in attrs.fields(cls):
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = attrs.NOTHING if default.takes_self else default.factory()
            yield field.name, default, field.metadata
        return
    for data_field in dataclasses.fields(cls):
        default = data_field.default
        if data_field.default_factory is not dataclasses.MISSING:
            default = data_field.default_factory()
        yield data_field.name, default, data_field.metadata


def _type_name(kind: object) -> str:
    if kind is None:
        return "any"
    if isinstance(kind, type) and not typing.get_args(kind):
        return kind.__name__
    return str(kind).replace("typing.", "").replace("collections.abc.", "")


def _plain(value: object) -> Any:
    """A default as JSON and the config file write it."""
    from ..model.codec import converter
    from ..model.durations import Duration

    if isinstance(value, Duration):
        return str(value)  # "5s", not the float it is
    plain = converter.unstructure(value)
    return (
        plain if isinstance(plain, (str, int, float, bool, list, dict, type(None))) else str(plain)
    )


def _text(document: dict[str, Any]) -> Iterator[str]:
    version = f" {document['version']}" if document["version"] else ""
    source = f" ({document['distribution']})" if document["distribution"] else ""
    yield f"{document['name']}{version}{source}"
    if document["requires"]:
        yield f"  Requires: {document['requires']}"
    yield f"  Kinds: {', '.join(document['kinds']) or 'none (an observer or a wrapper)'}"
    yield f"  Hooks: {', '.join(document['hooks']) or 'none'}"
    for kind, settings in document["settings"].items():
        yield ""
        yield f'Settings as a {kind.replace("_", " ")} (use "{document["name"]}" {{ ... }}):'
        if not settings:
            yield "  none declared (its hooks take config as a plain mapping)"
        for setting in settings:
            default = (
                "required" if setting["required"] else f"default {json.dumps(setting['default'])}"
            )
            yield f"  {setting['name']}  {setting['type']}  {default}"
            if setting["doc"]:
                yield f"      {setting['doc']}"
