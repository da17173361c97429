"""B1 to B3: the framework's own costs: dispatch, fan-out, and the report codec."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from types import SimpleNamespace

import attrs

from waypoint_hooks import (
    Health,
    JobInfo,
    Resource,
    StatusReport,
    Target,
    aggregate,
    finalize,
    hookimpl,
    report_from_json,
    report_to_json,
)
from waypoint_hooks.host import PluginManager, Runner, StatusCheck
from waypoint_hooks.model.wire import report_to_wire
from waypoint_hooks.plugins.callers import _call_sync
from waypoint_hooks.terminal import SilentUI

from ._measure import Row, interleaved, sized


@attrs.define
class Deployment:
    path: str


def _noop_plugin() -> SimpleNamespace:
    @hookimpl
    def platform_status_func(deployment: Deployment) -> StatusReport:
        return StatusReport(health=Health.READY)

    return SimpleNamespace(platform_status_func=platform_status_func)


def b1_dispatch() -> list[Row]:
    manager = PluginManager()
    manager.register(_noop_plugin(), "noop")
    job = JobInfo("bench", "app")
    ui = SilentUI()
    values = {
        "ctx": None,
        "job_info": job,
        "ui": ui,
        "config": {},
        "deployment": {"path": "/"},
        "release": None,
        "last_report": None,
    }

    def framework() -> None:
        # Dispatch (cached lookup), structuring of the stored deployment, the call through the
        # wrapper loop, and finalizing; thread and event-loop hand-offs are B2's subject.
        outcome = _call_sync(manager.call("platform_status_func", "noop"), values)
        finalize(outcome.value, "noop")

    hook = manager._pm.hook.platform_status_func
    deployment = Deployment("/")

    def raw() -> None:
        hook(ctx=None, job_info=job, ui=ui, config={}, deployment=deployment, last_report=None)

    seconds, baseline = interleaved(framework, raw, repeat=7, number=20_000)
    return [
        Row(
            "B1",
            "one status check of a no-op plugin (dispatch, structure, finalize)",
            seconds,
            "one raw pm.hook call",
            baseline,
            5.0,
        )
    ]


def _sleeper(kind: str) -> SimpleNamespace:
    if kind == "async":

        @hookimpl
        async def platform_status_func() -> StatusReport:
            await asyncio.sleep(0.05)
            return StatusReport(health=Health.READY)
    else:

        @hookimpl
        def platform_status_func() -> StatusReport:  # type: ignore[misc]
            time.sleep(0.05)
            return StatusReport(health=Health.READY)

    return SimpleNamespace(platform_status_func=platform_status_func)


def _fan_out(kind: str, checks: int, concurrency: int) -> float:
    manager = PluginManager()
    manager.register(_sleeper(kind), kind)
    batch = [
        StatusCheck(Target("app", "deployment", str(i), kind), JobInfo("bench", "app"), {}, {})
        for i in range(checks)
    ]
    runner = Runner(manager, concurrency=concurrency, timeout=60)
    start = time.perf_counter()
    reports = runner.run(batch)
    elapsed = time.perf_counter() - start
    assert all(r.health is Health.READY for r in reports), "a benchmark check failed"
    return elapsed


async def _bare_check() -> StatusReport:
    await asyncio.sleep(0.05)
    return StatusReport(health=Health.READY)


async def _bare_batch(checks: int) -> list[StatusReport]:
    return await asyncio.gather(*(asyncio.create_task(_bare_check()) for _ in range(checks)))


def _bare_fan_out(checks: int) -> float:
    """B2 async's checks without the framework: a task of bare asyncio for each hook, on a
    new loop as ``Runner.run`` makes one. Its 1,000 against its one is the floor of B2
    async's goal: no runner, however cheap, does better than the loop beneath it."""
    start = time.perf_counter()
    reports = asyncio.run(_bare_batch(checks))
    elapsed = time.perf_counter() - start
    assert len(reports) == checks
    return elapsed


def b2_fan_out() -> list[Row]:
    rounds = -(-1000 // 64)
    sync = min(_fan_out("sync", 1000, 64) for _ in range(3))
    # The runner and bare asyncio in turns, so that the load of the moment hits both alike.
    single, many, bare_single, bare_many = (float("inf"),) * 4
    for _ in range(3):
        single = min(single, _fan_out("async", 1, 1))
        bare_single = min(bare_single, _bare_fan_out(1))
        many = min(many, _fan_out("async", 1000, 1000))
        bare_many = min(bare_many, _bare_fan_out(1000))
    return [
        Row(
            "B2 sync",
            "1,000 sync checks of 50 ms, concurrency 64",
            sync,
            f"ideal: {rounds} rounds x 50 ms",
            rounds * 0.05,
            1.05,
        ),
        Row(
            "B2 async",
            "1,000 async checks of 50 ms, concurrency 1,000",
            many,
            "one async check",
            single,
            1.3,
        ),
        Row(
            "B2 floor",
            "1,000 bare asyncio tasks of 50 ms, no runner",
            bare_many,
            "one such task",
            bare_single,
            None,
        ),
        Row(
            "B2 /floor",
            "1,000 async checks of 50 ms, concurrency 1,000",
            many,
            "1,000 bare asyncio tasks of 50 ms",
            bare_many,
            None,
        ),
    ]


def _big_report(size: int) -> StatusReport:
    """A report shaped like the builtins' (issue 31 item 7): each resource with its times, a
    message and the ``state_json`` that docker, process and the http probe write."""
    now = datetime(2024, 5, 1, 12, 30, 15, 250000, tzinfo=timezone.utc)
    healths = list(Health)
    return StatusReport(
        resources=[
            Resource(
                f"pod-{i}",
                healths[i % 3 + 1],
                f"GET http://10.0.{i // 250}.{i % 250}:8080/healthz answered 200 OK in {i % 97} ms",
                id=f"pod-{i}",
                parent_resource_id=f"rs-{i // 100}",
                platform="kubernetes",
                type="pod",
                created_time=now,
                category_display_hint=2,
                state_json=json.dumps(
                    {
                        "pid": 1000 + i,
                        "command": f"python3 -m http.server {8000 + i % 1000}",
                        "status": 200,
                        "response_time_ms": i % 97,
                        "log": f"/var/log/pods/pod-{i}.log",
                    }
                ),
            )
            for i in range(size)
        ],
        health_message="every pod answered",
        generated_time=now,
    )


def b3_codec(size: int = sized(100_000, 100)) -> list[Row]:
    report = _big_report(size)
    plain = report_to_wire(report)
    text = json.dumps(plain, separators=(",", ":"))

    def encode() -> None:
        aggregate(report.resources)
        report_to_json(report)

    encode_s, dumps_s = interleaved(
        encode, lambda: json.dumps(plain, separators=(",", ":")), repeat=3
    )
    decode_s, loads_s = interleaved(
        lambda: report_from_json(text), lambda: json.loads(text), repeat=3
    )
    return [
        Row(
            "B3 encode",
            f"aggregate + encode a report of {size:,} resources",
            encode_s,
            "json.dumps of the same plain dicts",
            dumps_s,
            1.0,
        ),
        Row(
            "B3 decode",
            f"decode a report of {size:,} resources, each with its state_json",
            decode_s,
            "json.loads of the same text",
            loads_s,
            1.5,
        ),
    ]


BENCHMARKS = (b1_dispatch, b2_fan_out, b3_codec)
