"""A resource as a plugin declares it for the resource manager, and how its create, destroy
and status functions are called: with the arguments they name, sync or async."""

from __future__ import annotations

import builtins
import contextvars
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final, final

import attrs

from ..errors import describe_error
from ..model.health import CategoryDisplayHint
from ..model.report import Resource
from .manager import _where
from .workers import in_worker

__all__ = ["GIVEN", "KINDS", "DeclaredResource", "Function", "ReportedResources", "resource"]

#: What the manager itself gives a function, besides each resource it comes after by name.
GIVEN: Final = ("ctx", "state", "resource", "resources", "checkpoint")
KINDS: Final = ("create", "destroy", "status")
#: The arguments the manager gives to functions of some kinds only.
_ONLY: Final = {"resource": "status", "resources": "status", "checkpoint": "create"}


@final
@attrs.frozen
class Function:
    """A create, destroy or status function and the arguments it takes by name.

    As pluggy reads a hook implementation, once: the parameters without a default, each
    given the value of that name; a parameter with a default keeps its default.
    """

    function: Callable[..., Any]
    names: tuple[str, ...]
    is_async: bool

    @classmethod
    def of(cls, function: Callable[..., Any], what: str) -> Function:
        if not callable(function):
            raise TypeError(f"{what} must be a function, got {type(function).__name__}")
        names = []
        for parameter in inspect.signature(function).parameters.values():
            if parameter.default is not parameter.empty or parameter.kind in (
                parameter.VAR_POSITIONAL,
                parameter.VAR_KEYWORD,
            ):
                continue
            if parameter.kind is parameter.POSITIONAL_ONLY:
                raise TypeError(
                    f"{what} ({_where(function)}) takes {parameter.name!r} by position only; "
                    "its arguments are given by name"
                )
            names.append(parameter.name)
        return cls(function, tuple(names), inspect.iscoroutinefunction(function))

    async def __call__(self, values: Mapping[str, Any]) -> None:
        arguments = {name: values[name] for name in self.names}
        if self.is_async:
            await self.function(**arguments)
            return
        # In a worker thread, so that a sync function never blocks the event loop of an
        # async hook, and one that hangs can be given up on; in a copy of the caller's context.
        context = contextvars.copy_context()
        error = await in_worker(lambda: context.run(_raised, self.function, arguments))
        if error is not None:
            raise error


def _raised(function: Callable[..., Any], arguments: Mapping[str, Any]) -> BaseException | None:
    try:
        function(**arguments)
    except BaseException as exc:  # handed back to the event loop's thread, raised there
        return exc
    return None


def _functions(declared: DeclaredResource) -> dict[str, Function]:
    functions = {}
    for kind in KINDS:
        function = getattr(declared, kind)
        if function is not None:
            functions[kind] = Function.of(
                function, f"the {kind} function of resource {declared.name!r}"
            )
    return functions


@final
@attrs.frozen
class DeclaredResource:
    """One resource of a :class:`ResourceManager`, as :func:`resource` declares it."""

    name: str
    type: str
    create: Callable[..., Any] | None
    destroy: Callable[..., Any] | None
    status: Callable[..., Any] | None
    #: The attrs class of its state, which its create function fills in; ``None`` for none.
    state: builtins.type | None
    #: The resources it is created after (and destroyed before), by name.
    after: tuple[str, ...]
    #: The resource it belongs under in the report's tree, by name; ``""`` for none.
    parent: str
    category_display_hint: CategoryDisplayHint
    #: Left empty, the report's finalization fills in the plugin's name.
    platform: str
    _functions: Mapping[str, Function] = attrs.field(
        init=False, repr=False, eq=False, default=attrs.Factory(_functions, takes_self=True)
    )

    def function(self, kind: str) -> Function | None:
        """Its ``create``, ``destroy`` or ``status`` function, as the manager calls it."""
        return self._functions.get(kind)

    def new_state(self) -> Any:
        """A blank state object, for its create function to fill in (``None`` without one)."""
        return None if self.state is None else self.state()

    def prefilled(self, name: str = "", **fields: Any) -> Resource:
        """A resource of it in a report, before its status function says how it is: named
        ``name`` (its own name by default; also the ``id`` unless ``fields`` give one)."""
        name = name or self.name
        return Resource(
            **{
                "name": name,
                "id": name,
                "parent_resource_id": self.parent,
                "platform": self.platform,
                "type": self.type,
                "category_display_hint": self.category_display_hint,
                **fields,
            }
        )


@final
class ReportedResources:
    """The resources a status function that takes ``resources`` reports: any number, each
    added pre-filled as its declared resource (the Waypoint SDK's ``StatusResponse``)."""

    def __init__(self, declared: DeclaredResource) -> None:
        self._declared = declared
        self._added: list[Resource] = []

    def add(self, name: str, **fields: Any) -> Resource:
        """Add a resource named ``name`` to the report, and return it.

        Pre-filled with the declared resource's ``type``, ``platform``, display hint and
        parent; its ``id`` is ``name`` unless ``fields`` give one. ``fields`` set any field of
        a :class:`~waypoint_hooks.Resource` (``health``, ``health_message``, ``id``, …).
        """
        resource = self._declared.prefilled(name, **fields)
        self._added.append(resource)
        return resource

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._added)

    def __len__(self) -> int:
        return len(self._added)


def resource(
    name: str,
    *,
    type: str = "",
    create: Callable[..., Any] | None = None,
    destroy: Callable[..., Any] | None = None,
    status: Callable[..., Any] | None = None,
    state: builtins.type | None = None,
    after: Iterable[str] = (),
    parent: str = "",
    category_display_hint: CategoryDisplayHint = CategoryDisplayHint.UNKNOWN,
    platform: str = "",
) -> DeclaredResource:
    """Declare a resource for a :class:`ResourceManager`.

    ``create``, ``destroy`` and ``status`` take the arguments they name: ``ctx``, ``state``
    (this resource's own state object, an instance of ``state``), each resource named in
    ``after`` by that name (its state object) and the values the manager's method was given
    (``config``, ``ui``, …). ``status`` takes either ``resource``, the ``Resource`` it
    reports, pre-filled, whose ``health`` and ``health_message`` it sets, or ``resources``,
    a :class:`ReportedResources` to which it adds each resource it reports. ``create`` may
    take ``checkpoint``: called, it checkpoints at once every resource created so far and
    this one's state as filled in so far. Sync or ``async def``.

    ``type`` defaults to the name, as in Waypoint; ``parent`` names the resource this one is
    shown under. Raises :class:`ValueError` or :class:`TypeError` for a declaration that
    cannot work, naming the resource.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"a resource's name must be a non-empty str, got {name!r}")
    if name in GIVEN:
        raise ValueError(f"a resource cannot be named {name!r}: functions take that argument")
    if state is not None:
        _check_state_class(name, state)
    declared = DeclaredResource(
        name,
        type or name,
        create,
        destroy,
        status,
        state,
        (after,) if isinstance(after, str) else tuple(after),
        parent,
        CategoryDisplayHint(category_display_hint),
        platform,
    )
    status_function = declared.function("status")
    if (
        status_function is not None
        and len({"resource", "resources"} & {*status_function.names}) != 1
    ):
        raise TypeError(
            f"the status function of resource {name!r} ({_where(status)}) must take "
            "`resource` and set its health, or `resources` and add each resource it reports"
        )
    for kind in KINDS:
        function = declared.function(kind)
        for argument, only in _ONLY.items():
            if function is not None and argument in function.names and kind != only:
                raise TypeError(
                    f"the {kind} function of resource {name!r} ({_where(function.function)}) "
                    f"takes `{argument}`, which only a {only} function is given"
                )
    return declared


def _check_state_class(name: str, state: builtins.type) -> None:
    if not (isinstance(state, builtins.type) and attrs.has(state)):
        raise TypeError(f"the state of resource {name!r} must be an attrs class, got {state!r}")
    try:
        state()
    except Exception as exc:
        raise TypeError(
            f"the state class {state.__name__} of resource {name!r} must have a default for "
            f"every field (its create function fills them in); {state.__name__}() "
            f"{describe_error(exc)}"
        ) from None
