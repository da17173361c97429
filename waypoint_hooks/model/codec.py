"""The one cattrs converter, configured completely here: plugin values, the report wire format,
durations, status policies; and the problems of a value that does not fit, with their paths."""

from __future__ import annotations

import enum
import json
import keyword
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar, final

import attrs
import cattrs
from cattrs.cols import is_mutable_sequence, list_structure_factory
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from ..errors import StructureError
from . import wire as _wire
from .aggregate import Policy
from .durations import Duration, compared
from .health import CategoryDisplayHint, Health
from .report import Resource, StatusReport

__all__ = [
    "MISFITS",
    "Problem",
    "converter",
    "problems",
    "setting_name",
    "structure",
    "unstructure_value",
]

_T = TypeVar("_T")

converter: Final = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
#: What structuring raises for a value that does not fit (:func:`problems` says what is wrong).
MISFITS: Final = (
    ClassValidationError,
    IterableValidationError,
    ValueError,
    TypeError,
    KeyError,
    ForbiddenExtraKeysError,
)


# --- plain values: strict, so that "false" never becomes True --------------------------------


def _expected(expected: type, value: object) -> str:
    # Where text was expected, the value may be a secret given the wrong shape (a header or
    # an env value written as a list): it is named by its type alone (DESIGN §13).
    shown = "" if expected is str else f" {value!r}"
    return f"expected {expected.__name__}, got {type(value).__name__}{shown}"


def _strict(expected: type[_T], *also: type) -> Any:
    accepted = (expected, *also)

    def structure(value: object, cls: type[_T]) -> _T:
        if cls is not expected and issubclass(cls, enum.Enum):
            # A str or int enum: the class dispatch finds str or int before Enum.
            return _enum(value, cls)  # type: ignore[return-value]
        # cattrs would call str(value)/bool(value): "false" would become True.
        if isinstance(value, bool) and expected is not bool:
            raise TypeError(f"expected {expected.__name__}, got a boolean")
        if not isinstance(value, accepted):
            raise TypeError(_expected(expected, value))
        return cls(value)  # type: ignore[call-arg]

    return structure


def _listed(choices: Iterable[object]) -> str:
    shown = [c.value if isinstance(c, enum.Enum) else c for c in choices]
    return ", ".join(c if isinstance(c, str) else repr(c) for c in shown)


def _same(value: object, choice: object) -> bool:
    # True == 1, but a flag is not a number.
    return value == choice and isinstance(value, bool) == isinstance(choice, bool)


def _enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    if isinstance(value, cls):
        return value
    for member in cls:
        if _same(value, member.value):
            return member
    raise ValueError(f"must be one of {_listed(cls)}; got {value!r}")


def _is_literal(cls: Any) -> bool:
    return typing.get_origin(cls) is typing.Literal


def _literal(value: object, cls: object) -> object:
    for choice in typing.get_args(cls):
        if _same(value, choice.value if isinstance(choice, enum.Enum) else choice):
            return choice
    raise ValueError(f"must be one of {_listed(typing.get_args(cls))}; got {value!r}")


converter.register_structure_hook(str, _strict(str))
converter.register_structure_hook(int, _strict(int))
converter.register_structure_hook(float, _strict(float, int))
converter.register_structure_hook(bool, _strict(bool))
converter.register_structure_hook_func(_is_literal, _literal)
converter.register_structure_hook_func(
    lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _enum
)
converter.register_structure_hook(Duration, lambda value, _: Duration(value))

# --- lists: a text is not a list of its characters, and "one or several" --------------------


def _list_of(cls: Any) -> Any:
    items = list_structure_factory(cls, converter)

    def structure(value: object, _: object) -> Any:
        # cattrs would take any iterable: command = "true" would become ["t", "r", "u", "e"].
        if isinstance(value, (str, bytes, Mapping)):
            raise TypeError(f"expected a list, got {type(value).__name__}")
        return items(value, cls)

    return structure


def _is_one_or_several(cls: Any) -> bool:
    """``str | list[str]``: a field that takes one value, or a list of them."""
    if typing.get_origin(cls) not in (typing.Union, types.UnionType):
        return False
    one, *rest = typing.get_args(cls)
    return (
        len(rest) == 1 and typing.get_origin(rest[0]) is list and typing.get_args(rest[0]) == (one,)
    )


def _one_or_several(value: object, cls: Any) -> Any:
    one, several = typing.get_args(cls)
    return converter.structure(value, several if isinstance(value, list) else one)


def _is_tuple_of(cls: Any) -> bool:
    """``tuple[X, ...]``: structured as a list of X is, then made a tuple."""
    args = typing.get_args(cls)
    return typing.get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _tuple_of(cls: Any) -> Any:
    items = _list_of(list[typing.get_args(cls)[0]])  # type: ignore[misc]
    return lambda value, _: tuple(items(value, None))


converter.register_structure_hook_factory(is_mutable_sequence, _list_of)
converter.register_structure_hook_factory(_is_tuple_of, _tuple_of)
converter.register_structure_hook_func(_is_one_or_several, _one_or_several)

# --- settings named after a Python keyword -----------------------------------------------------
#
# A setting called ``from`` (an email's sender) cannot be a field of that name: the class calls
# it ``from_``, as PEP 8 says, and the config file, the JSON and every message say ``from``.


def setting_name(field: str) -> str:
    """The name the config file gives the field ``field``: ``from_`` is ``from``."""
    stem = field[:-1]
    return stem if field.endswith("_") and keyword.iskeyword(stem) else field


def _renamed(cls: Any) -> dict[str, str]:
    if not (isinstance(cls, type) and attrs.has(cls)):
        return {}
    names = ((a.name, setting_name(a.name)) for a in attrs.fields(cls))
    return {field: name for field, name in names if field != name}


def _renames(cls: Any) -> dict[str, Any]:
    """cattrs' overrides that read and write each renamed field under its setting's name."""
    return {field: override(rename=name) for field, name in _renamed(cls).items()}


converter.register_structure_hook_factory(
    lambda cls: bool(_renamed(cls)),
    lambda cls: make_dict_structure_fn(cls, converter, **_renames(cls)),
)
converter.register_unstructure_hook_factory(
    lambda cls: bool(_renamed(cls)),
    lambda cls: make_dict_unstructure_fn(cls, converter, **_renames(cls)),
)

# --- the report wire format (DESIGN §8) -----------------------------------------------------

converter.register_unstructure_hook(datetime, _wire.format_time)
converter.register_structure_hook(datetime, _wire.parse_time)
converter.register_unstructure_hook(Resource, _wire.resource_to_wire)
converter.register_unstructure_hook(StatusReport, _wire.report_to_wire)
converter.register_structure_hook(Resource, _wire.resource_from_wire)
converter.register_structure_hook(StatusReport, _wire.report_from_wire)
for _wire_enum in (Health, CategoryDisplayHint):
    converter.register_unstructure_hook(_wire_enum, lambda member: member.name)
    converter.register_structure_hook(_wire_enum, _wire.enum_from_wire)


# --- status policies: the keys of a status block, checked by the policy itself ---------------


def _policy(value: object, _: object) -> Policy:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a status block's keys, got {type(value).__name__}")
    return Policy.from_options(**value)


converter.register_structure_hook(Policy, _policy)


# --- problems ---------------------------------------------------------------------------------


@final
@attrs.frozen
class Problem:
    """One thing wrong with a value: where (a path of steps), what, and of which attrs field."""

    #: Steps from the root: ``.name`` for a field, ``[key]`` for an item.
    steps: tuple[str, ...]
    message: str
    #: The attrs field the problem is about, when there is one.
    field: attrs.Attribute[Any] | None = None

    @property
    def path(self) -> str:
        """``apps[web].status.timeout``."""
        return "".join(self.steps).lstrip(".")


def _step(path: str) -> tuple[str, ...]:
    if not path:
        return ()
    return (path if path.startswith("[") else f".{path}",)


def problems(
    exc: BaseException, steps: tuple[str, ...] = (), field: attrs.Attribute[Any] | None = None
) -> Iterator[Problem]:
    """What ``exc``, raised while structuring, says is wrong, each problem at its path."""
    if isinstance(exc, ClassValidationError):
        fields = attrs.fields_dict(exc.cl) if attrs.has(exc.cl) else {}
        with_notes, without_notes = exc.group_exceptions()
        for inner, note in with_notes:
            name = setting_name(note.name)
            yield from problems(inner, (*steps, f".{name}"), fields.get(note.name))
        for inner in without_notes:  # raised by the class itself: a validator, a converter
            yield from problems(inner, steps)
    elif isinstance(exc, IterableValidationError):
        items, without_index = exc.group_exceptions()
        for inner, item in items:
            yield from problems(inner, (*steps, f"[{item.index}]"), field)
        for inner in without_index:
            yield from problems(inner, steps, field)
    elif isinstance(exc, ForbiddenExtraKeysError):
        # As the user writes them: a keyword field (``from_``) by its keyword.
        names = [setting_name(a.name) for a in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        for key in sorted(exc.extra_fields):
            yield Problem((*steps, f".{key}"), f"unknown field{_close(key, names)}")
    elif isinstance(exc, StructureError):
        for path, message in exc.problems:
            # A path inside the field is about something the field holds, not the field.
            yield Problem((*steps, *_step(path)), message, None if path else field)
    elif isinstance(exc, KeyError):
        yield Problem(steps, "required field missing", field)
    else:
        failed = _failed_field(exc)
        if failed is None:
            yield Problem(steps, _message(exc), field)
        else:
            yield Problem((*steps, f".{setting_name(failed[0].name)}"), failed[1], failed[0])


def _close(key: str, names: list[str]) -> str:
    """The known field ``key`` was likely meant to be, if one is close, then every one: a
    setting mistyped in a use block is told as a block key is."""
    import difflib  # only a config in error needs it

    close = difflib.get_close_matches(key, names, n=1)
    hint = f', did you mean "{close[0]}"?' if close else ""
    return f"{hint} (known fields: {', '.join(names)})"


def _message(exc: BaseException) -> str:
    # attrs' validators raise (message, attribute, expected, value): the message is the first.
    if len(exc.args) > 1 and isinstance(exc.args[0], str):
        return exc.args[0]
    return str(exc)


def _failed_field(exc: BaseException) -> tuple[attrs.Attribute[Any], str] | None:
    """The field whose validator (or field-taking converter) raised ``exc``, and what to say.

    attrs calls a validator with the field (``(instance, attribute, value)``) but does not put
    it in the exception it raises: the innermost frame that was given a field is the one.
    """
    frames = []
    trace = exc.__traceback__
    while trace is not None:
        frames.append(trace.tb_frame)
        trace = trace.tb_next
    for frame in reversed(frames):
        code = frame.f_code
        arguments = [frame.f_locals.get(name) for name in code.co_varnames[: code.co_argcount]]
        for argument in arguments:
            if isinstance(argument, attrs.Attribute):
                return argument, _validator_message(frame.f_locals, exc)
    return None


_IN: Final[Any] = type(attrs.validators.in_(()))
_MATCHES_RE: Final[Any] = type(attrs.validators.matches_re(""))
_INSTANCE_OF: Final[Any] = type(attrs.validators.instance_of(object))
_NUMBER: Final[Any] = type(attrs.validators.ge(0))
_MAX_LEN: Final[Any] = type(attrs.validators.max_len(0))
_MIN_LEN: Final[Any] = type(attrs.validators.min_len(0))
_COMPARED: Final = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}


def _validator_message(local: Mapping[str, Any], exc: BaseException) -> str:
    """What attrs' own validators mean, said as the framework says it; else the message."""
    validator, value = local.get("self"), local.get("value")
    if isinstance(validator, _IN):
        options = exc.args[2]
        if isinstance(options, (set, frozenset)):
            options = sorted(options, key=str)
        return f"must be one of {_listed(options)}; got {value!r}"
    if isinstance(validator, _MATCHES_RE):
        return f"must match the pattern {validator.pattern.pattern!r}; got {value!r}"
    if isinstance(validator, _INSTANCE_OF):
        expected = validator.type
        if isinstance(expected, tuple):
            return f"expected one of {_listed(t.__name__ for t in expected)}, got {value!r}"
        return _expected(expected, value)
    if isinstance(validator, _NUMBER):
        if isinstance(value, Duration):
            return compared(validator.compare_op, validator.bound, value)
        return f"must be {_COMPARED[validator.compare_op]} {validator.bound}, got {value!r}"
    if isinstance(validator, _MAX_LEN):
        return _length("at most", validator.max_length, value)
    if isinstance(validator, _MIN_LEN):
        return _length("at least", validator.min_length, value)
    return _message(exc)


def _length(limit: str, size: int, value: Any) -> str:
    items = "characters" if isinstance(value, str) else "items"
    return f"must hold {limit} {size} {items}, got {len(value)}"


def structure(value: object, cls: type[_T], error: type[StructureError] = StructureError) -> _T:
    """Structure ``value`` into ``cls`` with the converter; a misfit raises ``error``."""
    try:
        return converter.structure(value, cls)
    except MISFITS as exc:
        raise error([(problem.path, problem.message) for problem in problems(exc)]) from None


def unstructure_value(value: object) -> dict[str, Any]:
    """A deploy or release hook's return value (attrs instance, dataclass or mapping) as a
    JSON-ready mapping, to store and give back to later hooks."""
    plain = converter.unstructure(value)
    if not isinstance(plain, Mapping):
        raise TypeError(
            f"expected an attrs instance, a dataclass or a mapping, got {type(value).__name__}"
        )
    try:
        json.dumps(plain)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the value cannot be stored as JSON: {exc}") from None
    return dict(plain)
