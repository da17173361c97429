"""The config file's project and its apps: the attrs classes a ``waypoint.hcl`` becomes.

Each field's validator and metadata say what it takes (``HELP``: the whole message when a value
does not fit); :mod:`.document` reads the file into values shaped like these classes and
reports each problem at the line it was written on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, final

import attrs

from ..errors import UnknownAppError
from ..model.aggregate import DEFAULT_POLICY, Policy
from ..model.durations import Duration, longer_than_zero
from ..model.health import Health
from ..model.limits import ReportLimits
from ..model.names import check_name

if TYPE_CHECKING:
    from ..model.quorum import Quorum

__all__ = [
    "DAYS",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_INTERVAL",
    "DEFAULT_KEEP",
    "DEFAULT_TIMEOUT",
    "FIRING_HEALTHS",
    "HELP",
    "App",
    "Maintenance",
    "Notify",
    "PluginPin",
    "Project",
    "StatusSettings",
    "Use",
]

DEFAULT_TIMEOUT: Final = Duration("30s")
DEFAULT_CONCURRENCY: Final = 16
DEFAULT_INTERVAL: Final = Duration("5m")
#: Reports kept per deployment or release: a state checked every 5 minutes for a year stays
#: well under this many rows per target only if old ones go.
DEFAULT_KEEP: Final = 1000

# In a field's metadata: the whole message when its value does not fit (then "; got VALUE").
HELP: Final = "waypoint_hooks.help"


def _longer_than_zero(_: object, field: attrs.Attribute[Duration], value: Duration) -> None:
    longer_than_zero(field.name, value)


def _locations(_: object, __: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    for name in value:
        check_name("a location", name)
    twice = next((name for index, name in enumerate(value) if name in value[:index]), None)
    if twice is not None:
        raise ValueError(f"locations names {twice!r} twice; name each location once")


def _quorum(settings: StatusSettings, _: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if not settings.locations:
        raise ValueError(
            "quorum is how many of the app's locations must agree, and no locations are "
            'named: add locations = ["eu", "us"] beside it, or leave quorum out'
        )
    if not 1 <= value <= len(settings.locations):
        raise ValueError(
            f"quorum must be from 1 to the number of locations ({len(settings.locations)}); "
            f"got {value}"
        )


def _optional_longer_than_zero(
    _: object, field: attrs.Attribute[Duration | None], value: Duration | None
) -> None:
    if value is not None:
        longer_than_zero(field.name, value)


@final
@attrs.frozen
class StatusSettings:
    """How an app's status is checked: the policy, and the runner's limits."""

    policy: Policy = DEFAULT_POLICY
    #: How long one check may take.
    timeout: Duration = attrs.field(default=DEFAULT_TIMEOUT, validator=_longer_than_zero)
    #: How many checks run at a time (at least 1).
    concurrency: int = attrs.field(
        default=DEFAULT_CONCURRENCY,
        validator=attrs.validators.ge(1),
        metadata={HELP: "concurrency is how many checks run at a time: a whole number, 1 or more"},
    )
    #: The ``--watch`` period; a stored report older than this is stale.
    interval: Duration = attrs.field(default=DEFAULT_INTERVAL, validator=_longer_than_zero)
    #: How many reports of each deployment and release the state keeps, newest first.
    keep: int = attrs.field(
        default=DEFAULT_KEEP,
        validator=attrs.validators.ge(1),
        metadata={
            HELP: "keep is how many reports of each deployment and release are kept: "
            "a whole number, 1 or more"
        },
    )
    #: A dead-man's switch: with no report of a live target (pushed or checked) within it,
    #: ``serve`` stores a MISSING one; ``None`` for none.
    heartbeat: Duration | None = attrs.field(default=None, validator=_optional_longer_than_zero)
    #: How big a report may be; written as keys of the block, like the policy's options.
    limits: ReportLimits = attrs.field(factory=ReportLimits)
    #: Where ``serve`` checks the app from (DESIGN §21): each location's instances check it on
    #: the interval. None: once, by any instance.
    locations: tuple[str, ...] = attrs.field(default=(), validator=_locations)
    #: How many locations must agree the app is not READY; ``None``: more than half of them.
    quorum: int | None = attrs.field(default=None, validator=_quorum)

    @property
    def quorum_rule(self) -> Quorum | None:
        """How the locations' reports make the app's health; ``None`` without locations."""
        if not self.locations:
            return None
        # Imported here: a project without locations (the usual one) never needs it.
        from ..model.quorum import Quorum

        needed = len(self.locations) // 2 + 1 if self.quorum is None else self.quorum
        return Quorum(self.locations, needed)


@final
@attrs.frozen
class Use:
    """A ``use "PLUGIN" { ... }`` block: the plugin a component runs, and its config."""

    plugin: str
    #: Plain values (str, int, float, bool, None, lists and dicts of them), as written.
    config: Mapping[str, Any]
    # Where it is written is not what it means: an HCL file and its JSON twin compare equal.
    line: int | None = attrs.field(eq=False)
    #: The line of each setting.
    lines: Mapping[str, int] = attrs.field(factory=dict, eq=False)


def _named(what: str) -> Any:
    """A validator of a name by the rule of DESIGN §13."""

    def check(_: object, __: attrs.Attribute[str], value: str) -> None:
        check_name(what, value)

    return check


@final
@attrs.frozen
class App:
    name: str = attrs.field(validator=_named("the app's name"))
    line: int | None = attrs.field(eq=False)
    deploy: Use
    release: Use | None
    #: The project's status settings, overridden key by key by the app's ``status`` block.
    status: StatusSettings
    #: Run this app's plugin calls in a subprocess of their own, so that a plugin that
    #: crashes the interpreter takes only its own report down.
    isolate: bool = attrs.field(
        default=False,
        metadata={
            HELP: "isolate is true or false (run this app's plugins in a process of their own)"
        },
    )
    #: The apps it needs: while one of theirs fires, this app's alerts are held (DESIGN §15).
    depends_on: tuple[str, ...] = ()

    def use_of(self, kind: Literal["deployment", "release"]) -> Use | None:
        """The block whose plugin makes a target of ``kind``: deploy, or release."""
        return self.deploy if kind == "deployment" else self.release

    def settings_of(self, kind: Literal["deployment", "release"], plugin: str) -> Mapping[str, Any]:
        """The settings for the plugin that made a target of ``kind``: none when the config
        names another plugin now (its settings do not apply to what this one made)."""
        use = self.use_of(kind)
        return use.config if use is not None and use.plugin == plugin else {}


#: The healths a notify block fires on by default: every one but READY.
FIRING_HEALTHS: Final = frozenset(Health) - {Health.READY}


def _fires(_: object, __: attrs.Attribute[frozenset[Health]], value: frozenset[Health]) -> None:
    if not value:
        raise ValueError("on lists no health; leave it out to fire on every health but READY")
    if Health.READY in value:
        raise ValueError("on must not hold READY: READY is what resolves an alert")


def _threshold(name: str, what: str) -> Any:
    return attrs.field(
        default=1,
        validator=attrs.validators.ge(1),
        metadata={HELP: f"{name} is how many {what} in a row it takes: a whole number, 1 or more"},
    )


@final
@attrs.frozen
class Notify:
    """A ``notify "NAME"`` block: which health changes are alerts, and the notifier that sends
    them (DESIGN §15)."""

    name: str = attrs.field(validator=_named("the notify block's name"))
    line: int | None = attrs.field(eq=False)
    use: Use
    #: The apps whose deployments and releases it watches; ``None`` for every app.
    apps: tuple[str, ...] | None = None
    #: The healths that count as failing.
    on: frozenset[Health] = attrs.field(default=FIRING_HEALTHS, validator=_fires)
    #: Failing reports in a row before an alert fires (Consul's failures_before_critical).
    failure_threshold: int = _threshold("failure_threshold", "failing reports")
    #: READY reports in a row before a firing alert is resolved.
    success_threshold: int = _threshold("success_threshold", "READY reports")
    #: Send an alert when it is resolved, too.
    send_on_resolved: bool = attrs.field(
        default=False, metadata={HELP: "send_on_resolved is true or false"}
    )
    #: Send a reminder this often while an alert fires; ``None`` for never.
    remind: Duration | None = attrs.field(default=None, validator=_optional_longer_than_zero)
    #: A deployment or release younger than this raises nothing: it may still be starting
    #: (Waypoint's words; Argo CD #6287). ``None``: from its first report.
    start_grace: Duration | None = attrs.field(default=None, validator=_optional_longer_than_zero)

    def watches(self, app: str) -> bool:
        return self.apps is None or app in self.apps


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: The days of a maintenance window's ``every``, Monday first (as ``date.weekday()`` counts).
DAYS: Final[tuple[Day, ...]] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK: Final = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
#: The longest maintenance window: a week, after which every day would be in one.
_LONGEST_WINDOW: Final = Duration("168h")


def _clock(_: object, __: attrs.Attribute[str], value: str) -> None:
    if _CLOCK.fullmatch(value) is None:
        raise ValueError("not a time of day")


def _window(_: object, field: attrs.Attribute[Duration], value: Duration) -> None:
    longer_than_zero(field.name, value)
    if value > _LONGEST_WINDOW:
        raise ValueError(f"duration must be at most {_LONGEST_WINDOW}, a week; got '{value}'")


def _zone(_: object, __: attrs.Attribute[str], value: str) -> None:
    # Imported here: only a config that names a time zone needs it.
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'timezone "{value}" is not a time zone; write an IANA name such as "UTC" or '
            '"Europe/Paris"'
        ) from None


@final
@attrs.frozen
class Maintenance:
    """A ``maintenance "NAME"`` block: a window, repeated on some days, when checks run and
    are stored but alerts of its apps are held until it ends."""

    name: str = attrs.field(validator=_named("the maintenance block's name"))
    line: int | None = attrs.field(eq=False)
    #: When it starts, ``HH:MM`` in ``timezone``.
    start: str = attrs.field(
        validator=_clock,
        metadata={HELP: 'start is the time of day the window begins, as "HH:MM" (00:00 to 23:59)'},
    )
    duration: Duration = attrs.field(validator=_window)
    #: The apps whose alerts it holds; ``None`` for every app.
    apps: tuple[str, ...] | None = None
    #: The days it starts on.
    every: tuple[Day, ...] = attrs.field(default=DAYS, validator=attrs.validators.min_len(1))
    #: An IANA time zone name.
    timezone: str = attrs.field(default="UTC", validator=_zone)

    def holds(self, app: str) -> bool:
        return self.apps is None or app in self.apps


def _specifier(_: object, __: attrs.Attribute[str], value: str) -> None:
    # Imported here: only a config that pins a plugin needs it.
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise ValueError("not a version specifier") from None


@final
@attrs.frozen
class PluginPin:
    """A ``plugin "NAME"`` block: the versions of the plugin's distribution the project
    works with (pytest's ``required_plugins``)."""

    name: str = attrs.field(validator=_named("the plugin's name"))
    line: int | None = attrs.field(eq=False)
    #: A version specifier, as pip takes it: ``">=1.2,<2"``.
    version: str = attrs.field(
        validator=_specifier,
        metadata={
            HELP: "version is the versions of the plugin's distribution that this project works "
            'with, as pip writes them: version = ">=1.2,<2"'
        },
    )


def _not_empty(_: object, __: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise ValueError("must not be empty")


@final
@attrs.frozen
class Project:
    #: The config file, absolute.
    path: Path
    name: str = attrs.field(
        validator=_not_empty,
        metadata={HELP: 'project must be the project\'s name, a string: project = "NAME"'},
    )
    status: StatusSettings
    #: In file order.
    apps: Mapping[str, App] = attrs.field(
        validator=attrs.validators.min_len(1),
        metadata={HELP: 'no app is defined; add one: app "NAME" { deploy { use "PLUGIN" { } } }'},
    )
    #: In file order.
    notify: Mapping[str, Notify] = attrs.field(factory=dict)
    maintenance: Mapping[str, Maintenance] = attrs.field(factory=dict)
    #: The ``plugin`` blocks, by the plugin's name.
    plugins: Mapping[str, PluginPin] = attrs.field(factory=dict)

    def select(self, names: Sequence[str]) -> list[App]:
        """The apps named (all of them when none is), in the config's order, each once;
        :class:`UnknownAppError` for a name the config does not have."""
        if not names:
            return list(self.apps.values())
        unknown = [name for name in names if name not in self.apps]
        if unknown:
            raise UnknownAppError(
                f"no app {unknown[0]!r} in {self.path.name} (apps: {', '.join(self.apps)})"
            )
        return [self.apps[name] for name in dict.fromkeys(names)]
