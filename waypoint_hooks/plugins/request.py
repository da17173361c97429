"""One hook call to make: which hook of which plugin, and the value of each of its arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, final

import attrs

from ..model.alert import Alert
from ..model.report import StatusReport
from ..terminal import UI, SilentUI
from .components import ARGUMENTS
from .context import Context, JobInfo, Target

__all__ = ["HookRequest"]


@final
@attrs.frozen
class HookRequest:
    """Every hook call of the framework is one of these, made by :meth:`Runner.call`.

    The fields are the hooks' arguments (a hook takes the ones its specification names),
    except ``ctx``, which each call makes anew from ``timeout``.
    """

    hook: str
    plugin: str
    job_info: JobInfo
    ui: UI = attrs.field(factory=SilentUI)
    config: Mapping[str, Any] = attrs.field(factory=dict)
    deployment: Mapping[str, Any] | None = None
    release: Mapping[str, Any] | None = None
    last_report: StatusReport | None = None
    #: The observer hook's arguments.
    target: Target | None = None
    report: StatusReport | None = None
    previous: StatusReport | None = None
    #: The notifier hook's argument.
    alert: Alert | None = None
    #: Seconds the call may take; ``None`` for no limit.
    timeout: float | None = None
    #: Run the plugin in a process of its own (the app's ``isolate = true``).
    isolate: bool = False
    #: Stores what ``ctx.checkpoint`` is given (deploy and release hooks).
    checkpoint: Callable[[Mapping[str, Any]], None] | None = None

    def context(self) -> Context:
        """A new ``ctx`` for this call: its deadline, and where its checkpoints go."""
        return Context(self.timeout, self.checkpoint)

    def arguments(self, ctx: Context) -> dict[str, Any]:
        """The keyword arguments of the hook, by its specification: the one place they are
        gathered, in-process and in an isolated worker alike."""
        return {
            name: ctx if name == "ctx" else getattr(self, name) for name in ARGUMENTS[self.hook]
        }
