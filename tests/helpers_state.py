"""Writing to a state in tests: a store's write in a transaction of its own, and records made
in one call, as a command's lifecycle would make them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

__all__ = ["add_deployment", "add_release", "store_reports", "written"]

T = TypeVar("T")


def written(state: State, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``write(tx, *args, **kwargs)``, a store's write, in a transaction of its own."""

    def body(tx: Database) -> T:
        return write(tx, *args, **kwargs)

    return state.write(body)


def add_deployment(
    state: State, app: str, workspace: str, plugin: str, value: Mapping[str, Any]
) -> Record:
    """A new live deployment of ``app``, with the next sequence number: its intent, then its
    outcome, each in its own transaction."""
    record = written(state, state.records.begin, "deployment", app, workspace, plugin)
    return written(state, state.records.complete, record, value)


def add_release(
    state: State,
    app: str,
    workspace: str,
    plugin: str,
    deployment_id: str,
    value: Mapping[str, Any],
) -> Record:
    """A new live release of the deployment ``deployment_id`` of ``app``."""
    records = state.records
    record = written(state, records.begin, "release", app, workspace, plugin, deployment_id)
    return written(state, records.complete, record, value)
