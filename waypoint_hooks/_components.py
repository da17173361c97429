"""The component kinds, the hooks of each and the arguments each hook takes: the one table.

Plugins (which kinds a plugin is), config (which block uses which kind), the runner, the
launcher, the isolated worker and the pytest plugin all read it here.
"""

from __future__ import annotations

import inspect
from typing import Final, Literal, final

import attrs

from . import hookspecs

__all__ = [
    "ARGUMENTS",
    "COMPONENTS",
    "HOOKS",
    "OBSERVER_HOOK",
    "PLATFORM",
    "RELEASE_MANAGER",
    "Component",
    "TargetKind",
    "component_of",
    "kinds_of",
]

#: What a component makes: a deployment (platform) or a release (release manager).
TargetKind = Literal["deployment", "release"]


@final
@attrs.frozen
class Component:
    """One kind of component: the config block that uses it, and its three hooks."""

    #: As ``plugins --json`` lists it: ``platform``, ``release_manager``.
    kind: str
    #: As a sentence names it: "a platform".
    title: str
    #: The block of an app in ``waypoint.hcl`` whose ``use`` selects it.
    block: str
    #: What its create hook makes, and what its status hook checks.
    target: TargetKind
    create: str
    status: str
    destroy: str

    @property
    def hooks(self) -> tuple[str, str, str]:
        """Its hooks, the create hook first: an app's config must fit every one of them."""
        return (self.create, self.status, self.destroy)


PLATFORM: Final = Component(
    "platform",
    "platform",
    "deploy",
    "deployment",
    "platform_deploy_func",
    "platform_status_func",
    "platform_destroy_func",
)
RELEASE_MANAGER: Final = Component(
    "release_manager",
    "release manager",
    "release",
    "release",
    "release_manager_release_func",
    "release_manager_status_func",
    "release_manager_destroy_func",
)
COMPONENTS: Final = (PLATFORM, RELEASE_MANAGER)
_BY_TARGET: Final = {component.target: component for component in COMPONENTS}

#: The broadcast hook every plugin may implement, called after each status report.
OBSERVER_HOOK: Final = "status_report_generated"

#: Every hook, with the names of the arguments it is called with (the hookspec's own).
ARGUMENTS: Final[dict[str, tuple[str, ...]]] = {
    name: tuple(inspect.signature(value).parameters)
    for name, value in vars(hookspecs).items()
    if inspect.isfunction(value) and value.__module__ == hookspecs.__name__
}
HOOKS: Final = tuple(ARGUMENTS)


def component_of(target: TargetKind) -> Component:
    """The component that makes ``target`` records."""
    return _BY_TARGET[target]


def kinds_of(hooks: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The component kinds whose hooks are among ``hooks``, in the table's order."""
    return tuple(
        component.kind for component in COMPONENTS if any(hook in component.hooks for hook in hooks)
    )
