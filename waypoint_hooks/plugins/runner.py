"""Running status checks: concurrently, each with its timeout, in-process or isolated."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple, cast, final

import attrs

from ..errors import HookFailed, HookTimeout, PluginError
from ..model.aggregate import DEFAULT_POLICY, Policy
from ..model.codec import unstructure_value
from ..model.limits import ReportLimits
from ..model.report import StatusReport, finalize, redact_report, unknown_report
from ..terminal import UI, WARNING_STYLE, SilentUI
from .callers import invoke
from .components import OBSERVER_HOOK, lifecycle_of
from .context import Context, JobInfo, Target
from .isolation import invoke_isolated
from .manager import PluginManager
from .request import HookRequest
from .signals import STOP
from .tracing import traced, tracing
from .workers import run_abandoning

__all__ = ["FAILURES", "Checked", "Failure", "Runner", "StatusCheck"]

#: Why a check has no report of the plugin's own: the plugin raised (or could not be loaded),
#: timed out, or returned something that is not a valid report.
Failure = Literal["raised", "timeout", "invalid"]
FAILURES: Final[tuple[Failure, ...]] = ("raised", "timeout", "invalid")


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
    #: How big its report may be.
    limits: ReportLimits = attrs.field(factory=ReportLimits)

    @property
    def hook(self) -> str:
        return lifecycle_of(self.target.kind).status

    @property
    def returned(self) -> str:
        """How a message about what the plugin returned begins."""
        return f"plugin {self.target.plugin!r} {self.hook} returned"

    def unknown(self, message: str) -> StatusReport:
        """The finalized ``UNKNOWN`` report that stands for this check, saying why."""
        return finalize(unknown_report(message), self.target.plugin, self.policy)

    def seconds(self, timeout: float | None) -> float | None:
        """Seconds this check may take: its own timeout, or else ``timeout``."""
        return timeout if self.timeout is None else self.timeout

    def request(self, timeout: float | None) -> HookRequest:
        """The status hook call this check makes, with ``timeout`` unless it has its own."""
        return HookRequest(
            self.hook,
            self.target.plugin,
            self.job_info,
            self.ui,
            self.config,
            self.deployment,
            self.release,
            self.last_report,
            timeout=self.seconds(timeout),
            isolate=self.isolate,
        )

    def arguments(self, ctx: Context | None) -> dict[str, Any]:
        """The keyword arguments of its status hook: those its request would gather
        (:meth:`HookRequest.arguments`), without making one."""
        arguments = {
            "ctx": ctx,
            "job_info": self.job_info,
            "ui": self.ui,
            "config": self.config,
            "deployment": self.deployment,
            "last_report": self.last_report,
        }
        if self.target.kind == "release":
            arguments["release"] = self.release
        return arguments


class Checked(NamedTuple):
    """What one check came to: its finalized report, why it failed if it did (the report is
    then ``UNKNOWN`` and says so), and how many seconds the plugin took."""

    report: StatusReport
    failure: Failure | None
    seconds: float


@final
class _Slots:
    """At most so many checks at once on one event loop, whichever ``check_all`` runs them.

    ``asyncio.Semaphore``, except that a check that finds a slot free pays a test and a
    decrement, not a coroutine and a scan of the waiters: a thousand checks pay it a
    thousand times.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self) -> bool:
        """Take a free slot, if there is one (and nobody waits for it)."""
        if self._free:
            self._free -= 1
            return True
        return False

    async def taken(self) -> None:
        """Wait for a slot, in turn: one given back is handed to the first waiting."""
        given = asyncio.get_running_loop().create_future()
        self._waiting.append(given)
        try:
            await given
        except asyncio.CancelledError:
            if given.done() and not given.cancelled():
                self.give()  # handed over, then cancelled before it was taken: passed on
            raise

    def give(self) -> None:
        """Give a slot back."""
        while self._waiting:
            waiting = self._waiting.popleft()
            if not waiting.done():
                waiting.set_result(None)
                return
        self._free += 1


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
        # One pool per event loop: a service that runs many check_all at once on its loop
        # keeps to ``concurrency`` over all of them.
        self._slots: tuple[asyncio.AbstractEventLoop, _Slots] | None = None

    def run(self, checks: Sequence[StatusCheck]) -> list[StatusReport]:
        """Run ``checks`` on a new event loop; one finalized report per check, in order."""
        return run_abandoning(self.check_all(checks))

    async def check_all(
        self,
        checks: Sequence[StatusCheck],
        on_done: Callable[[StatusCheck, Checked], None] | None = None,
        on_start: Callable[[StatusCheck], None] | None = None,
    ) -> list[StatusReport]:
        """Run ``checks`` concurrently, at most ``concurrency`` at a time on this event loop
        (however many ``check_all`` run on it at once).

        ``on_start`` is called as each check starts, and ``on_done`` with each check and what
        it came to as soon as that check is done (both in the event loop's thread), so output
        can follow progress. After a stop signal no check starts: those left get an
        ``UNKNOWN`` report saying so, and neither callback.
        """
        slots = self._pool()
        reports: list[StatusReport | None] = [None] * len(checks)
        # Taken in order by as many workers as may run at once, not one task per check
        # waiting for a slot: the checks not yet started cost nothing meanwhile.
        waiting = iter(enumerate(checks))
        # Observers run after the check has given back its slot: with some, a worker for each
        # check, so that a slow observer does not hold back the checks behind it.
        observed = bool(self.plugins.observers(OBSERVER_HOOK))

        # Read once for the batch, not once per check: it looks at the environment.
        trace = tracing()

        async def worker() -> None:
            for index, check in waiting:
                if not slots.take():
                    await slots.taken()
                try:
                    if STOP.requested:
                        reports[index] = check.unknown("not checked: the command was stopped")
                        continue
                    if on_start is not None:
                        on_start(check)
                    checked = await self._check(check, trace)
                finally:
                    slots.give()
                if observed:
                    await self._observe(check, checked.report)
                if on_done is not None:
                    on_done(check, checked)
                reports[index] = checked.report

        workers = len(checks) if observed else min(self.concurrency, len(checks))
        await asyncio.gather(*(worker() for _ in range(workers)))
        # Every one set: the workers took every check, or one raised and gather with it.
        return cast(list[StatusReport], reports)

    def _pool(self) -> _Slots:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, _Slots(self.concurrency))
        return self._slots[1]

    async def call(self, request: HookRequest, key: Hashable | None = None) -> Any:
        """Make one hook call: the one path every hook call of the framework takes.

        In-process or, for ``request.isolate``, in a process of its own. Raises
        :class:`PluginError` when the plugin is missing or broken, :class:`HookFailed` and
        :class:`HookTimeout` as :func:`invoke` does; a sync call that timed out under the same
        ``key`` and still runs is not started again.
        """
        try:
            return await self._call(request, key, tracing())
        except HookFailed as exc:
            self._told(exc)
            raise

    def _call(self, request: HookRequest, key: Hashable | None, trace: bool) -> Awaitable[Any]:
        call = self.plugins.call(request.hook, request.plugin)
        if request.isolate:
            calling = invoke_isolated(call, self.plugins, request)
        else:
            calling = invoke(call, request.arguments(request.context()), request.timeout, key=key)
        return traced(request, calling) if trace else calling

    def _told(self, failed: HookFailed) -> None:
        if self.on_failure is not None:
            self.on_failure(failed)

    async def make(self, request: HookRequest) -> dict[str, Any]:
        """Call a deploy or release hook; the value it made, as the state stores it.

        Raises :class:`TypeError` when the hook returned nothing to record or a value that
        cannot be stored, besides the errors of :meth:`call`.
        """
        value = await self.call(request)
        if value is None:
            raise TypeError(
                f"plugin {request.plugin!r} {request.hook} returned None; it must return "
                "the value to record (an attrs instance or a mapping)"
            )
        return unstructure_value(value)

    async def check(self, check: StatusCheck) -> Checked:
        """Run one check; whatever goes wrong becomes a finalized ``UNKNOWN`` report that says
        why (raised, timeout, invalid). Every report comes back with the secrets of the URLs it
        quotes redacted, and within ``check.limits``: messages cut, and a report still over a
        limit ``UNKNOWN``, naming it (DESIGN §13)."""
        return await self._check(check, tracing())

    async def _check(self, check: StatusCheck, trace: bool) -> Checked:
        started = time.monotonic()
        failure: Failure | None
        try:
            value = await self._status(check, trace)
        except HookTimeout as exc:
            failure, report = "timeout", check.unknown(str(exc))
        except PluginError as exc:
            if isinstance(exc, HookFailed):
                self._told(exc)
            failure, report = "raised", check.unknown(str(exc))
        else:
            failure, report = _finalized(check, value)
        report = redact_report(report)
        over = check.limits.enforce(report)
        if over is not None:
            failure, report = "invalid", check.unknown(f"{check.returned} {over}")
        return Checked(report, failure, time.monotonic() - started)

    def _status(self, check: StatusCheck, trace: bool) -> Awaitable[Any]:
        """The call of ``check``'s status hook, as :meth:`call` makes it; without the
        request where nothing needs one (in-process, not traced): a thousand checks at once
        would make a thousand."""
        if check.isolate or trace:
            return self._call(check.request(self.timeout), check.target.id, trace)
        call = self.plugins.call(check.hook, check.target.plugin)
        timeout = check.seconds(self.timeout)
        # A Context only for a call that takes one: nothing else sees it, and most status
        # hooks (B2's among them) take none.
        ctx = Context(timeout) if call.takes("ctx") else None
        return invoke(call, check.arguments(ctx), timeout, check.target.id)

    async def _observe(self, check: StatusCheck, report: StatusReport) -> None:
        for observer in self.plugins.observers(OBSERVER_HOOK):
            request = HookRequest(
                OBSERVER_HOOK,
                observer.plugin,
                check.job_info,
                target=check.target,
                report=report,
                previous=check.last_report,
                timeout=self.timeout,
            )
            try:
                await self.call(request)
            except PluginError as exc:
                check.ui.output(f"observer {exc}", style=WARNING_STYLE)


def _finalized(check: StatusCheck, value: object) -> tuple[Failure | None, StatusReport]:
    """What ``check``'s plugin returned, ``value``, as a finalized report, or why it cannot be."""
    if not isinstance(value, StatusReport):
        what = "None" if value is None else f"a {type(value).__name__}"
        return "invalid", check.unknown(f"{check.returned} {what}, not a StatusReport")
    over = check.limits.too_many(value)
    if over is not None:
        return "invalid", check.unknown(f"{check.returned} {over}")
    try:
        return None, finalize(value, check.target.plugin, check.policy)
    except TypeError as exc:
        return "invalid", check.unknown(f"{check.returned} an invalid report: {exc}")
