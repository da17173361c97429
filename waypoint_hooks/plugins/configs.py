"""Configs that every check of a plugin may share: structured once, as no hook can change them.

Each check hands its plugin the config structured into the class the hook annotates. Where
that class is frozen and holds only values that cannot change (strings, numbers, enums,
tuples and frozensets of them, other such classes), one instance serves every check of the
same config: a hook that tried to change it would raise, and nothing it holds can be changed
in place. Any other class is structured anew for each check, so that what one check did to
its config object never reaches the next.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Hashable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

import attrs

__all__ = ["content_key", "unchangeable"]

_ATOMS: Final = (str, int, float, complex, bool, bytes, type(None))
_VALUES: Final = frozenset({*_ATOMS, date, datetime, time, timedelta, Decimal, Fraction})


@attrs.frozen
class _Frozen:
    pass


#: What every frozen attrs class has as its ``__setattr__``.
_FROZEN_SETATTR: Final = _Frozen.__setattr__


def unchangeable(annotation: object) -> bool:
    """Whether no value of ``annotation`` can be changed, by assignment or in place."""
    return _unchangeable(annotation, set())


def _unchangeable(annotation: object, seen: set[type]) -> bool:
    if annotation in _VALUES:
        return True
    origin = typing.get_origin(annotation)
    arguments = [a for a in typing.get_args(annotation) if a is not Ellipsis]
    if origin is typing.Literal:
        return all(type(a) in _VALUES or isinstance(a, enum.Enum) for a in arguments)
    if origin in (typing.Union, types.UnionType, tuple, frozenset):
        return bool(arguments) and all(_unchangeable(a, seen) for a in arguments)
    if not isinstance(annotation, type):
        return False
    if issubclass(annotation, enum.Enum) or annotation in seen:
        return True
    if issubclass(annotation, _ATOMS):
        # A subclass of str or float (Duration) with no __dict__ to set anything in.
        mro = annotation.__mro__
        return all("__slots__" in vars(k) for k in mro if k not in _ATOMS and k is not object)
    frozen = (attrs.has(annotation) and annotation.__setattr__ is _FROZEN_SETATTR) or (
        dataclasses.is_dataclass(annotation) and annotation.__dataclass_params__.frozen  # type: ignore[attr-defined]
    )
    if not frozen:
        return False
    try:
        hints = typing.get_type_hints(annotation)
    except (NameError, TypeError):
        return False
    seen.add(annotation)
    fields: Any = attrs.fields if attrs.has(annotation) else dataclasses.fields
    return all(_unchangeable(hints.get(f.name), seen) for f in fields(annotation))


def content_key(value: Any) -> Hashable | None:
    """What a config holds, as a key of what it was structured into: equal for equal
    contents of equal types (``1`` and ``True`` are not the same setting); ``None`` for one
    that holds something other than plain values."""
    try:
        return _key(value)
    except TypeError:
        return None


def _key(value: Any) -> Hashable:
    kind = type(value)
    if kind in _ATOMS:
        return (kind, value)
    if isinstance(value, Mapping):
        return (Mapping, tuple((_key(k), _key(v)) for k, v in value.items()))
    if kind is list or kind is tuple:
        return (list, tuple(_key(item) for item in value))
    raise TypeError(f"not a plain value: {kind.__name__}")
