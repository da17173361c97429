"""The call loop: each call's context, wrappers that misbehave, and what is left behind when
a call times out (DESIGN §4, §9)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from waypoint_hooks import Context, Health, JobInfo, StatusReport, Target, hookimpl
from waypoint_hooks.host import PluginManager, Runner, StatusCheck
from waypoint_hooks.plugins.workers import run_abandoning

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


def a_check(plugin: str = "web") -> StatusCheck:
    return StatusCheck(Target("web", "deployment", "d1", plugin), JobInfo("demo", "web"), {}, {})


def test_a_check_cancelled_by_its_caller_leaves_a_hook_that_ignores_it_behind(
    manager: PluginManager,
) -> None:
    contexts: list[Context] = []

    @status
    async def stubborn(ctx: Context) -> StatusReport:
        contexts.append(ctx)
        while True:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    register(manager, "web", stubborn)

    async def cancelled_at_once() -> bool:
        checking = asyncio.ensure_future(Runner(manager, timeout=3600).check_all([a_check()]))
        while not contexts:
            await asyncio.sleep(0)
        checking.cancel()
        # Not awaited: it would hang this test if the cancellation were lost in the hook.
        await asyncio.wait({checking}, timeout=30)
        return checking.cancelled()

    assert run_abandoning(cancelled_at_once())
    assert contexts[0].cancelled


def test_a_hook_cleaning_up_after_its_timeout_is_not_waited_for_but_left_to_finish(
    manager: PluginManager,
) -> None:
    cleaned: list[str] = []

    @status
    async def cleans(ctx: Context) -> StatusReport:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()
            cleaned.append("cleaned up")
            raise
        return reporting("never")

    register(manager, "web", cleans)

    async def main() -> list[str]:
        (report,) = await Runner(manager, timeout=0.1).check_all([a_check()])
        assert "timed out" in report.health_message
        assert cleaned == []
        release.set()
        for _ in range(1000):
            if cleaned:
                break
            await asyncio.sleep(0)
        return cleaned

    release = asyncio.Event()
    assert run_abandoning(main()) == ["cleaned up"]


@pytest.mark.skipif(
    sys.version_info < (3, 11), reason="before 3.11 a task cannot tell its cancellation"
)
def test_an_async_hook_that_handles_a_cancellation_of_its_own_is_not_cut_short(
    manager: PluginManager,
) -> None:
    @status
    async def recovers() -> StatusReport:
        loop = asyncio.get_running_loop()
        own = loop.create_future()
        loop.call_soon(own.cancel)
        try:
            await own
        except asyncio.CancelledError:
            await asyncio.sleep(0)
            return reporting("recovered")
        return reporting("not cancelled")

    register(manager, "web", recovers)
    assert check(manager).health_message == "recovered"


def test_what_an_async_hook_sets_in_its_context_is_gone_in_the_next_check(
    manager: PluginManager,
) -> None:
    @status
    async def sets() -> StatusReport:
        seen = REQUEST.get()
        REQUEST.set("left over")
        await asyncio.sleep(0)
        return reporting(seen)

    register(manager, "web", sets)
    # One at a time: every check is run by the same worker, in its task.
    reports = Runner(manager, concurrency=1).run([a_check() for _ in range(3)])
    assert [report.health_message for report in reports] == ["none"] * 3


def test_a_status_check_gathers_the_arguments_its_request_would(
    manager: PluginManager,
) -> None:
    ctx = Context(5.0)
    for kind in ("deployment", "release"):
        target = Target("web", kind, "d1", "web")  # type: ignore[arg-type]
        made = StatusCheck(target, JobInfo("demo", "web"), {"a": 1}, {"d": 2}, {"r": 3})
        assert made.arguments(ctx) == made.request(5.0).arguments(ctx)


# --- deadlines: one heap of them a loop, under one timer -------------------------------


@status
async def hangs() -> StatusReport:
    await asyncio.Event().wait()
    return reporting("never")


def test_a_shorter_deadline_set_after_a_longer_one_still_expires_first(
    manager: PluginManager,
) -> None:
    @status
    async def waits(ctx: Context) -> StatusReport:
        await released.wait()
        return reporting(f"released, cancelled: {ctx.cancelled}")

    register(manager, "web", waits)
    ended: list[str] = []

    def done(check: StatusCheck, checked: Any) -> None:
        ended.append(f"{check.timeout}: {checked.report.health_message}")
        released.set()  # the long one ends once the short one has timed out

    long, short = attrs.evolve(a_check(), timeout=3600), attrs.evolve(a_check(), timeout=0.05)
    released = asyncio.Event()
    # Started in that order, so the short deadline comes after the timer is armed for the long.
    checking = Runner(manager, concurrency=2).check_all([long, short], on_done=done)
    run_abandoning(asyncio.wait_for(checking, 60))
    assert ended == [
        "0.05: plugin 'web' platform_status_func timed out after 50ms",
        "3600: released, cancelled: False",
    ]


def test_a_check_that_ended_is_not_expired_when_its_deadline_passes_later(
    manager: PluginManager,
) -> None:
    contexts: list[Context] = []

    @status
    async def hangs_unless_quick(ctx: Context) -> StatusReport:
        contexts.append(ctx)
        if len(contexts) > 1:
            await asyncio.Event().wait()
        return reporting("quick")

    register(manager, "web", hangs_unless_quick)
    # The quick one's deadline passes while the other still runs, before the other's own.
    quick, hangs = attrs.evolve(a_check(), timeout=0.05), attrs.evolve(a_check(), timeout=0.2)
    reports = Runner(manager, concurrency=1).run([quick, hangs])
    assert [r.health_message for r in reports] == [
        "quick",
        "plugin 'web' platform_status_func timed out after 200ms",
    ]
    assert [ctx.cancelled for ctx in contexts] == [False, True]


def test_checks_whose_deadlines_fall_together_all_time_out(manager: PluginManager) -> None:
    register(manager, "web", hangs)
    reports = Runner(manager, concurrency=100, timeout=0.05).run([a_check()] * 100)
    assert {r.health_message for r in reports} == {
        "plugin 'web' platform_status_func timed out after 50ms"
    }


def test_a_wrapper_that_takes_ctx_gets_one_though_the_hook_does_not(
    manager: PluginManager,
) -> None:
    seen: list[Context] = []

    @wrapper
    def watches(ctx: Context) -> Generator[None, Any, Any]:
        seen.append(ctx)
        return (yield)

    register(manager, "watcher", watches)
    register(manager, "web", hangs)
    assert "timed out" in check(manager, timeout=0.05).health_message
    assert [type(ctx) for ctx in seen] == [Context]
    assert seen[0].cancelled
