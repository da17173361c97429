"""Running status checks: concurrently, each with its timeout, in-process or isolated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, final

import attrs

from ._aggregate import DEFAULT_POLICY, Policy
from ._callers import HookFailed, HookTimeout, invoke
from ._context import Context, JobInfo, Target
from ._errors import PluginError
from ._isolate import invoke_isolated
from ._model import StatusReport, finalize, unknown_report
from ._plugins import PluginManager
from ._workers import run_abandoning
from .terminal import UI, WARNING_STYLE, SilentUI

__all__ = ["Runner", "StatusCheck"]

_STATUS_HOOK: Final = {
    "deployment": "platform_status_func",
    "release": "release_manager_status_func",
}


@final
@attrs.frozen
class StatusCheck:
    """One status check to run: a deployment's or a release's, with what it needs."""

    target: Target
    job_info: JobInfo
    config: Mapping[str, Any]
    deployment: Mapping[str, Any] | None
    release: Mapping[str, Any] | None = None
    last_report: StatusReport | None = None
    policy: Policy = DEFAULT_POLICY
    ui: UI = attrs.field(factory=SilentUI)
    #: Seconds this check may take; ``None`` for the runner's timeout.
    timeout: float | None = None
    #: Run the plugin in a process of its own (the app's ``isolate = true``).
    isolate: bool = False

    @property
    def hook(self) -> str:
        return _STATUS_HOOK[self.target.kind]


@final
class Runner:
    """Runs hooks of loaded plugins: status checks concurrently, each with a timeout."""

    def __init__(
        self,
        plugins: PluginManager,
        *,
        concurrency: int = 16,
        timeout: float | None = 30.0,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.plugins = plugins
        self.concurrency = concurrency
        self.timeout = timeout
        #: Told of each exception a plugin raised, before it becomes an UNKNOWN report.
        self.on_failure = on_failure

    def run(self, checks: Sequence[StatusCheck]) -> list[StatusReport]:
        """Run ``checks`` on a new event loop; one finalized report per check, in order."""
        return run_abandoning(self.check_all(checks))

    async def check_all(
        self,
        checks: Sequence[StatusCheck],
        on_done: Callable[[StatusCheck, StatusReport], None] | None = None,
    ) -> list[StatusReport]:
        """Run ``checks`` concurrently, at most ``concurrency`` at a time.

        ``on_done`` is called with each check and its report as soon as that check is done
        (in the event loop's thread), so output can follow progress.
        """
        slots = asyncio.Semaphore(self.concurrency)

        async def one(check: StatusCheck) -> StatusReport:
            async with slots:
                report = await self.check(check)
            await self._observe(check, report)
            if on_done is not None:
                on_done(check, report)
            return report

        return list(await asyncio.gather(*(one(check) for check in checks)))

    async def check(self, check: StatusCheck) -> StatusReport:
        """Run one check; whatever goes wrong becomes a finalized ``UNKNOWN`` report."""
        plugin = check.target.plugin
        timeout = self.timeout if check.timeout is None else check.timeout
        try:
            call = self.plugins.call(check.hook, plugin)
            values = {
                "ctx": Context(timeout),
                "job_info": check.job_info,
                "ui": check.ui,
                "config": check.config,
                "deployment": check.deployment,
                "release": check.release,
                "last_report": check.last_report,
            }
            if check.isolate:
                value = await invoke_isolated(call, self.plugins, values, timeout)
            else:
                value = await invoke(call, values, timeout, key=check.target.id)
        except (PluginError, HookFailed, HookTimeout) as exc:
            if isinstance(exc, HookFailed) and self.on_failure is not None:
                self.on_failure(exc)
            return finalize(unknown_report(str(exc)), plugin, check.policy)
        returned = f"plugin {plugin!r} {check.hook} returned"
        if not isinstance(value, StatusReport):
            what = "None" if value is None else f"a {type(value).__name__}"
            return finalize(
                unknown_report(f"{returned} {what}, not a StatusReport"), plugin, check.policy
            )
        try:
            return finalize(value, plugin, check.policy)
        except TypeError as exc:
            return finalize(
                unknown_report(f"{returned} an invalid report: {exc}"), plugin, check.policy
            )

    async def _observe(self, check: StatusCheck, report: StatusReport) -> None:
        values = {
            "job_info": check.job_info,
            "target": check.target,
            "report": report,
            "previous": check.last_report,
        }
        for call in self.plugins.observers("status_report_generated"):
            try:
                await invoke(call, values, self.timeout)
            except (HookFailed, HookTimeout) as exc:
                check.ui.output(f"observer {exc}", style=WARNING_STYLE)
