"""A platform whose deploy checkpoints, then SIGKILLs the launcher that runs it: run isolated,
its parent is the launcher. What was checkpointed must be in the state all the same."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from waypoint_hooks import Context, JobInfo, hookimpl


@hookimpl
def platform_deploy_func(ctx: Context, job_info: JobInfo) -> Any:
    ctx.checkpoint({"made": job_info.id})
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(60)  # the launcher's death ends this worker (its parent-death signal)
    return {"made": job_info.id}


@hookimpl
def platform_status_func() -> None:
    return None


@hookimpl
def platform_destroy_func(deployment: dict[str, Any]) -> None:
    with open("destroyed", "a", encoding="utf-8") as file:
        file.write(f"{deployment['made']}\n")
