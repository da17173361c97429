"""The hook specifications: what platform, release-manager and notifier plugins implement.

Each hook is called with keyword arguments only, and an implementation declares only the
arguments it needs. ``config``, ``deployment`` and ``release`` arrive structured into the attrs
class the implementation's parameter annotation names (a plain ``dict`` when unannotated). Any
component hook may be ``async def``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .plugins.markers import hookspec

if TYPE_CHECKING:
    from .model.alert import Alert
    from .model.report import StatusReport
    from .plugins.context import Context, JobInfo, Target
    from .terminal import UI


@hookspec(firstresult=True)
def platform_deploy_func(ctx: Context, job_info: JobInfo, ui: UI, config: Any) -> Any:
    """Deploy the app; return the deployment value (an attrs instance or a mapping).

    The value is stored as JSON and given back to the status and destroy hooks as
    ``deployment``.
    """


@hookspec(firstresult=True)
def platform_status_func(
    ctx: Context,
    job_info: JobInfo,
    ui: UI,
    config: Any,
    deployment: Any,
    last_report: StatusReport | None,
) -> StatusReport:
    """Report the health of ``deployment`` and of its resources.

    ``last_report`` is the previous finalized report of this deployment, or ``None``. Set
    ``external = True`` when the platform, not the plugin, did the health check.
    """


@hookspec(firstresult=True)
def platform_destroy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: Any, deployment: Any
) -> None:
    """Destroy ``deployment``; it is never checked again."""


@hookspec(firstresult=True)
def release_manager_release_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: Any, deployment: Any
) -> Any:
    """Release ``deployment`` (make it reachable); return the release value."""


@hookspec(firstresult=True)
def release_manager_status_func(
    ctx: Context,
    job_info: JobInfo,
    ui: UI,
    config: Any,
    release: Any,
    deployment: Any,
    last_report: StatusReport | None,
) -> StatusReport:
    """Report the health of ``release`` and of its resources."""


@hookspec(firstresult=True)
def release_manager_destroy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: Any, release: Any
) -> None:
    """Destroy ``release``; it is never checked again."""


@hookspec
def status_report_generated(
    job_info: JobInfo, target: Target, report: StatusReport, previous: StatusReport | None
) -> None:
    """Observe every finalized report, with the previous one of the same target.

    Called on every plugin that implements it, after the report is finalized. An observer that
    raises is reported and does not affect the report or the other observers.
    """


@hookspec(firstresult=True)
def notifier_send(ctx: Context, job_info: JobInfo, config: Any, alert: Alert) -> None:
    """Send ``alert`` where the ``notify`` block's ``config`` says: a webhook, a chat, a pager.

    Return when it was delivered; raise when it was not, and the framework tries again later,
    with backoff. Each attempt is recorded, and an alert is sent until one attempt returns
    (at least once: a receiver may see one twice). ``ctx.deadline`` bounds the attempt.
    """
