"""The component kinds, the hooks of each and the arguments each hook takes: the one table.

Plugins (which kinds a plugin is), config (which block uses which kind), the runner, the
launcher, the isolated worker and the pytest plugin all read it here.
"""

from __future__ import annotations

import inspect
from typing import Final, Literal, final

import attrs

from .. import hookspecs

__all__ = [
    "ARGUMENTS",
    "COMPONENTS",
    "HOOKS",
    "LIFECYCLES",
    "NOTIFIER",
    "OBSERVER_HOOK",
    "PLATFORM",
    "RELEASE_MANAGER",
    "Component",
    "Lifecycle",
    "TargetKind",
    "component_of",
    "kinds_of",
    "lifecycle_of",
]

#: What a component makes: a deployment (platform) or a release (release manager).
TargetKind = Literal["deployment", "release"]


@final
@attrs.frozen
class Lifecycle:
    """The hooks of a component that makes targets: one creates a target, one checks it, one
    destroys it."""

    #: What its create hook makes, and what its status hook checks.
    target: TargetKind
    create: str
    status: str
    destroy: str

    @property
    def hooks(self) -> tuple[str, str, str]:
        return (self.create, self.status, self.destroy)


@final
@attrs.frozen
class Component:
    """One kind of component: the config block that uses it, and its hooks."""

    #: As ``plugins --json`` lists it: ``platform``, ``release_manager``, ``notifier``.
    kind: str
    #: As a sentence names it: "a platform".
    title: str
    #: The block of ``waypoint.hcl`` whose ``use`` selects it.
    block: str
    #: Its hooks, the one that makes a plugin this kind first: a block's plugin must
    #: implement that one, and the block's config must fit every one of them.
    hooks: tuple[str, ...]
    #: For a component that makes targets (deployments, releases), their hooks.
    lifecycle: Lifecycle | None = None

    @property
    def required(self) -> str:
        """The hook a plugin implements to be this kind."""
        return self.hooks[0]


def _maker(kind: str, title: str, block: str, lifecycle: Lifecycle) -> Component:
    return Component(kind, title, block, lifecycle.hooks, lifecycle)


PLATFORM: Final = _maker(
    "platform",
    "platform",
    "deploy",
    Lifecycle(
        "deployment", "platform_deploy_func", "platform_status_func", "platform_destroy_func"
    ),
)
RELEASE_MANAGER: Final = _maker(
    "release_manager",
    "release manager",
    "release",
    Lifecycle(
        "release",
        "release_manager_release_func",
        "release_manager_status_func",
        "release_manager_destroy_func",
    ),
)
#: Sends alerts (DESIGN §15): a ``notify`` block's plugin.
NOTIFIER: Final = Component("notifier", "notifier", "notify", ("notifier_send",))
COMPONENTS: Final = (PLATFORM, RELEASE_MANAGER, NOTIFIER)
#: The lifecycles of the components that make targets, in the table's order.
LIFECYCLES: Final = tuple(c.lifecycle for c in COMPONENTS if c.lifecycle is not None)
_BY_TARGET: Final = {lifecycle.target: lifecycle for lifecycle in LIFECYCLES}
_BY_HOOK: Final = {hook: component for component in COMPONENTS for hook in component.hooks}

#: The broadcast hook every plugin may implement, called after each status report.
OBSERVER_HOOK: Final = "status_report_generated"

#: Every hook, with the names of the arguments it is called with (the hookspec's own).
ARGUMENTS: Final[dict[str, tuple[str, ...]]] = {
    name: tuple(inspect.signature(value).parameters)
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and value.__module__ == hookspecs.__name__
}
HOOKS: Final = tuple(ARGUMENTS)


def lifecycle_of(target: TargetKind) -> Lifecycle:
    """The hooks that make, check and destroy ``target`` records."""
    return _BY_TARGET[target]


def component_of(hook: str) -> Component:
    """The component ``hook`` is a hook of; a KeyError for the observer hook."""
    return _BY_HOOK[hook]


def kinds_of(hooks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The component kinds whose hooks are among ``hooks``, in the table's order."""
    return tuple(
        component.kind for component in COMPONENTS if any(hook in component.hooks for hook in hooks)
    )
