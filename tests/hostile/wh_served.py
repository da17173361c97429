"""A platform and release manager for the tests of ``serve``: each status check writes when
it started and ended to a ledger, and reports what files and settings say.

Config (all optional): ``ledger`` (a directory: each check appends ``START END PID`` to
``LEDGER/APP.KIND``, in ``time.monotonic()`` seconds, the clock every process shares),
``sleep`` (seconds a check takes), ``gate`` (a directory: a check writes
``GATE/APP.KIND.PID.waiting`` and waits until ``GATE/open`` exists), ``health_file`` (a file
holding the health to report; READY when it is missing; ``{site}`` in it is the environment's
``WH_SERVED_SITE``, so that instances in several locations see several healths), ``message``
(the report's ``health_message``), ``resources`` (report a service and a pod under it), ``fail``
(``raise``, ``hang`` or ``invalid``).

With ``WH_SERVED_IMPORT_GATE`` (a directory) in its environment, an isolated worker's import of
this module writes ``GATE/import.PID.waiting`` and waits until ``GATE/open`` exists: a worker
held inside its import (the launcher's own import is not held).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from waypoint_hooks import Health, JobInfo, Resource, StatusReport, hookimpl

#: A guard against hanging the suite when a test never opens the gate, not a timing.
_GUARD = 120.0


def _wait_for(gate: Path, waiting: str) -> None:
    (gate / waiting).touch()
    deadline = time.monotonic() + _GUARD
    while not (gate / "open").exists() and time.monotonic() < deadline:
        time.sleep(0.01)


_main = getattr(sys.modules["__main__"], "__spec__", None)
if "WH_SERVED_IMPORT_GATE" in os.environ and getattr(_main, "name", "").endswith(".isolation"):
    _wait_for(Path(os.environ["WH_SERVED_IMPORT_GATE"]), f"import.{os.getpid()}.waiting")


def _check(config: dict[str, Any], job_info: JobInfo, kind: str) -> Any:
    started = time.monotonic()
    name = f"{job_info.app}.{kind}"
    if "gate" in config:
        _wait_for(Path(config["gate"]), f"{name}.{os.getpid()}.waiting")
    time.sleep(float(config.get("sleep", 0)))
    failure = config.get("fail")
    if failure == "raise":
        raise RuntimeError("the platform API answered 500")
    if failure == "hang":
        time.sleep(_GUARD)
    if "ledger" in config:
        with open(Path(config["ledger"]) / name, "a", encoding="utf-8") as file:
            file.write(f"{started} {time.monotonic()} {os.getpid()}\n")
    if failure == "invalid":
        return {"health": "READY"}
    # {site} in its name: the instance's own file (WH_SERVED_SITE), as where it checks from.
    site = os.environ.get("WH_SERVED_SITE", "")
    health_file = Path(config.get("health_file", os.devnull + ".absent").format(site=site))
    health = Health[health_file.read_text().strip()] if health_file.exists() else Health.READY
    resources = []
    if config.get("resources"):
        resources = [
            Resource(name=f"{job_info.app}-service", id="svc", type="service", health=health),
            Resource(
                name=f"{job_info.app}-pod",
                id="pod",
                parent_resource_id="svc",
                type="pod",
                health=health,
                health_message=config.get("message", ""),
            ),
        ]
    return StatusReport(
        resources=resources, health=health, health_message=config.get("message", "")
    )


@hookimpl
def platform_deploy_func() -> dict[str, Any]:
    return {"deployed": True}


@hookimpl
def platform_status_func(config: dict[str, Any], job_info: JobInfo) -> Any:
    return _check(config, job_info, "deployment")


@hookimpl
def platform_destroy_func() -> None:
    return None


@hookimpl
def release_manager_release_func() -> dict[str, Any]:
    return {"released": True}


@hookimpl
def release_manager_status_func(config: dict[str, Any], job_info: JobInfo) -> Any:
    return _check(config, job_info, "release")


@hookimpl
def release_manager_destroy_func() -> None:
    return None
