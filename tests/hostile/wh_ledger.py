"""A wrapper of every plugin's deploy, release and destroy hooks that notes each call that
finished, as ``HOOK ID`` (the id of the job: the record's), in the file ``WH_LEDGER`` names:
what the state must then hold, whatever signal ends the command afterwards."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

from waypoint_hooks import JobInfo, hookimpl


def _note(hook: str, job_info: JobInfo) -> None:
    with open(os.environ["WH_LEDGER"], "a", encoding="utf-8") as ledger:
        ledger.write(f"{hook} {job_info.id}\n")


@hookimpl(wrapper=True)
def platform_deploy_func(job_info: JobInfo) -> Generator[None, Any, Any]:
    value = yield
    _note("deploy", job_info)
    return value


@hookimpl(wrapper=True)
def release_manager_release_func(job_info: JobInfo) -> Generator[None, Any, Any]:
    value = yield
    _note("release", job_info)
    return value


@hookimpl(wrapper=True)
def platform_destroy_func(job_info: JobInfo) -> Generator[None, Any, Any]:
    value = yield
    _note("destroy", job_info)
    return value
