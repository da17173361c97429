"""What every command shares: the global options and what they lead to (a :class:`Session`),
and how an error or a stop signal becomes a message and an exit code (DESIGN §8).

Imports stay light at module level: ``--help`` and ``--version`` must start fast, so the
framework is imported inside the functions that use it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .output import live_terminal

if TYPE_CHECKING:
    from ..checking.checker import AppStatus, Checker, RemovedApp
    from ..config.project import Project
    from ..plugins.manager import PluginManager
    from ..state.store import State
    from ..terminal import StreamUI

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

#: Exit codes (DESIGN §8).
READY, NOT_READY, USAGE = 0, 1, 2
#: Standard output's reader went away (`| head`): what a shell reports for a program that
#: SIGPIPE ended, as git's code then, beside §8's 128 + signal codes.
READER_GONE = 128 + signal.SIGPIPE


class Session:
    """The global options, and what they lead to, loaded once and only when needed."""

    def __init__(
        self,
        config: str | None,
        state: str | None,
        workspace: str,
        plugin_specs: Sequence[str],
        color: bool,
        verbose: bool,
    ) -> None:
        self.config_option = config
        self.state_option = state
        self.workspace = workspace
        self.plugin_specs = tuple(plugin_specs)
        self.color = color
        self.verbose = verbose

    def invocation(self) -> str:
        """How a hint names this program: with the global options the user gave that choose
        the project, workspace, state and plugins, as given, so that a hint pasted acts on
        the same ones (DESIGN §8). A state URL's secrets are redacted: never shown (§13)."""
        import shlex

        from ..model.redaction import redact_urls

        words = ["waypoint-hooks"]
        if self.config_option:
            words += ["-c", self.config_option]
        if self.workspace != "default":
            words += ["-w", self.workspace]
        if self.state_option:
            words += ["--state", redact_urls(self.state_option)]
        for spec in self.plugin_specs:
            words += ["-p", spec]
        return shlex.join(words)

    def plugins(self, *, listing: bool = False, project: Project | None = None) -> PluginManager:
        """The plugins; a ``-p`` module that cannot be imported is a usage error (the user
        named it), unless the command only lists the plugins and what broke each.

        For a command on a ``project``, discovery is cached beside the config's, and only
        the plugins that command calls hooks of are imported (docs/design.md, "Which plugins
        a command imports").
        """
        from ..errors import UsageError
        from ..plugins.manager import PluginManager, PluginSpecs

        specs = PluginSpecs.parse(self.plugin_specs)
        if project is None:
            manager = PluginManager.load(specs)
        else:
            from ..config.uses import used_plugins

            cache = cache_directory(project.path)
            manager = PluginManager.load(specs, cache=cache, needed=used_plugins(project))
        for plugin in manager.plugins:
            if not listing and plugin.source == "cli" and plugin.module is None:
                raise UsageError(
                    f"-p {plugin.value}: {plugin.error}; check the module's name, and that "
                    "the directory it is in is on PYTHONPATH"
                )
        return manager

    def project(self) -> Project:
        from ..config.document import find_config

        given = Path(self.config_option) if self.config_option else Path.cwd()
        return read_project(find_config(given) if given.is_dir() else given)

    def state(self, project: Project, read_only: bool = False) -> State:
        """The project's state; ``read_only`` for a command that only reads it (DESIGN §13)."""
        from ..errors import StateError
        from ..model.redaction import redact_urls
        from ..state.database import is_url
        from ..state.store import STATE_ENV, State, default_state_path

        chosen = self.state_option or os.environ.get(STATE_ENV)
        if not chosen:
            return State.open(default_state_path(project.path), read_only=read_only)
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", chosen)
        if scheme is not None and not is_url(chosen):
            raise StateError(
                f"state {redact_urls(chosen)}: a {scheme[1]}:// state is not one waypoint-hooks "
                f"keeps; give a file's path or a postgresql:// URL with --state or {STATE_ENV}"
            )
        if is_url(chosen):
            return State.open(chosen, read_only=read_only)
        path = Path(chosen)
        # Only the default's directory is made: a chosen one that is missing is a typo.
        if not path.parent.is_dir():
            raise StateError(
                f"state {path}: the directory {path.parent} does not exist; create it, or "
                f"correct the path given with --state or {STATE_ENV}"
            )
        return State.open(path, read_only=read_only)

    def output(self, json_output: bool) -> StreamUI | None:
        """Where progress goes: nowhere for JSON, a live console on a terminal, else plain."""
        if json_output:
            return None
        from ..terminal import ConsoleUI, PlainUI

        if live_terminal():
            return ConsoleUI(color=self.color)
        return PlainUI()

    @contextlib.contextmanager
    def checker(
        self, json_output: bool = False, plugins: bool = True, apps: Sequence[str] = ()
    ) -> Iterator[Checker]:
        """A checker on the project's state; the config and the plugins of ``apps`` (all
        when none is named) are checked first, so a bad config writes nothing. Without
        ``plugins``, the command only reads the state, and opens it read-only."""
        from ..checking.checker import Checker, check_locations
        from ..plugins.directory import working_directory

        project = self.project()
        manager: PluginManager | None = None  # only reads: the checker's plugins are none
        if plugins:
            from ..config.uses import check_plugins

            manager = self.plugins(project=project)
            check_plugins(project, manager, apps)
        output = self.output(json_output)
        on_failure = print_traceback if self.verbose else None
        # Opened before the change of directory: a relative --state is the user's.
        with (
            self.state(project, read_only=not plugins) as state,
            working_directory(project.path.parent),
        ):
            if plugins:
                check_locations(project, state, "")
            checker = Checker(
                project,
                state,
                manager,
                workspace=self.workspace,
                output=output,
                on_failure=on_failure,
            )
            try:
                yield checker
            finally:
                if output is not None:
                    output.close()


def on_one_loop(checker: Checker, main: Coroutine[Any, Any, _T]) -> _T:
    """Run a command's work ``main`` on the command's one event loop; then, still on it, the
    alerts its checks raised are delivered (each attempt within its deadline)."""
    from ..plugins.workers import run_abandoning

    async def command() -> _T:
        try:
            return await main
        finally:
            await checker.close()

    return run_abandoning(command())


def read_project(path: Path) -> Project:
    from ..config.document import load_config

    return load_config(path, cache_dir=cache_directory(path))


def cache_directory(config: Path) -> Path:
    """Where what a run worked out of the project of ``config`` is kept for the next."""
    return config.resolve().parent / ".waypoint-hooks"


def print_traceback(failure: BaseException) -> None:
    # -v: where it went wrong. A traceback holds a plugin's words and the values it was
    # given, so it is sanitized like all of their text.
    import traceback

    from ..terminal import sanitize

    error = getattr(failure, "error", failure)
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    click.echo(sanitize("".join(lines)), err=True, nl=False)


def handle_errors(function: _F, stopped: Callable[[int | None], NoReturn] | None = None) -> _F:
    """Turn the errors a user can fix (a :class:`UsageError`) into their message and exit code
    2; anything else into a message naming its class and exit code 1, with the traceback only
    under ``-v``.

    A command that a stop signal ended exits with 128 + its number (DESIGN §12), or as
    ``stopped`` says for a command that runs until one (a second signal is always that).
    """
    first_stop = stopped or _stopped

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..errors import UsageError
        from ..plugins.signals import STOP, Interrupted

        session = click.get_current_context().find_object(Session)
        try:
            result = function(*args, **kwargs)
        except Interrupted:
            _stopped(STOP.exit_code)
        except SystemExit:
            if STOP.requested:
                first_stop(STOP.exit_code)
            raise
        except UsageError as exc:
            fail(str(exc), USAGE)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:  # the last line of defence: no traceback unless -v
            if session is not None and session.verbose:
                print_traceback(exc)
            hint = "" if session is not None and session.verbose else " (-v shows the traceback)"
            fail(f"{type(exc).__name__}: {exc}{hint}", NOT_READY)
        if STOP.requested:
            first_stop(STOP.exit_code)
        return result

    return wrapper  # type: ignore[return-value]


def _stopped(code: int | None) -> NoReturn:
    """One line for a command a stop signal ended (DESIGN §12), and its exit code."""
    assert code is not None
    name = signal.Signals(code - 128).name
    command = click.get_current_context().info_name
    click.echo(
        f"Interrupted by {name}: `{command}` started nothing more, and what ended is recorded",
        err=True,
    )
    sys.exit(code)


def _reader_gone() -> NoReturn:
    # Python's recipe (docs of the signal module, "Note on SIGPIPE"): what is still buffered
    # for stdout goes to /dev/null, not into a second error when the interpreter exits.
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(AttributeError, OSError, ValueError):  # not a real file
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    sys.exit(READER_GONE)


def fail(message: str, code: int) -> NoReturn:
    error(message)
    sys.exit(code)


def error(message: str) -> None:
    # Messages carry plugins' and platforms' words: sanitized like every other line shown.
    from ..terminal import sanitize

    click.echo(f"Error: {sanitize(message)}", err=True)


def exit_code(
    rows: Sequence[AppStatus], failures: Sequence[str] = (), removed: Sequence[RemovedApp] = ()
) -> int:
    """READY when nothing failed, every app shown has a live deployment, every report
    shown is READY, and no app gone from the config has a version left (DESIGN §8)."""
    from ..model.health import Health

    if failures or removed or any(row.deployment is None for row in rows):
        return NOT_READY
    reports = [report for row in rows for report in row.reports()]
    return READY if all(report.health is Health.READY for report in reports) else NOT_READY


pass_session = click.make_pass_decorator(Session)
