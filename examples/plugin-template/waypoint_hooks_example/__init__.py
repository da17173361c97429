"""The ``example`` plugin: a platform and a release manager for waypoint-hooks.

The platform deploys an app as an instance (a marker file) in a directory of its own: two
resources, which the resource manager creates in order, checkpoints as it goes, removes again
if a create fails, reports, and destroys in reverse; the overall health is left to the app's
status policy. The release manager points a pointer file at the released deployment.

To make it yours, replace the file operations with calls to your platform: the hooks, the
typed config and the resources stay as they are.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import Any

import attrs
from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Health,
    JobInfo,
    Resource,
    StatusReport,
    hookimpl,
)
from waypoint_hooks.resources import ResourceManager, resource
from waypoint_hooks.terminal import STATUS_WARN, UI


@attrs.define
class PlatformConfig:
    """The ``use "example" { ... }`` block of an app's ``deploy``."""

    #: Where deployments go; relative paths are relative to waypoint.hcl.
    directory: str


# Each resource's state: what its create function made, stored with the deployment and given
# back to its status and destroy functions. Every field has a default: create fills it in.


@attrs.define
class Directory:
    path: str = ""


@attrs.define
class Instance:
    path: str = ""


def _make_directory(job_info: JobInfo, config: PlatformConfig, state: Directory) -> None:
    state.path = os.path.abspath(os.path.join(config.directory, f"{job_info.app}-{job_info.id}"))
    os.makedirs(state.path, exist_ok=True)


def _remove_directory(state: Directory, ui: UI) -> None:
    # A destroy function may get a blank state: the command died before its create ran.
    if state.path and os.path.isdir(state.path):
        os.rmdir(state.path)  # empty: the instance in it was destroyed first
        ui.output("Removed %s", state.path)


def _directory_status(state: Directory, resource: Resource) -> None:
    resource.id = state.path  # the instance's parent_resource_id follows
    if os.path.isdir(state.path):
        resource.health = Health.READY
    else:
        resource.health, resource.health_message = Health.MISSING, "the directory is gone"


def _start_instance(job_info: JobInfo, directory: Directory, state: Instance, ui: UI) -> None:
    step = ui.step_group().add("Starting the instance...")
    state.path = os.path.join(directory.path, "instance")
    with open(state.path, "w", encoding="utf-8") as file:
        file.write(job_info.app)
    step.update("Instance started")
    step.done()


def _stop_instance(state: Instance, ui: UI) -> None:
    if state.path and os.path.exists(state.path):
        os.remove(state.path)
        ui.output("Stopped the instance")


def _instance_status(state: Instance, resource: Resource) -> None:
    resource.id = state.path
    try:
        stat = os.stat(state.path)
    except FileNotFoundError:
        resource.health, resource.health_message = Health.MISSING, "the instance's file is gone"
        return
    resource.health, resource.health_message = Health.READY, "running"
    resource.created_time = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
    resource.state_json = json.dumps({"path": state.path, "bytes": stat.st_size})


#: The platform's resources: the instance is created after the directory it lives in, shown
#: under it, and destroyed before it.
PLATFORM = ResourceManager(
    resource(
        "directory",
        create=_make_directory,
        destroy=_remove_directory,
        status=_directory_status,
        state=Directory,
        category_display_hint=CategoryDisplayHint.INSTANCE_MANAGER,
    ),
    resource(
        "instance",
        create=_start_instance,
        destroy=_stop_instance,
        status=_instance_status,
        state=Instance,
        after=["directory"],
        parent="directory",
        category_display_hint=CategoryDisplayHint.INSTANCE,
    ),
)


@hookimpl
def platform_deploy_func(
    ctx: Context, job_info: JobInfo, config: PlatformConfig, ui: UI
) -> dict[str, Any]:
    # The manager's state is the deployment: status, destroy and release get it back.
    return PLATFORM.create_all(ctx, job_info=job_info, config=config, ui=ui)


@hookimpl
def platform_status_func(ctx: Context, deployment: dict[str, Any], ui: UI) -> StatusReport:
    step = ui.step_group().add("Checking the deployment...")
    report = PLATFORM.status_report(ctx, deployment)
    ready = sum(resource.health is Health.READY for resource in report.resources)
    step.update("%d of %d resources are ready", ready, len(report.resources))
    if ready < len(report.resources):
        step.status(STATUS_WARN)
    step.done()
    # No report.health: the app's status policy (waypoint, worst or threshold, as its
    # waypoint.hcl says) rolls the resources up into one health.
    return report


@hookimpl
def platform_destroy_func(ctx: Context, deployment: dict[str, Any], ui: UI) -> None:
    PLATFORM.destroy_all(ctx, deployment, ui=ui)


@attrs.define
class ReleaseConfig:
    """The ``use "example" { ... }`` block of an app's ``release``."""

    #: The pointer file; by default APP.current beside the deployments.
    pointer: str = ""


@attrs.define
class Release:
    pointer: str
    target: str


@hookimpl
def release_manager_release_func(
    job_info: JobInfo, config: ReleaseConfig, deployment: dict[str, Any], ui: UI
) -> Release:
    directory = PLATFORM.load(deployment)["directory"].path
    default = os.path.join(os.path.dirname(directory), f"{job_info.app}.current")
    pointer = os.path.abspath(config.pointer or default)
    # Written beside it, then renamed over it: a reader sees the old release or the new one.
    staging = f"{pointer}.tmp"
    with open(staging, "w", encoding="utf-8") as file:
        file.write(directory)
    os.replace(staging, pointer)
    ui.output("%s points at %s", pointer, directory)
    return Release(pointer=pointer, target=directory)


@hookimpl
def release_manager_status_func(release: Release) -> StatusReport:
    health, message = _pointer_health(release)
    pointer = Resource(
        name=os.path.basename(release.pointer),
        id=release.pointer,
        type="pointer",
        category_display_hint=CategoryDisplayHint.ROUTER,
        health=health,
        health_message=message,
    )
    # One resource: its health is the release's, said here rather than left to the policy.
    return StatusReport(resources=[pointer], health=health, health_message=message)


def _pointer_health(release: Release) -> tuple[Health, str]:
    target = _read_pointer(release.pointer)
    if target is None:
        return Health.MISSING, f"{release.pointer} does not exist"
    if target != release.target:
        return Health.DOWN, f"it points at {target}, not at this release"
    if not os.path.isdir(target):
        return Health.DOWN, f"the deployment it points at, {target}, is gone"
    return Health.READY, f"points at {target}"


def _read_pointer(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return None


@hookimpl
def release_manager_destroy_func(release: Release, ui: UI) -> None:
    target = _read_pointer(release.pointer)
    if target is None:
        ui.output("%s was already gone", release.pointer)
    elif target != release.target:
        ui.output("%s points at another release; left as it is", release.pointer)
    else:
        os.remove(release.pointer)
        ui.output("Removed %s", release.pointer)
