"""The resource manager: the resources a deployment is made of, created in order, rolled back,
checkpointed, destroyed in reverse and reported (the Waypoint SDK's ``framework/resource``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, Final, TypeVar, final

import attrs

from .errors import DestroyError, StructureError, describe_error, prefixed
from .model.aggregate import Policy
from .model.codec import converter, structure
from .model.health import Health
from .model.report import Resource, StatusReport
from .plugins.context import Context
from .plugins.declared import GIVEN, KINDS, DeclaredResource, ReportedResources, resource
from .plugins.manager import _where
from .plugins.workers import abandon, run_abandoning

__all__ = [
    "DeclaredResource",
    "DestroyError",
    "ReportedResources",
    "ResourceManager",
    "resource",
]

_T = TypeVar("_T")
_log = logging.getLogger(__name__)

#: Of the time a status report has left, the share kept to build the report and return it
#: before the hook's own deadline (at most ``_MARGIN_CAP`` seconds): status functions that
#: run until the deadline itself would make the whole check time out.
_MARGIN_SHARE: Final = 0.1
_MARGIN_CAP: Final = 1.0


@final
@attrs.frozen
class _Entry:
    name: str
    state: dict[str, Any] | None = None


@final
@attrs.frozen
class _Saved:
    """The manager's state as stored: each resource created (or being created), in order."""

    created: list[_Entry]


#: Each resource created so far, by name, in creation order, with its state object.
_Created = dict[str, Any]


@final
class ResourceManager:
    """The resources a deployment (or release) is made of, managed together.

    ``create_all`` creates them in dependency order and returns the manager's state, a plain
    JSON mapping to return as the deployment's value; ``status_report`` and ``destroy_all``
    take it back. Each method has an ``async`` twin (``acreate_all``, …) for async hooks.
    """

    def __init__(self, *resources: DeclaredResource) -> None:
        declared: dict[str, DeclaredResource] = {}
        for each in resources:
            if each.name in declared:
                raise ValueError(f"two resources are named {each.name!r}")
            declared[each.name] = each
        for each in resources:
            _check_references(each, declared)
        for each in resources:
            cycle = _cycle(each.name, lambda name: declared[name].parent or None)
            if cycle is not None:
                raise ValueError(f"resources are each other's parents: {' → '.join(cycle)}")
        self._declared = declared
        #: Creation order: declaration order, except that each resource comes after those
        #: its ``after`` names.
        self.order: Final = _creation_order(declared)

    # --- the state ---------------------------------------------------------------------------

    def load(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The state object of each resource ``state`` holds, by name, in creation order.

        Structured by the framework's converter, so a state written by another version of
        the plugin loads if it fits: a field it lacks gets its default; an unknown key, a
        value of the wrong type or an unknown resource raises
        :class:`~waypoint_hooks.StructureError` with its path (``created[1].state.port``).
        """
        created: _Created = {}
        for index, entry in enumerate(structure(state, _Saved).created):
            declared = self._declared.get(entry.name)
            if declared is None:
                raise StructureError.at(
                    f"created[{index}].name",
                    f"unknown resource {entry.name!r}; declared: {', '.join(self._declared)}",
                )
            cls = declared.state
            try:
                created[entry.name] = None if cls is None else structure(entry.state or {}, cls)
            except StructureError as exc:
                raise prefixed(exc, f"created[{index}].state") from None
        return created

    @staticmethod
    def _plain(created: _Created) -> dict[str, Any]:
        return {
            "created": [
                {"name": name, "state": converter.unstructure(state)}
                for name, state in created.items()
            ]
        }

    def _checkpoint(self, ctx: Context, created: _Created) -> dict[str, Any]:
        """Checkpoint ``created`` as it is now; the manager's state that was checkpointed."""
        plain = self._plain(created)
        ctx.checkpoint(plain)
        return plain

    # --- create ------------------------------------------------------------------------------

    def create_all(self, ctx: Context, **values: Any) -> dict[str, Any]:
        """Create every resource, in order; the manager's state (see :meth:`acreate_all`)."""
        return _run_sync("create_all", self.acreate_all(ctx, **values))

    async def acreate_all(self, ctx: Context, **values: Any) -> dict[str, Any]:
        """Create every resource in order, each given ``values`` by name; the manager's state.

        Each resource is in the checkpoint (``ctx.checkpoint``) before its create function
        runs, and with what it made once the next one starts: if the command dies, ``destroy``
        gets every resource that was created or being created. A create function that takes
        ``checkpoint`` calls it to checkpoint its state as filled in so far, before it starts
        what that state finds again. When a create function raises, the resources created so
        far, that one included, are destroyed in reverse and the error is raised again; a
        destroy that fails then is a note on it, and its resource stays in the checkpoint for
        ``waypoint-hooks destroy``.
        """
        self._check("create_all", ("create", "destroy"), values)
        created: _Created = {}

        def checkpoint() -> None:
            self._checkpoint(ctx, created)

        try:
            for name in self.order:
                created[name] = self._declared[name].new_state()
                checkpoint()
                await self._call("create", name, ctx, created, {**values, "checkpoint": checkpoint})
            return self._checkpoint(ctx, created)
        except Exception as error:
            await self._roll_back(ctx, created, values, error, checkpoint)
            raise

    async def _roll_back(
        self,
        ctx: Context,
        created: _Created,
        values: Mapping[str, Any],
        error: Exception,
        forget: Callable[[], None],
    ) -> None:
        for name, failure in await self._destroy(ctx, created, values, forget):
            note = f"while rolling back, destroying resource {name!r}: it {describe_error(failure)}"
            _log.warning("%s", note)
            # BaseException.add_note (Python 3.11) keeps its notes in this attribute; 3.10 has
            # no add_note, and its tracebacks do not show them.
            vars(error).setdefault("__notes__", []).append(note)

    # --- destroy -----------------------------------------------------------------------------

    def destroy_all(self, ctx: Context, state: Mapping[str, Any], **values: Any) -> None:
        """Destroy every resource ``state`` holds (see :meth:`adestroy_all`)."""
        _run_sync("destroy_all", self.adestroy_all(ctx, state, **values))

    async def adestroy_all(self, ctx: Context, state: Mapping[str, Any], **values: Any) -> None:
        """Destroy every resource ``state`` holds, newest first, each given ``values``.

        A resource without a destroy function is skipped, and so is one that was never
        created. Every destroy is attempted; if any raised, :class:`DestroyError` lists them.
        """
        created = self.load(state)
        self._check("destroy_all", ("destroy",), values)
        failures = await self._destroy(ctx, created, values)
        if failures:
            raise DestroyError(failures)

    async def _destroy(
        self,
        ctx: Context,
        created: _Created,
        values: Mapping[str, Any],
        forget: Callable[[], None] | None = None,
    ) -> list[tuple[str, Exception]]:
        """Destroy ``created``, newest first, removing each one done (then ``forget`` runs);
        what failed, in that order."""
        failures = []
        for name in reversed(list(created)):
            try:
                await self._call("destroy", name, ctx, created, values)
                del created[name]
                if forget is not None:
                    forget()
            except Exception as failure:
                failures.append((name, failure))
        return failures

    # --- status ------------------------------------------------------------------------------

    def status_report(
        self,
        ctx: Context,
        state: Mapping[str, Any],
        *,
        policy: str | Policy | None = None,
        **values: Any,
    ) -> StatusReport:
        """The report of every resource (see :meth:`astatus_report`)."""
        return _run_sync("status_report", self.astatus_report(ctx, state, policy=policy, **values))

    async def astatus_report(
        self,
        ctx: Context,
        state: Mapping[str, Any],
        *,
        policy: str | Policy | None = None,
        **values: Any,
    ) -> StatusReport:
        """A report of the resources of every declared resource that has a status function:
        the one its function sets (``resource``), or those it adds (``resources``).

        The status functions run at once, within the time ``ctx`` has left. One that raises
        leaves one resource ``UNKNOWN`` saying what it raised; one still running near the
        deadline is given up on, its resource ``UNKNOWN``; a resource the state does not hold
        is ``MISSING``. A child's ``parent_resource_id`` follows the ``id`` of its parent's
        first resource if the parent's status function changes it. The report's health is
        left to the app's policy, unless ``policy`` (a name or a
        :class:`~waypoint_hooks.Policy`) is given.
        """
        created = self.load(state)
        self._check("status_report", ("status",), values)
        reports = {
            name: ReportedResources(self._declared[name])
            for name in self.order
            if self._declared[name].status is not None
        }
        calls = {
            name: asyncio.ensure_future(
                self._call("status", name, ctx, created, {**values, **self._given(name, report)})
            )
            for name, report in reports.items()
            if name in created
        }
        if calls:
            await asyncio.wait(calls.values(), timeout=_budget(ctx))
        reported: dict[str, list[Resource]] = {}
        for name, report in reports.items():
            message = self._failure(calls.get(name))
            if message is None:
                reported[name] = list(report)
                continue
            health = Health.UNKNOWN if name in created else Health.MISSING
            reported[name] = [self._declared[name].prefilled(health=health, health_message=message)]
        for name, each in reported.items():
            parent = self._declared[name].parent
            if reported.get(parent):
                for resource in each:
                    if resource.parent_resource_id == parent:
                        resource.parent_resource_id = reported[parent][0].id
        resources = [resource for each in reported.values() for resource in each]
        if policy is None:
            return StatusReport(resources=resources)
        return StatusReport.from_resources(resources, policy)

    def _given(self, name: str, report: ReportedResources) -> dict[str, Any]:
        """What the status function of ``name`` is given to report with: ``resources``, or
        ``resource``, its one resource."""
        function = self._declared[name].function("status")
        assert function is not None, "only resources with a status function report"
        if "resources" in function.names:
            return {"resources": report}
        return {"resource": report.add(name)}

    @staticmethod
    def _failure(call: asyncio.Future[None] | None) -> str | None:
        """Why a status function did not report its resource, if it did not."""
        if call is None:
            return "it was never created"
        if not call.done():
            abandon(call)
            return "its status function did not return before the check's deadline"
        error = call.exception()
        if error is not None:
            return f"its status function {describe_error(error)}"
        return None

    # --- calls -------------------------------------------------------------------------------

    def _check(self, method: str, kinds: Iterable[str], values: Mapping[str, Any]) -> None:
        """Refuse, before anything runs, ``values`` that a function of ``kinds`` lacks or
        that would hide what the manager gives."""
        hidden = sorted(set(values) & {*GIVEN, *self._declared})
        if hidden:
            raise TypeError(
                f"{method}() was given {', '.join(hidden)}: the manager gives functions those "
                f"names itself ({', '.join(GIVEN)}, and each resource's state by its name)"
            )
        for declared in self._declared.values():
            for kind in kinds:
                function = declared.function(kind)
                if function is None:
                    continue
                missing = [
                    name
                    for name in function.names
                    if name not in GIVEN and name not in declared.after and name not in values
                ]
                if missing:
                    raise TypeError(
                        f"the {kind} function of resource {declared.name!r} "
                        f"({_where(function.function)}) takes {', '.join(missing)}, which "
                        f"{method}() was not given; pass {missing[0]}=…"
                    )

    async def _call(
        self,
        kind: str,
        name: str,
        ctx: Context,
        created: _Created,
        values: Mapping[str, Any],
    ) -> None:
        declared = self._declared[name]
        function = declared.function(kind)
        if function is None:
            return
        given = {**values, "ctx": ctx, "state": created[name]}
        for dependency in declared.after:
            # A state written by hand may lack it; the declared order cannot.
            given[dependency] = created.get(dependency)
        await function(given)


def _check_references(declared: DeclaredResource, every: Mapping[str, DeclaredResource]) -> None:
    names = ", ".join(every)
    for dependency in declared.after:
        if dependency not in every:
            raise ValueError(
                f"resource {declared.name!r} comes after {dependency!r}, which is not declared "
                f"(declared: {names})"
            )
    if declared.parent and declared.parent not in every:
        raise ValueError(
            f"the parent of resource {declared.name!r}, {declared.parent!r}, is not declared "
            f"(declared: {names})"
        )
    for kind in KINDS:
        function = declared.function(kind)
        if function is None:
            continue
        for argument in function.names:
            if argument in every and argument not in declared.after:
                raise ValueError(
                    f"the {kind} function of resource {declared.name!r} "
                    f"({_where(function.function)}) takes {argument!r}, a resource it does not "
                    f"come after: add after=[{argument!r}] (its own state is `state`)"
                )


def _creation_order(declared: Mapping[str, DeclaredResource]) -> tuple[str, ...]:
    order: list[str] = []
    waiting = list(declared)
    while waiting:
        ready = next((n for n in waiting if all(d in order for d in declared[n].after)), None)
        if ready is None:
            cycle = _cycle(waiting[0], lambda n: next(d for d in declared[n].after if d in waiting))
            assert cycle is not None, "a resource that waits, waits for another that waits"
            raise ValueError(f"resources come after each other in a cycle: {' → '.join(cycle)}")
        order.append(ready)
        waiting.remove(ready)
    return tuple(order)


def _cycle(start: str, step: Callable[[str], str | None]) -> list[str] | None:
    """The loop that following ``step`` from ``start`` runs into, from its first name back to
    it; ``None`` when the steps end."""
    path = [start]
    while (following := step(path[-1])) is not None:
        if following in path:
            return [*path[path.index(following) :], following]
        path.append(following)
    return None


def _budget(ctx: Context) -> float | None:
    """How long status functions may run: the time ``ctx`` has left, less a margin."""
    remaining = ctx.remaining()
    if remaining is None:
        return None
    return remaining - min(_MARGIN_CAP, remaining * _MARGIN_SHARE)


def _run_sync(method: str, main: Coroutine[Any, Any, _T]) -> _T:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return run_abandoning(main)
    main.close()
    raise RuntimeError(
        f"ResourceManager.{method}() cannot run inside an event loop (an async hook): "
        f"use `await manager.a{method}(...)`"
    )
