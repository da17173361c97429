"""The pytest plugin for plugin authors: run hooks as the launcher runs them, assert on them.

Installing waypoint-hooks makes these fixtures available to every pytest run (a ``pytest11``
entry point), so a plugin package's tests need no conftest:

- ``waypoint_plugins(*plugins, builtins=False, job_info=None, directory=None, **named)``: a
  :class:`PluginHarness` with only those plugins loaded, whose methods run one hook each
  through the real dispatch, structuring, runner and finalization, in a fresh project
  directory;
- ``waypoint_ui``: the :class:`RecordedUI` those hooks show their steps on, with assertions;
- ``waypoint_project(config, plugins=(), autoload=False)``: a :class:`TemporaryProject`, a
  config file in a fresh directory and the real ``waypoint-hooks`` command to run on it.

It also collects ``*.health.yaml`` files as tests: cases of what a status policy makes of
resources (:mod:`waypoint_hooks.health_cases`).

The framework is imported inside the fixtures and methods, not here: pytest imports this
module at the start of every run of every project that has waypoint-hooks installed. It is one
module, over 400 lines, because a ``pytest11`` entry point names one module, and its fixtures,
harness and assertions are what plugin authors read as one page.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import textwrap
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, final

import pytest

if TYPE_CHECKING:
    from click.testing import Result

    from .model.aggregate import Policy
    from .model.alert import Alert, AlertState
    from .model.report import StatusReport
    from .plugins.context import JobInfo
    from .plugins.manager import PluginManager
    from .terminal import Event, RecordingUI

__all__ = [
    "PluginHarness",
    "RecordedUI",
    "TemporaryProject",
    "sample_alert",
    "waypoint_plugins",
    "waypoint_project",
    "waypoint_ui",
]

_Kind = Literal["deployment", "release"]
_T = TypeVar("_T")


@final
class RecordedUI:
    """The UI a plugin is given in a test, and assertions on what it showed there.

    Assertions look at the final state of each line, as a user saw it once the plugin was
    done: a step that said "Checking..." and then "File is ready" is the step "File is ready".
    """

    def __init__(self) -> None:
        from .terminal import RecordingUI

        #: The UI to give a hook as its ``ui`` argument (the harness does).
        self.ui: RecordingUI = RecordingUI()

    @property
    def events(self) -> list[Event]:
        """The final state of every line shown, in the order the lines appeared."""
        return self.ui.final_events()

    def lines(self) -> list[str]:
        """Every line as ``status: message``, or ``message`` when it has no status."""
        return self.ui.lines()

    def clear(self) -> None:
        """Forget what was shown so far, e.g. a deploy's steps before a status check."""
        self.ui.events.clear()

    def assert_step(self, message: str | re.Pattern[str], status: str | None = None) -> Event:
        """Assert that a step (of a step group or a status display) ended as ``message``, and
        with ``status`` (``"ok"``, ``"error"``, ``"warning"``, ...) if given; returns it.

        A string must equal the message; a compiled pattern is searched in it.
        """
        __tracebackhide__ = True
        for event in self.events:
            if (
                event.kind != "output"
                and _matches(message, event.message)
                and status in (None, event.status)
            ):
                return event
        wanted = f"step {_shown(message)}" + ("" if status is None else f" with status {status!r}")
        raise AssertionError(f"no {wanted} was shown; {self._listing()}")

    def assert_output(self, message: str | re.Pattern[str], style: str | None = None) -> Event:
        """Assert that ``ui.output`` showed ``message``, in ``style`` if given; returns it."""
        __tracebackhide__ = True
        for event in self.events:
            if (
                event.kind == "output"
                and _matches(message, event.message)
                and style in (None, event.style)
            ):
                return event
        wanted = f"output {_shown(message)}" + ("" if style is None else f" in style {style!r}")
        raise AssertionError(f"no {wanted} was shown; {self._listing()}")

    def assert_no_errors(self) -> None:
        """Assert that no step ended with the error status and no output was an error."""
        __tracebackhide__ = True
        from .terminal import ERROR_STYLE, STATUS_ERROR

        errors = [
            line
            for event, line in zip(self.events, self.lines(), strict=True)
            if event.status == STATUS_ERROR or event.style == ERROR_STYLE
        ]
        if errors:
            raise AssertionError(
                "the plugin showed errors:\n" + "\n".join(f"  {line}" for line in errors)
            )

    def _listing(self) -> str:
        lines = self.lines()
        if not lines:
            return "the plugin showed nothing"
        return "the plugin showed:\n" + "\n".join(f"  {line}" for line in lines)


def _matches(expected: str | re.Pattern[str], message: str) -> bool:
    if isinstance(expected, str):
        return message == expected
    return expected.search(message) is not None


def _shown(expected: str | re.Pattern[str]) -> str:
    return repr(expected) if isinstance(expected, str) else f"matching {expected.pattern!r}"


def _stored(value: object) -> dict[str, Any]:
    """``value`` as the launcher stores it and gives it back: unstructured, through JSON."""
    from .model.codec import unstructure_value

    # Through JSON for real, as the state does: a tuple comes back a list, and a value that
    # JSON cannot hold fails here rather than only under the launcher.
    stored: dict[str, Any] = json.loads(json.dumps(unstructure_value(value)))
    return stored


def sample_alert(state: AlertState = "firing", **fields: Any) -> Alert:
    """An :class:`~waypoint_hooks.Alert` to send in a test: the ``oncall`` block's about the
    ``web`` app's deployment, ``DOWN`` (``READY`` when ``resolved``), with a finalized report;
    ``fields`` replace any of its fields."""
    from datetime import datetime, timezone

    from .alerts.machine import describe
    from .model.alert import Alert
    from .model.health import Health
    from .model.report import StatusReport, finalize

    health = Health.READY if state == "resolved" else Health.DOWN
    said = "connection refused" if health is Health.DOWN else "All 1 resources are READY"
    since = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
    report = finalize(StatusReport(health=health, health_message=said), "sample", now=since)
    values: dict[str, Any] = {
        "notify": "oncall",
        "app": "web",
        "workspace": "default",
        "kind": "deployment",
        "target_id": "d3adb33f",
        "state": state,
        "health": health,
        "previous_health": Health.READY if health is Health.DOWN else Health.DOWN,
        "message": describe("web", "deployment", state, report),
        "since": since,
        "report": report,
    }
    return Alert(**{**values, **fields})


@final
class PluginHarness:
    """Plugins loaded on their own, and their hooks run one at a time as the launcher runs them.

    Values go in as the launcher gives them: a config, deployment or release (an attrs
    instance, a dataclass or a mapping) is unstructured and passed through JSON, as the config
    file and the state hold it, and each hook structures it into the type it annotates. A
    config that does not fit raises :class:`~waypoint_hooks.ConfigError` before any hook runs.

    Every hook runs in :attr:`directory`, as the launcher runs hooks in the directory of the
    config file: a relative path in a config (``directory = "out"``) is relative to it.
    """

    def __init__(
        self,
        manager: PluginManager,
        ui: RecordedUI | None = None,
        job_info: JobInfo | None = None,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        from .plugins.context import JobInfo

        #: The plugin manager of the loaded plugins.
        self.manager = manager
        #: What the hooks showed.
        self.ui = ui if ui is not None else RecordedUI()
        #: The job every hook is told it runs in.
        self.job_info = job_info if job_info is not None else JobInfo("project", "app", id="job")
        #: The project directory every hook runs in: by default, the current directory.
        self.directory = Path.cwd() if directory is None else Path(directory).absolute()

    @classmethod
    def load(
        cls,
        *plugins: object,
        builtins: bool = False,
        ui: RecordedUI | None = None,
        job_info: JobInfo | None = None,
        directory: str | os.PathLike[str] | None = None,
        **named: object,
    ) -> PluginHarness:
        """Load ``plugins`` and no other plugin, whatever is installed; the harness tells
        every hook ``job_info`` and runs it in ``directory`` (see :class:`PluginHarness`).

        Each is a module, an object with hook implementations, or a module's import path. It
        is named as the launcher names it: after the entry point an installed distribution
        declares for it (the name ``use "NAME"`` selects), else after its last dotted part, as
        ``-p`` names it; passed as ``name=plugin``, it is called ``name``. ``builtins=True``
        adds the framework's own plugins. A plugin that fails to import or validate raises
        :class:`~waypoint_hooks.PluginError`.
        """
        from .errors import PluginError
        from .plugins.manager import Plugin, PluginManager, discover

        # Listed, not loaded: the installed entry points only say what each module is called.
        entry_point_names = {plugin.value: plugin.name for plugin in discover(autoload=True)}
        # Of the installed plugins, only the builtins, and only when asked.
        manager = PluginManager(discover(autoload=False) if builtins else ())
        for name, plugin in [*((None, plugin) for plugin in plugins), *named.items()]:
            path = plugin if isinstance(plugin, str) else getattr(plugin, "__name__", "")
            chosen = name or entry_point_names.get(path)
            if isinstance(plugin, str):
                manager.add(Plugin(chosen or plugin.rpartition(".")[2], plugin, "cli"))
            else:
                manager.register(plugin, chosen)
        for loaded in manager.plugins:
            if loaded.error is not None:
                raise PluginError(loaded.name, loaded.error)
        return cls(manager, ui, job_info, directory)

    # --- platform ---------------------------------------------------------------------------

    def platform_deploy(self, plugin: str, config: object = None) -> dict[str, Any]:
        """Run ``plugin``'s ``platform_deploy_func``; the deployment, as the state stores it."""
        return self._create("platform_deploy_func", plugin, config, {})

    def platform_status(
        self,
        plugin: str,
        config: object = None,
        *,
        deployment: object,
        last_report: StatusReport | None = None,
        policy: str | Policy = "waypoint",
        timeout: float | None = 30.0,
    ) -> StatusReport:
        """Check ``deployment`` with ``plugin``'s ``platform_status_func``; the finalized report.

        As the launcher checks it: whatever goes wrong (the plugin raises, times out, returns
        something else) becomes an ``UNKNOWN`` report that says what happened, and a report
        without a health gets the ``policy``'s (a name, or a :class:`~waypoint_hooks.Policy`
        with options).
        """
        return self._status(
            "deployment", plugin, config, deployment, None, last_report, policy, timeout
        )

    def platform_destroy(self, plugin: str, config: object = None, *, deployment: object) -> None:
        """Run ``plugin``'s ``platform_destroy_func`` on ``deployment``."""
        self._run("platform_destroy_func", plugin, config, {"deployment": _stored(deployment)})

    # --- release manager --------------------------------------------------------------------

    def release_manager_release(
        self, plugin: str, config: object = None, *, deployment: object
    ) -> dict[str, Any]:
        """Run ``plugin``'s ``release_manager_release_func``; the release, as stored."""
        values = {"deployment": _stored(deployment)}
        return self._create("release_manager_release_func", plugin, config, values)

    def release_manager_status(
        self,
        plugin: str,
        config: object = None,
        *,
        release: object,
        deployment: object,
        last_report: StatusReport | None = None,
        policy: str | Policy = "waypoint",
        timeout: float | None = 30.0,
    ) -> StatusReport:
        """Check ``release`` (of ``deployment``) with ``plugin``'s
        ``release_manager_status_func``; the finalized report, as :meth:`platform_status`."""
        return self._status(
            "release", plugin, config, deployment, release, last_report, policy, timeout
        )

    def release_manager_destroy(
        self, plugin: str, config: object = None, *, release: object
    ) -> None:
        """Run ``plugin``'s ``release_manager_destroy_func`` on ``release``."""
        self._run("release_manager_destroy_func", plugin, config, {"release": _stored(release)})

    # --- notifier ---------------------------------------------------------------------------

    def notifier_send(
        self, plugin: str, config: object = None, *, alert: Alert, timeout: float | None = 30.0
    ) -> None:
        """Send ``alert`` with ``plugin``'s ``notifier_send``, as delivery sends it: the config
        checked and structured, the call bounded by ``timeout`` (a
        :class:`~waypoint_hooks.host.HookTimeout` after it). What the plugin raises is raised: for
        delivery, that attempt failed and is tried again later. :func:`sample_alert` makes an
        alert to send."""
        self._run("notifier_send", plugin, config, {"alert": alert}, timeout=timeout)

    # --- how -----------------------------------------------------------------------------

    def _config(self, hook: str, plugin: str, config: object) -> dict[str, Any]:
        """``config`` as the config file holds it, checked against every hook of the
        component ``hook`` belongs to, as the launcher checks a ``use`` block."""
        from .plugins.components import component_of

        plain = {} if config is None else _stored(config)
        self.manager.structure_config(self.job_info.app, plugin, plain, component_of(hook).hooks)
        return plain

    def _run(
        self,
        hook: str,
        plugin: str,
        config: object,
        values: Mapping[str, Any],
        *,
        make: bool = False,
        timeout: float | None = None,
    ) -> Any:
        from .errors import HookFailed
        from .plugins.request import HookRequest
        from .plugins.runner import Runner

        config = self._config(hook, plugin, config)
        request = HookRequest(
            hook, plugin, self.job_info, self.ui.ui, config, timeout=timeout, **values
        )
        runner = Runner(self.manager)
        try:
            return self._in_directory(runner.make(request) if make else runner.call(request))
        except HookFailed as exc:
            # The plugin's own exception, with its own traceback: what its author needs to
            # see, and what pytest.raises expects.
            raise exc.error from None

    def _create(
        self, hook: str, plugin: str, config: object, values: Mapping[str, Any]
    ) -> dict[str, Any]:
        return _stored(self._run(hook, plugin, config, values, make=True))

    def _status(
        self,
        kind: _Kind,
        plugin: str,
        config: object,
        deployment: object,
        release: object,
        last_report: StatusReport | None,
        policy: str | Policy,
        timeout: float | None,
    ) -> StatusReport:
        from .model.aggregate import Policy
        from .plugins.components import lifecycle_of
        from .plugins.context import Target
        from .plugins.runner import Runner, StatusCheck

        check = StatusCheck(
            # The id of the stored record the launcher checks; the harness stores none.
            Target(self.job_info.app, kind, "1", plugin),
            self.job_info,
            self._config(lifecycle_of(kind).status, plugin, config),
            _stored(deployment),
            None if release is None else _stored(release),
            last_report,
            policy if isinstance(policy, Policy) else Policy.from_options(policy),
            self.ui.ui,
        )
        (report,) = self._in_directory(Runner(self.manager, timeout=timeout).check_all([check]))
        return report

    def _in_directory(self, main: Coroutine[Any, Any, _T]) -> _T:
        from .plugins.directory import working_directory
        from .plugins.workers import run_abandoning

        with working_directory(self.directory):
            return run_abandoning(main)


@final
class TemporaryProject:
    """A project directory with a config file, and the real ``waypoint-hooks`` CLI run on it.

    Commands run in this process (click's ``CliRunner``) with ``-c`` naming the config, the
    state beside it (whatever ``WAYPOINT_HOOKS_STATE`` says), ``-p`` for each of ``plugins``
    (a module, named after its last dotted part), and plugin autoload off unless ``autoload``
    is true: then the installed plugins are found through their entry points, as a user's are.
    """

    #: The config file the commands use.
    config: Path

    def __init__(
        self,
        directory: Path,
        config: str | Mapping[str, Any],
        *,
        plugins: Sequence[str] = (),
        autoload: bool = False,
    ) -> None:
        self.directory = directory
        self.plugins = tuple(plugins)
        self.autoload = autoload
        self.write_config(config)

    def write_config(self, config: str | Mapping[str, Any]) -> Path:
        """Write the config that later commands use: HCL text as ``waypoint.hcl``, or a
        mapping as ``waypoint.hcl.json``, HCL's JSON form, which reads the same.

        The text is dedented and its leading newline dropped, so that a triple-quoted string
        is written as it reads, and a ``FILE:LINE`` error counts its lines.
        """
        if isinstance(config, str):
            self.config = self.directory / "waypoint.hcl"
            self.config.write_text(textwrap.dedent(config).lstrip("\n"), encoding="utf-8")
        else:
            self.config = self.directory / "waypoint.hcl.json"
            self.config.write_text(json.dumps(config, indent=2), encoding="utf-8")
        return self.config

    def run(self, *args: str) -> Result:
        """Run ``waypoint-hooks ARGS...`` on this project: e.g. ``run("up")``."""
        from click.testing import CliRunner

        from .cli.commands import main
        from .plugins.manager import AUTOLOAD_ENV
        from .state.store import STATE_ENV

        options = ["-c", str(self.config)]
        for module in self.plugins:
            options += ["-p", module]
        env = {AUTOLOAD_ENV: None if self.autoload else "1", STATE_ENV: None}
        return CliRunner().invoke(main, [*options, *args], env=env, catch_exceptions=False)

    def json(self, *args: str) -> Any:
        """Run a command with ``--json`` and return what it printed, parsed: e.g.
        ``json("status")["apps"][0]["deployment"]["report"]["health"]``."""
        __tracebackhide__ = True
        result = self.run(*args, "--json")
        try:
            return json.loads(result.stdout)
        except json.JSONDecodeError:
            command = " ".join([*args, "--json"])
            raise AssertionError(
                f"`waypoint-hooks {command}` exited {result.exit_code} without printing JSON:\n"
                f"{result.output}"
            ) from None


# --- the fixtures --------------------------------------------------------------------------


@pytest.fixture
def waypoint_ui() -> RecordedUI:
    """What the hooks run by ``waypoint_plugins`` showed, with assertions on it."""
    return RecordedUI()


@pytest.fixture
def waypoint_plugins(
    waypoint_ui: RecordedUI, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., PluginHarness]:
    """``waypoint_plugins(*plugins, builtins=False, job_info=None, directory=None, **named)``:
    a :class:`PluginHarness` with only those plugins loaded, showing its hooks' steps on
    ``waypoint_ui`` and running them in ``directory``, by default a fresh temporary directory.

    The fresh directory is made beside ``tmp_path``, not in it: what a test finds in its
    ``tmp_path`` is only what it put there or named in a config.
    """

    def load(
        *plugins: object, directory: str | os.PathLike[str] | None = None, **options: Any
    ) -> PluginHarness:
        chosen = directory if directory is not None else tmp_path_factory.mktemp("project")
        return PluginHarness.load(*plugins, ui=waypoint_ui, directory=chosen, **options)

    return load


@pytest.fixture
def waypoint_project(tmp_path: Path) -> Callable[..., TemporaryProject]:
    """``waypoint_project(config, plugins=(), autoload=False)``: a :class:`TemporaryProject`
    in a fresh directory under ``tmp_path``."""

    def create(
        config: str | Mapping[str, Any], *, plugins: Sequence[str] = (), autoload: bool = False
    ) -> TemporaryProject:
        directory = Path(tempfile.mkdtemp(prefix="project-", dir=tmp_path))
        return TemporaryProject(directory, config, plugins=plugins, autoload=autoload)

    return create


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A ``*.health.yaml`` file's expected-health cases, one test each."""
    if not file_path.name.endswith(".health.yaml"):
        return None
    from .health_cases import HealthFile

    return HealthFile.from_parent(parent, path=file_path)
