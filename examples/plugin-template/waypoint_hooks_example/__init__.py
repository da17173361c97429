"""The ``example`` plugin: a platform and a release manager for waypoint-hooks.

The platform deploys an app as instances, one marker file each, in a directory of their own;
its status check reports the directory and every instance as resources and leaves the overall
health to the app's status policy. The release manager points a pointer file at the released
deployment.

To make it yours, replace the file operations with calls to your platform: the hooks, the
typed config and the resources stay as they are.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone

import attrs
from waypoint_hooks import CategoryDisplayHint, Health, JobInfo, Resource, StatusReport, hookimpl
from waypoint_hooks.terminal import STATUS_WARN, UI


@attrs.define
class PlatformConfig:
    """The ``use "example" { ... }`` block of an app's ``deploy``."""

    #: Where deployments go; relative paths are relative to waypoint.hcl.
    directory: str
    #: How many instances a deployment runs.
    instances: int = attrs.field(default=2, validator=attrs.validators.ge(1))


@attrs.define
class Deployment:
    """A deployment, as waypoint-hooks stores it and gives it back to status and destroy."""

    directory: str
    instances: list[str]


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
def platform_deploy_func(job_info: JobInfo, config: PlatformConfig, ui: UI) -> Deployment:
    directory = os.path.abspath(os.path.join(config.directory, f"{job_info.app}-{job_info.id}"))
    os.makedirs(directory, exist_ok=True)
    steps = ui.step_group()
    instances = []
    for number in range(1, config.instances + 1):
        step = steps.add("Starting instance %d...", number)
        name = f"instance-{number}"
        with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
            file.write(job_info.app)
        instances.append(name)
        step.update("Instance %d started", number)
        step.done()
    return Deployment(directory=directory, instances=instances)


@hookimpl
def platform_status_func(deployment: Deployment, ui: UI) -> StatusReport:
    step = ui.step_group().add("Checking %d instances...", len(deployment.instances))
    report = StatusReport(resources=[_directory(deployment.directory)])
    report.resources += [_instance(deployment.directory, name) for name in deployment.instances]
    ready = sum(resource.health is Health.READY for resource in report.resources[1:])
    step.update("%d of %d instances are ready", ready, len(deployment.instances))
    if ready < len(deployment.instances):
        step.status(STATUS_WARN)
    step.done()
    # No report.health: the app's status policy (waypoint, worst or threshold, as its
    # waypoint.hcl says) rolls the resources up into one health.
    return report


def _directory(path: str) -> Resource:
    exists = os.path.isdir(path)
    return Resource(
        name=os.path.basename(path),
        id=path,
        type="directory",
        category_display_hint=CategoryDisplayHint.INSTANCE_MANAGER,
        health=Health.READY if exists else Health.MISSING,
        health_message="" if exists else "the deployment's directory is gone",
    )


def _instance(directory: str, name: str) -> Resource:
    path = os.path.join(directory, name)
    instance = Resource(
        name=name,
        id=path,
        parent_resource_id=directory,
        type="instance",
        category_display_hint=CategoryDisplayHint.INSTANCE,
    )
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        instance.health, instance.health_message = Health.MISSING, "the instance's file is gone"
        return instance
    instance.health, instance.health_message = Health.READY, "running"
    instance.created_time = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
    instance.state_json = json.dumps({"path": path, "bytes": stat.st_size})
    return instance


@hookimpl
def platform_destroy_func(deployment: Deployment, ui: UI) -> None:
    if not os.path.isdir(deployment.directory):
        ui.output("%s was already gone", deployment.directory)
        return
    shutil.rmtree(deployment.directory)
    ui.output("Removed %s", deployment.directory)


@hookimpl
def release_manager_release_func(
    job_info: JobInfo, config: ReleaseConfig, deployment: Deployment, ui: UI
) -> Release:
    default = os.path.join(os.path.dirname(deployment.directory), f"{job_info.app}.current")
    pointer = os.path.abspath(config.pointer or default)
    # Written beside it, then renamed over it: a reader sees the old release or the new one.
    staging = f"{pointer}.tmp"
    with open(staging, "w", encoding="utf-8") as file:
        file.write(deployment.directory)
    os.replace(staging, pointer)
    ui.output("%s points at %s", pointer, deployment.directory)
    return Release(pointer=pointer, target=deployment.directory)


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
