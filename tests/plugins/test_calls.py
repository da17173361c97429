"""The call loop: each call's context, wrappers that misbehave, and what is left behind when
a call times out (DESIGN §4, §9)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import pytest

from waypoint_hooks import Health, JobInfo, StatusReport, Target, hookimpl
from waypoint_hooks.host import PluginManager, Runner, StatusCheck

#: A request id, as a tracing or logging library keeps it for the code that runs on its behalf.
REQUEST: ContextVar[str] = ContextVar("REQUEST", default="none")

status = hookimpl(specname="platform_status_func")
wrapper = hookimpl(wrapper=True, specname="platform_status_func")


def register(manager: PluginManager, name: str, *functions: Callable[..., Any]) -> None:
    plugin = manager.register(SimpleNamespace(**{f.__name__: f for f in functions}), name)
    assert plugin.error is None, plugin.error


def check(manager: PluginManager, plugin: str = "web", timeout: float = 5.0) -> StatusReport:
    target = Target("web", "deployment", "d1", plugin)
    (report,) = Runner(manager, timeout=timeout).run(
        [StatusCheck(target, JobInfo("demo", "web"), {}, {})]
    )
    return report


def reporting(message: str) -> StatusReport:
    return StatusReport(health=Health.READY, health_message=message)


def line_of(function: Callable[..., Any]) -> str:
    return f"{__file__}:{inspect.getsourcelines(function)[1]}"


@pytest.fixture
def request_id() -> Iterator[str]:
    """The test's own context holds a request id while the test runs."""
    token = REQUEST.set("req-1")
    yield "req-1"
    REQUEST.reset(token)


# --- context variables -----------------------------------------------------------------


@pytest.mark.usefixtures("request_id")
def test_a_sync_hook_sees_the_context_variables_of_its_caller(manager: PluginManager) -> None:
    @status
    def reads() -> StatusReport:
        return reporting(REQUEST.get())

    register(manager, "web", reads)
    assert check(manager).health_message == "req-1"


def test_what_a_sync_hook_sets_in_its_context_is_gone_in_the_next_call(
    manager: PluginManager,
) -> None:
    @status
    def sets() -> StatusReport:
        seen = REQUEST.get()
        REQUEST.set("left over")
        return reporting(seen)

    register(manager, "web", sets)
    # Sync hooks run on reused worker threads: several calls, so that one lands on a thread
    # an earlier call used.
    assert [check(manager).health_message for _ in range(5)] == ["none"] * 5


@pytest.mark.usefixtures("request_id")
def test_a_wrapper_and_the_async_hook_it_wraps_share_the_callers_context(
    manager: PluginManager,
) -> None:
    @wrapper
    def tags() -> Generator[None, Any, Any]:
        REQUEST.set(f"{REQUEST.get()} tagged")
        report = yield
        report.health_message += f", then {REQUEST.get()}"
        return report

    @status
    async def reads() -> StatusReport:
        seen = REQUEST.get()
        REQUEST.set("set by the hook")
        return reporting(seen)

    register(manager, "tagger", tags)
    register(manager, "web", reads)
    assert check(manager).health_message == "req-1 tagged, then set by the hook"


# --- wrappers that misbehave -----------------------------------------------------------


def test_a_wrapper_that_does_not_yield_is_named_with_its_file_and_line(
    manager: PluginManager,
) -> None:
    @wrapper
    def lazy() -> Generator[None, Any, Any]:
        return (yield from ())

    @status
    def ready() -> StatusReport:
        return reporting("checked")

    register(manager, "lazy", lazy)
    register(manager, "web", ready)
    message = check(manager).health_message
    assert message == (
        "plugin 'web' platform_status_func raised RuntimeError: "
        f"wrapper 'lazy' ({line_of(lazy)}) did not yield"
    )


def test_a_wrapper_that_yields_twice_is_named_with_its_file_and_line(
    manager: PluginManager,
) -> None:
    @wrapper
    def twice() -> Generator[None, Any, Any]:
        yield
        yield

    @status
    def ready() -> StatusReport:
        return reporting("checked")

    register(manager, "twice", twice)
    register(manager, "web", ready)
    message = check(manager).health_message
    assert message == (
        "plugin 'web' platform_status_func raised RuntimeError: "
        f"wrapper 'twice' ({line_of(twice)}) yielded twice; it must yield exactly once"
    )


def test_a_wrapper_that_yields_twice_is_closed_before_the_wrappers_around_it_end(
    manager: PluginManager,
) -> None:
    events: list[str] = []

    @hookimpl(wrapper=True, specname="platform_status_func", tryfirst=True)
    def outer() -> Generator[None, Any, Any]:
        try:
            return (yield)
        finally:
            events.append("outer ended")

    @wrapper
    def twice() -> Generator[None, Any, Any]:
        try:
            yield
            yield
        finally:
            events.append("twice closed")

    @status
    def ready() -> StatusReport:
        return reporting("checked")

    register(manager, "outer", outer)
    register(manager, "twice", twice)
    register(manager, "web", ready)
    assert "yielded twice" in check(manager).health_message
    assert events == ["twice closed", "outer ended"]


# --- what a timed-out call leaves behind -----------------------------------------------


async def _call_async() -> None:
    """A plugin's own coroutine, which happens to have the name of the framework's."""
    await asyncio.sleep(3600)


def destroyed_pending(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if "Task was destroyed but it is pending" in record.getMessage()
    ]


def test_a_task_a_plugin_leaves_pending_is_reported_whatever_its_coroutine_is_called(
    manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    spawned: list[asyncio.Task[None]] = []

    @status
    async def spawns() -> StatusReport:
        spawned.append(asyncio.ensure_future(_call_async()))
        return reporting("checked")

    register(manager, "web", spawns)
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert check(manager).health is Health.READY
        spawned.clear()
        gc.collect()
    (message,) = destroyed_pending(caplog)
    assert "_call_async()" in message


def test_a_timed_out_task_left_pending_is_not_reported(
    manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    @status
    async def stubborn() -> StatusReport:
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    register(manager, "web", stubborn)
    gc.collect()  # what earlier tests left behind is not this test's
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        assert "timed out" in check(manager, timeout=0.1).health_message
        gc.collect()
    assert destroyed_pending(caplog) == []


def test_a_sync_check_still_running_after_its_timeout_is_not_started_again(
    manager: PluginManager,
) -> None:
    release = threading.Event()
    started: list[str] = []

    @status
    def stuck() -> StatusReport:
        started.append("started")
        release.wait(60)
        return reporting("returned at last")

    register(manager, "web", stuck)
    try:
        assert "timed out" in check(manager, timeout=0.1).health_message
        assert "is still running" in check(manager, timeout=0.1).health_message
        assert started == ["started"]
    finally:
        release.set()
    # Once the stuck call has returned, the next check starts the hook again.
    deadline = time.monotonic() + 30
    while "is still running" in (message := check(manager).health_message):
        assert time.monotonic() < deadline, "the stuck call never counted as returned"
        time.sleep(0.01)
    assert message == "returned at last"
    assert started == ["started", "started"]
