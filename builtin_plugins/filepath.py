"""``filepath``: Waypoint's example plugin. Deploys a file; releases it as a symlink.

The platform's status check is the seed's example, ported line for line.
"""

from __future__ import annotations

import os
import uuid

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Health,
    JobInfo,
    Resource,
    StatusReport,
    hookimpl,
    terminal,
)
from waypoint_hooks.terminal import UI


@attrs.define
class PlatformConfig:
    #: Where deployments' files are written (created if missing).
    directory: str = "."
    #: What each deployment's file contains.
    content: str = ""


@attrs.define
class Deployment:
    path: str


@attrs.define
class ReleaseConfig:
    #: The symlink that points at the released deployment; by default the app's name beside
    #: the deployment's file.
    link: str = ""


@attrs.define
class Release:
    link: str
    target: str


@hookimpl
def platform_deploy_func(
    ctx: Context, job_info: JobInfo, config: PlatformConfig, ui: terminal.UI
) -> Deployment:
    sg = ui.step_group()
    directory = os.path.abspath(config.directory)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{job_info.app}-{job_info.id or uuid.uuid4().hex[:12]}.txt")
    deployment = Deployment(path=path)
    # Before the file exists: a deploy cut short while writing it is still destroyed (destroy
    # takes a file that was never written in its stride).
    ctx.checkpoint(deployment)
    s = sg.add("Writing %s...", path)
    with open(path, "w", encoding="utf-8") as file:
        file.write(config.content)
    s.update("Wrote %s", path)
    s.done()
    return deployment


@hookimpl
def platform_status_func(deployment: Deployment, ui: terminal.UI) -> StatusReport:
    sg = ui.step_group()
    s = sg.add("Checking the status of the file...")
    report = StatusReport()
    report.external = False
    if os.path.exists(deployment.path):
        s.update("File is ready")
        report.health = Health.READY
    else:
        with ui.status() as st:
            st.step(terminal.STATUS_ERROR, "File is missing")
        s.status(terminal.STATUS_ERROR)
        report.health = Health.MISSING
    s.done()
    return report


@hookimpl
def platform_destroy_func(deployment: Deployment, ui: UI) -> None:
    try:
        os.remove(deployment.path)
    except FileNotFoundError:
        ui.output("%s was already gone", deployment.path)
    else:
        ui.output("Removed %s", deployment.path)
    # The directory that deploy made goes too, once nothing else is in it.
    directory = os.path.dirname(deployment.path)
    try:
        os.rmdir(directory)
    except OSError:  # not empty (or gone already): not only ours
        return
    ui.output("Removed %s, empty now", directory)


@hookimpl
def release_manager_release_func(
    ctx: Context, job_info: JobInfo, config: ReleaseConfig, deployment: Deployment, ui: UI
) -> Release:
    link = os.path.abspath(
        config.link or os.path.join(os.path.dirname(deployment.path), job_info.app)
    )
    release = Release(link=link, target=deployment.path)
    # Before the link points here, as deploy does before it writes.
    ctx.checkpoint(release)
    # Replace the link atomically: a reader sees the old release or the new one, never none.
    staging = f"{link}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(deployment.path, staging)
    os.replace(staging, link)
    ui.output("%s -> %s", link, deployment.path)
    return release


@hookimpl
def release_manager_status_func(release: Release) -> StatusReport:
    link = Resource(
        release.link,
        type="symlink",
        id=release.link,
        category_display_hint=CategoryDisplayHint.ROUTER,
    )
    if not os.path.islink(release.link):
        link.health, link.health_message = Health.MISSING, "the link does not exist"
    elif os.readlink(release.link) != release.target:
        link.health = Health.DOWN
        link.health_message = f"the link points at {os.readlink(release.link)}, not this release"
    elif not os.path.exists(release.target):
        link.health, link.health_message = Health.DOWN, f"{release.target} is missing"
    else:
        link.health, link.health_message = Health.READY, f"points at {release.target}"
    return StatusReport(resources=[link])


@hookimpl
def release_manager_destroy_func(release: Release, ui: UI) -> None:
    if os.path.islink(release.link) and os.readlink(release.link) == release.target:
        os.remove(release.link)
        ui.output("Removed %s", release.link)
    else:
        ui.output("%s no longer points at this release; left as it is", release.link)
