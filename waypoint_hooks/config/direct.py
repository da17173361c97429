"""A checked document made a :class:`Project` without the structure functions cattrs generates.

The first structuring of a :class:`Project` by the converter generates and compiles a
function for each of its classes and mappings (68 compilations): most of the CPU a command
spent on a config read from its cache. A config that fits is built here instead, by walking
its classes' fields; every value that is not one of those classes, a mapping or an optional
one is still structured by the converter (names, durations, policies, lists…), whose hooks
for those generate nothing. For a document that does not fit, :mod:`.document` has the
converter structure it after all, to say what is wrong and where: this is only the way a
config that fits takes, to the same project (``tests/config/test_direct.py`` compares them).
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ..model.codec import converter
from ..model.limits import ReportLimits
from .project import App, Maintenance, Notify, PluginPin, Project, StatusSettings, Use

__all__ = ["build"]

#: The classes built field by field: the config's own, and the limits a status block holds;
#: none has a hook of its own in the converter (the policy has, and is left to it).
_CLASSES: Final = frozenset(
    (Project, StatusSettings, App, Use, Notify, Maintenance, PluginPin, ReportLimits)
)


def build(document: Mapping[str, Any]) -> Project | None:
    """``document`` as :class:`Project`, built as the converter would build it; ``None`` if
    it does not fit."""
    try:
        project: Project = _value(document, Project)
    except Exception:  # as the converter's detailed validation takes any
        return None
    return project


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, str, Any], ...]:
    """Each field of ``cls`` set through ``__init__``: its name, its argument's name, its
    type (the annotations, written as text, evaluated once)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, f.alias, hints[f.name]) for f in attrs.fields(cls) if f.init)


def _value(value: Any, kind: Any) -> Any:
    if kind in _CLASSES:
        return _instance(value, kind)
    origin = typing.get_origin(kind)
    arguments = typing.get_args(kind)
    if origin is Mapping:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {type(value).__name__}")
        return {
            _value(key, arguments[0]): _value(item, arguments[1]) for key, item in value.items()
        }
    if origin is types.UnionType and arguments[0] in _CLASSES and arguments[1:] == (type(None),):
        return None if value is None else _value(value, arguments[0])
    return converter.structure(value, kind)


def _instance(value: Any, cls: Any) -> Any:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a mapping, got {type(value).__name__}")
    fields = _fields(cls)
    known = {name for name, _, _ in fields}
    extra = [key for key in value if key not in known]
    if extra:
        raise KeyError(extra[0])
    # A field left out takes its default; a required one left out fails in __init__.
    return cls(
        **{alias: _value(value[name], kind) for name, alias, kind in fields if name in value}
    )
