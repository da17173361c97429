"""A platform of two resources on the resource manager, ``first`` and ``second`` (after it):
each a file in the config's ``directory``. With ``hold = true``, the create of ``second``
writes ``DIR/second.waiting`` and then waits, so that a test can kill the command between
the two creates without timing it."""

from __future__ import annotations

import os
from typing import Any

import attrs

from waypoint_hooks import Context, Health, Resource, StatusReport, hookimpl
from waypoint_hooks.resources import ResourceManager, resource

#: A guard against hanging the suite when the test never kills the command, not a timing.
_GUARD = 120.0


@attrs.define
class File:
    path: str = ""


def _make(name: str, config: dict[str, Any], state: File) -> None:
    state.path = os.path.join(config["directory"], name)
    with open(state.path, "w", encoding="utf-8") as file:
        file.write(name)


def make_first(config: dict[str, Any], state: File) -> None:
    _make("first", config, state)


def make_second(ctx: Context, config: dict[str, Any], state: File) -> None:
    if config.get("hold"):
        open(os.path.join(config["directory"], "second.waiting"), "w").close()
        ctx.wait(_GUARD)
    _make("second", config, state)


def remove(state: File) -> None:
    # Blank when the command died during its create: nothing was recorded to remove.
    if state.path:
        os.remove(state.path)


def exists(state: File, resource: Resource) -> None:
    resource.health = Health.READY if os.path.exists(state.path) else Health.MISSING


RESOURCES = ResourceManager(
    resource("first", create=make_first, destroy=remove, status=exists, state=File),
    resource(
        "second", create=make_second, destroy=remove, status=exists, state=File, after=["first"]
    ),
)


@hookimpl
def platform_deploy_func(ctx: Context, config: dict[str, Any]) -> dict[str, Any]:
    return RESOURCES.create_all(ctx, config=config)


@hookimpl
def platform_status_func(ctx: Context, deployment: dict[str, Any]) -> StatusReport:
    return RESOURCES.status_report(ctx, deployment)


@hookimpl
def platform_destroy_func(ctx: Context, deployment: dict[str, Any]) -> None:
    RESOURCES.destroy_all(ctx, deployment)
