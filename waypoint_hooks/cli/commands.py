"""The ``waypoint-hooks`` command: parse, call the library, render. Nothing else lives here.

Imports stay light at module level: ``--help`` and ``--version`` must start fast, so the
framework is imported inside the commands that use it. One module, over 400 lines, because a
click application is one group and its commands: options, help texts and the exit-code rules
they share read best side by side.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from .. import __version__

if TYPE_CHECKING:
    from ..checking.checker import AppStatus, Checker, RemovedApp
    from ..config.project import Project
    from ..plugins.manager import PluginManager
    from ..state.store import State
    from ..terminal import StreamUI

_F = TypeVar("_F", bound=Callable[..., Any])

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

    def plugins(self, *, listing: bool = False) -> PluginManager:
        """The plugins; a ``-p`` module that cannot be imported is a usage error (the user
        named it), unless the command only lists the plugins and what broke each."""
        from ..errors import UsageError
        from ..plugins.manager import PluginManager, PluginSpecs

        manager = PluginManager.load(PluginSpecs.parse(self.plugin_specs))
        for plugin in manager.plugins:
            if not listing and plugin.source == "cli" and plugin.module is None:
                raise UsageError(
                    f"-p {plugin.value}: {plugin.error}; check the module's name, and that "
                    "the directory it is in is on PYTHONPATH"
                )
        return manager

    def project(self) -> Project:
        from ..config.project import find_config

        given = Path(self.config_option) if self.config_option else Path.cwd()
        return _read_project(find_config(given) if given.is_dir() else given)

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

        if _live_terminal():
            return ConsoleUI(color=self.color)
        return PlainUI()

    @contextlib.contextmanager
    def checker(
        self, json_output: bool = False, plugins: bool = True, apps: Sequence[str] = ()
    ) -> Iterator[Checker]:
        """A checker on the project's state; the config and the plugins of ``apps`` (all
        when none is named) are checked first, so a bad config writes nothing. Without
        ``plugins``, the command only reads the state, and opens it read-only."""
        from ..checking.checker import Checker
        from ..config.uses import check_plugins
        from ..plugins.context import working_directory
        from ..plugins.manager import PluginManager

        project = self.project()
        manager = self.plugins() if plugins else PluginManager()
        if plugins:
            check_plugins(project, manager, apps)
        output = self.output(json_output)
        on_failure = _print_traceback if self.verbose else None
        # Opened before the change of directory: a relative --state is the user's.
        with (
            self.state(project, read_only=not plugins) as state,
            working_directory(project.path.parent),
        ):
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
                checker.close()
                if output is not None:
                    output.close()


def _read_project(path: Path) -> Project:
    from ..config.project import load_config

    return load_config(path, cache_dir=path.resolve().parent / ".waypoint-hooks")


def _print_traceback(failure: BaseException) -> None:
    # -v: where it went wrong. A traceback holds a plugin's words and the values it was
    # given, so it is sanitized like all of their text.
    import traceback

    from ..terminal import sanitize

    error = getattr(failure, "error", failure)
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    click.echo(sanitize("".join(lines)), err=True, nl=False)


def _handle_errors(function: _F, stopped: Callable[[int | None], NoReturn] | None = None) -> _F:
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
            _fail(str(exc), USAGE)
        except (click.ClickException, click.Abort, click.exceptions.Exit):
            raise
        except BrokenPipeError:
            _reader_gone()
        except Exception as exc:  # the last line of defence: no traceback unless -v
            if session is not None and session.verbose:
                _print_traceback(exc)
            hint = "" if session is not None and session.verbose else " (-v shows the traceback)"
            _fail(f"{type(exc).__name__}: {exc}{hint}", NOT_READY)
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


def _fail(message: str, code: int) -> NoReturn:
    _error(message)
    sys.exit(code)


def _error(message: str) -> None:
    # Messages carry plugins' and platforms' words: sanitized like every other line shown.
    from ..terminal import sanitize

    click.echo(f"Error: {sanitize(message)}", err=True)


def _exit_code(
    rows: Sequence[AppStatus], failures: Sequence[str] = (), removed: Sequence[RemovedApp] = ()
) -> int:
    """READY when nothing failed, every app shown has a live deployment, every report
    shown is READY, and no app gone from the config has a version left (DESIGN §8)."""
    from ..model.health import Health

    if failures or removed or any(row.deployment is None for row in rows):
        return NOT_READY
    reports = [report for row in rows for report in row.reports()]
    return READY if all(report.health is Health.READY for report in reports) else NOT_READY


def _json_text(document: Any) -> str:
    """``document`` indented by two spaces, as ``json.dumps(indent=2, ensure_ascii=False)``
    writes it; but in C, where json's indenting encoder is Python (5,000 apps' status)."""
    import msgspec

    try:
        return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()
    except UnicodeEncodeError:
        # A lone surrogate (os.fsdecode makes them of undecodable file names) has no UTF-8
        # form; json keeps it in the text, as it always did.
        import json

        return json.dumps(document, indent=2, ensure_ascii=False)


def _print_json(document: Any) -> None:
    click.echo(_json_text(document))


def _print_json_streamed(document: Mapping[str, Any]) -> None:
    """``_print_json(document)`` when its last member is an iterable of any length: written
    one item at a time, as it is read."""
    *_, key = document
    items = iter(document[key])
    first = next(items, None)
    if first is None:
        _print_json({**document, key: []})
        return
    # The text around the list, as _json_text writes it, split at a one-item list's item.
    opening, closing = _json_text({**document, key: [0]}).rsplit("0", 1)
    click.echo(opening, nl=False)
    for index, item in enumerate(itertools.chain([first], items)):
        # An item of a list in an object: indented two levels, as _json_text indents it.
        text = _json_text(item).replace("\n", "\n    ")
        click.echo(f",\n    {text}" if index else text, nl=False)
    click.echo(closing)


@contextlib.contextmanager
def _json_stdout(json_output: bool) -> Iterator[Callable[[Any], None]]:
    """For ``--json``: stdout carries the JSON documents and nothing else.

    While the command runs, whatever plugins print goes to stderr: Python's ``sys.stdout`` is
    swapped, and when it is the process's real file descriptor 1, that descriptor is pointed
    at stderr too (for plugins that write to it, or start programs that do, and for hung
    plugin threads that print between ``--watch`` rounds). Yields the function that writes a
    document to the real stdout.
    """
    if not json_output:
        yield _print_json
        return
    sys.stdout.flush()
    real = sys.stdout
    saved = _dup_stdout()
    channel = os.fdopen(saved, "w", encoding="utf-8", closefd=False) if saved is not None else real

    def emit(document: Any) -> None:
        channel.write(_json_text(document) + "\n")
        channel.flush()

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield emit
    finally:
        if saved is not None:
            # Its reader may be gone (`| head`): what it could not write is dropped.
            with contextlib.suppress(BrokenPipeError):
                channel.close()
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _dup_stdout() -> int | None:
    try:
        if sys.stdout.fileno() != 1:
            return None
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        return None
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def _live_terminal() -> bool:
    """Standard output is a terminal that takes colours and moves its cursor (not "dumb")."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _style(session: Session) -> Callable[[str, Any], str]:
    from . import render as _render

    return _render.colored if session.color and _live_terminal() else _render.plain


def _width(indent: str = "") -> int | None:
    """How wide a table may be: the terminal's width, on one; a pipe takes any line whole."""
    import shutil

    return shutil.get_terminal_size().columns - len(indent) if sys.stdout.isatty() else None


def _show_status(
    session: Session,
    checker: Checker,
    rows: Sequence[AppStatus],
    stale_after: Mapping[str, float] | None = None,
    tree: bool = False,
    expect_live: bool = True,
    removed: Sequence[RemovedApp] = (),
) -> None:
    from ..terminal import sanitize_line
    from . import render as _render

    if rows or removed:
        click.echo("")
    for line in _render.status_table(
        rows,
        checker.workspace,
        command=session.invocation(),
        stale_after=stale_after,
        style=_style(session),
        expect_live=expect_live,
        width=_width(),
        removed=removed,
        config=checker.project.path.name,
    ):
        click.echo(line)
    if not tree:
        return
    for row in rows:
        click.echo(f"\n{sanitize_line(row.app)} versions (every one not destroyed):")
        versions = checker.versions(row.app)
        for line in _render.versions_table(versions, style=_style(session), width=_width("  ")):
            click.echo(f"  {line}")
    for row in rows:
        for kind, record, report in (
            ("deployment", row.deployment, row.deployment_report),
            ("release", row.release, row.release_report),
        ):
            if record is None or report is None:
                continue
            title = f"{row.app} {kind} v{record.sequence} ({record.plugin}) resources:"
            click.echo(f"\n{sanitize_line(title)}")
            indent = "  "
            for line in _render.resource_tree(report, _style(session), _width(indent)):
                click.echo(f"{indent}{line}")


# --- the command line --------------------------------------------------------------------


class _Command(click.Command):
    """A command that says where a global option goes when it is given after the command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            option = _global_option(ctx, exc.option_name)
            if option is None:
                raise
            name = exc.option_name
            value = "" if option.is_flag else f" {option.metavar}"
            usage = f"{ctx.find_root().info_name} {name}{value} {ctx.info_name}"
            hint = f"{name} is a global option: it goes before the command, as in `{usage}`."
            raise click.NoSuchOption(name, f"{exc.message} {hint}", ctx=ctx) from None


def _global_option(ctx: click.Context, name: str) -> click.Option | None:
    group = ctx.parent.command if ctx.parent is not None else None
    for param in group.params if group is not None else ():
        if isinstance(param, click.Option) and name in (*param.opts, *param.secondary_opts):
            return param
    return None


class _Main(click.Group):
    command_class = _Command


def _workspace(_: click.Context, __: click.Parameter, value: str) -> str:
    from ..model.names import check_name

    try:
        check_name("the workspace's name", value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example:  waypoint-hooks -c examples/demo/waypoint.hcl up",
)
@click.option(
    "-c",
    "--config",
    metavar="PATH",
    help="The config file, or a directory holding it [default: ./waypoint.hcl, then "
    "./waypoint.hcl.json].",
)
@click.option(
    "--state",
    metavar="PATH|URL",
    help="The state: a SQLite file, or a postgresql:// URL [default: "
    ".waypoint-hooks/state.db beside the config; env WAYPOINT_HOOKS_STATE].",
)
@click.option(
    "-w",
    "--workspace",
    default="default",
    show_default=True,
    metavar="NAME",
    callback=_workspace,
    help="The workspace: separate deployments of the same apps.",
)
@click.option(
    "-p",
    "plugin_specs",
    multiple=True,
    metavar="SPEC",
    help="Load module SPEC as a plugin, or block plugin NAME with no:NAME. Repeatable.",
)
@click.option("--no-color", is_flag=True, help="No colours (also when NO_COLOR is set).")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show what plugins log at info level, and tracebacks of unexpected errors.",
)
@click.version_option(__version__, "--version", prog_name="waypoint-hooks")
@click.pass_context
def main(
    ctx: click.Context,
    config: str | None,
    state: str | None,
    workspace: str,
    plugin_specs: tuple[str, ...],
    no_color: bool,
    verbose: bool,
) -> None:
    """Deploy apps, release them and report their health, with plugins.

    Reads waypoint.hcl, runs the platform and release-manager plugins it names, stores every
    status report, and exits 0 when every app shown is deployed and every report shown is
    READY, 1 when one is not, and 2 on a usage or configuration error.
    """
    from ..plugins.logs import log_to_stderr
    from ..plugins.signals import STOP

    ctx.with_resource(STOP.handling())

    color = not no_color and not os.environ.get("NO_COLOR")
    ctx.obj = Session(config, state, workspace, plugin_specs, color, verbose)
    ctx.call_on_close(log_to_stderr(verbose))


pass_session = click.make_pass_decorator(Session)
apps_argument = click.argument("apps", nargs=-1, metavar="[APP]...")


@main.command()
@click.option("--json", "json_output", is_flag=True, help="Print a JSON array.")
@pass_session
@_handle_errors
def plugins(session: Session, json_output: bool) -> None:
    """List every discovered plugin, and why it failed to load if it did.

    \b
    Example:
      waypoint-hooks plugins --json
    """
    from . import render as _render

    found = session.plugins(listing=True).plugins
    if json_output:
        _print_json([plugin.to_json() for plugin in found])
    else:
        for line in _render.plugins_table(found):
            click.echo(line)
    sys.exit(NOT_READY if any(plugin.error for plugin in found) else READY)


#: Options of one phase command beyond its apps (and pruning's).
_ROLLBACK = click.option(
    "--deployment",
    type=click.IntRange(min=1),
    metavar="N",
    help="Release the app's live deployment vN, not its latest: a rollback (pruning keeps "
    "it). Name one APP.",
)
_REMOVED = click.option(
    "--removed",
    is_flag=True,
    help="Also destroy every app that the config no longer names but the state holds "
    "versions of (alone: only those).",
)


def _phase(
    name: str,
    help_text: str,
    example: str,
    *,
    prunes: bool = False,
    options: Sequence[Callable[[Callable[..., Any]], Callable[..., Any]]] = (),
) -> click.Command:
    destroys = name == "destroy"

    @pass_session
    @_handle_errors
    def command(session: Session, /, apps: tuple[str, ...], **options: Any) -> None:
        from ..lifecycle.phases import Lifecycle
        from ..plugins.signals import STOP

        with session.checker(apps=apps) as checker:
            lifecycle = Lifecycle(
                checker.project,
                checker.state,
                checker.plugins,
                workspace=checker.workspace,
                output=checker.output,
                on_failure=checker.on_failure,
                invocation=session.invocation(),
            )
            outcome = getattr(lifecycle, name)(apps, **options)
            for failure in outcome.failures:
                _error(failure)
            if destroys:
                # What is left of the apps of the config it destroyed: none, when it
                # destroyed only apps the config no longer names.
                named = [app for app in apps if app in checker.project.apps]
                every = not apps and not options["removed"]
                rows = checker.cached(named) if named or every else []
            else:  # then every app's status, unless a stop signal came
                rows = [] if STOP.requested else checker.status(apps)
            removed = [] if apps else checker.removed()
            _show_status(session, checker, rows, expect_live=not destroys, removed=removed)
        if destroys:
            # Nothing deployed is what a destroy is for: it fails only when a hook did.
            sys.exit(NOT_READY if outcome.failures else READY)
        sys.exit(_exit_code(rows, outcome.failures, removed))

    for option in options:
        command = option(command)
    if prunes:
        command = click.option(
            "--prune-retain",
            type=click.IntRange(min=0),
            default=2,
            show_default=True,
            metavar="N",
            help="How many superseded deployments pruning keeps.",
        )(command)
        command = click.option(
            "--prune/--no-prune",
            default=True,
            show_default=True,
            help="After a release, destroy the deployments it superseded.",
        )(command)
    command = apps_argument(command)
    return main.command(name=name, help=f"{help_text}\n\n\b\nExample:\n  {example}")(command)


deploy = _phase(
    "deploy",
    "Deploy each APP (all when none is named) with its platform, then report its status.",
    "waypoint-hooks deploy web",
)
release = _phase(
    "release",
    "Release the latest deployment of each APP with its release manager, then report status.",
    "waypoint-hooks release web",
    prunes=True,
    options=[_ROLLBACK],
)
up = _phase(
    "up",
    "Deploy and release each APP, then report its status.",
    "waypoint-hooks -c examples/demo/waypoint.hcl up",
    prunes=True,
)
destroy = _phase(
    "destroy",
    "Destroy every release and deployment of each APP (all when none is named); they are not "
    "checked again. APP may be one that the config no longer names.",
    "waypoint-hooks destroy",
    options=[_REMOVED],
)


# click 8.5 made ParamType generic; subscripting it would break the older clicks setup.cfg allows.
class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration longer than 0s, as the config file writes it (``30s``, ``1m30s``, ``250ms``),
    or a bare number of seconds: on the command line every value is text, so ``30`` is the
    number 30, as ``timeout = 30`` is in the file. The messages are the config file's."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from ..model.durations import Duration, longer_than_zero

        try:
            duration = Duration(_number(value) if isinstance(value, str) else value)
            longer_than_zero(param.name if param is not None and param.name else "it", duration)
        except (ValueError, TypeError) as exc:
            self.fail(str(exc), param, ctx)
        return duration


def _number(text: str) -> str | float:
    """``text`` as a number when it is a bare one (``30``, ``0.5``), else as it is."""
    digits = text.replace(".", "", 1)
    return float(text) if digits.isascii() and digits.isdigit() else text


DURATION = DurationType()


@main.command()
@apps_argument
@click.option("--json", "json_output", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--cached",
    is_flag=True,
    help="Show the stored reports without checking; old ones are marked stale.",
)
@click.option(
    "--watch",
    type=DURATION,
    metavar="DURATION",
    help="Check again every DURATION (30s, 5m, or seconds) until interrupted (Ctrl-C).",
)
@click.option(
    "--timeout",
    type=DURATION,
    metavar="DURATION",
    help="Time allowed for each check, e.g. 10s [default: the config's, else 30s].",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    metavar="N",
    help="Checks run at once [default: the config's, else 16].",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    metavar="N",
    help="Keep only the N newest reports of each deployment and release "
    "[default: the config's, else 1000].",
)
@pass_session
@_handle_errors
def status(
    session: Session,
    apps: tuple[str, ...],
    json_output: bool,
    cached: bool,
    watch: float | None,
    timeout: float | None,
    concurrency: int | None,
    keep: int | None,
) -> None:
    """Check the health of each APP's deployment and release now (all apps when none is
    named); naming one app also shows its resources.

    \b
    Examples:
      waypoint-hooks status
      waypoint-hooks status web --json
      waypoint-hooks status --watch 30
    """
    from ..checking import documents
    from ..plugins.signals import STOP

    with (
        session.checker(json_output, plugins=not cached, apps=apps) as checker,
        _json_stdout(json_output) as emit_json,
    ):
        while True:
            if cached:
                rows = checker.cached(apps)
            else:
                rows = checker.status(apps, timeout=timeout, concurrency=concurrency, keep=keep)
            # Apps gone from the config are listed with every app: never checked, only shown.
            removed = [] if apps else checker.removed()
            code = _exit_code(rows, removed=removed)
            if json_output:
                # One app named: its every version, as the text shows them.
                versions = {apps[0]: checker.records(apps[0])} if len(apps) == 1 else None
                emit_json(
                    documents.status_json(
                        checker.project.name, checker.workspace, rows, versions, removed
                    )
                )
            else:
                apps_in_config = checker.project.apps.values()
                stale = {a.name: a.status.interval for a in apps_in_config} if cached else None
                _show_status(session, checker, rows, stale, tree=len(apps) == 1, removed=removed)
            if watch is None or STOP.wait(watch):
                break
    sys.exit(code)


#: How many reports ``history`` shows unless told otherwise (DESIGN §13).
HISTORY_LIMIT = 100


@main.command()
@click.argument("app")
@click.option("--json", "json_output", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Only the N newest reports [default: {HISTORY_LIMIT}].",
)
@click.option(
    "--all", "every", is_flag=True, help="Every stored report, however many (read as shown)."
)
@pass_session
@_handle_errors
def history(session: Session, app: str, json_output: bool, limit: int | None, every: bool) -> None:
    """Past status reports of APP, newest first, with each change of health.

    \b
    Examples:
      waypoint-hooks history web --limit 20
      waypoint-hooks history web --all --json
    """
    from ..checking import documents
    from . import render as _render

    if every and limit is not None:
        raise click.UsageError("--all shows every report; give it or --limit N, not both")
    with session.checker(json_output, plugins=False) as checker:
        stored = checker.history(app, None if every else limit or HISTORY_LIMIT)
        if json_output:
            _print_json_streamed(
                documents.history_json(checker.project.name, checker.workspace, app, stored)
            )
        else:
            # Their records alone: history shows no report of theirs but its own rows.
            unfinished = checker.records(app)
            lines = _render.history_table(
                stored,
                style=_style(session),
                width=_width(),
                unfinished=unfinished,
                empty=f"no reports of {app} in workspace {checker.workspace} yet",
            )
            for line in lines:
                click.echo(line)


@main.command()
@click.option("--json", "json_output", is_flag=True, help="Print the alerts as JSON.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    metavar="N",
    help="Only the N newest alerts.",
)
@pass_session
@_handle_errors
def alerts(session: Session, json_output: bool, limit: int) -> None:
    """Alerts the notify blocks raised in this workspace, newest first, and how the delivery
    of each went: sent, waiting for its first attempt, or failed and when it is tried again.

    \b
    Example:
      waypoint-hooks alerts --limit 20
    """
    from ..checking import documents
    from . import render as _render

    with session.checker(json_output, plugins=False) as checker:
        stored = checker.alerts(limit)
        if json_output:
            _print_json(documents.alerts_json(checker.project.name, checker.workspace, stored))
        else:
            empty = f"no alerts in workspace {checker.workspace} yet"
            if not checker.project.notify:
                empty += "; the config has no notify block to raise them"
            lines = _render.alerts_table(stored, style=_style(session), width=_width(), empty=empty)
            for line in lines:
                click.echo(line)


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["platform", "notifier"]),
    default="platform",
    show_default=True,
    help="What the plugin starts as: a platform and a release manager, or a notifier.",
)
@_handle_errors
def new_plugin(name: str, kind: str) -> None:
    """Create NAME's plugin package, waypoint-hooks-NAME, in the current directory.

    It is ready to install and to change: a platform and a release manager to start from (or
    with --kind notifier, a notifier), their tests, and the entry point that makes
    `use "NAME"` select the plugin.

    \b
    Examples:
      waypoint-hooks new-plugin my-cloud
      waypoint-hooks new-plugin pager --kind notifier
    """
    import shlex

    from .scaffold import new_plugin as create

    try:
        package = create(name, Path.cwd(), kind)
    except ValueError as exc:
        _fail(str(exc), USAGE)
    # The Python that runs this command has waypoint-hooks: the package's requirement is met
    # there, wherever waypoint-hooks came from (a checkout is not on the package index).
    python = shlex.quote(sys.executable)
    click.echo(f"Created {package}\n\nNext, in the Python environment of waypoint-hooks:")
    click.echo(f"  cd {shlex.quote(package.name)}")
    click.echo(f"  {python} -m pip install -e '.[test]'")
    click.echo(f"  {python} -m pytest")


@main.command()
@apps_argument
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDRESS",
    help="The address to listen on; POST needs --token unless it is a loopback one.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8470,
    show_default=True,
    metavar="PORT",
    help="The port to listen on (0: any free one, printed at the start).",
)
@click.option(
    "--token",
    envvar="WAYPOINT_HOOKS_TOKEN",
    metavar="TOKEN",
    help="Require Authorization: Bearer TOKEN on POST [env WAYPOINT_HOOKS_TOKEN].",
)
@click.option(
    "--lease",
    type=DURATION,
    default="30s",
    show_default=True,
    metavar="DURATION",
    help="How long the checks this instance holds stay its own unless it renews its lease "
    "(every third of it): other instances on the state take over those of one that died "
    "within it.",
)
@pass_session
@functools.partial(_handle_errors, stopped=lambda _: _served())
def serve(
    session: Session,
    apps: tuple[str, ...],
    host: str,
    port: int,
    token: str | None,
    lease: float,
) -> None:
    """Check each APP (all when none is named) on its interval and serve a status page,
    a JSON API and Prometheus metrics, until stopped (Ctrl-C or SIGTERM: the checks that run
    end and are stored, then it exits 0). The config file is read again when it changes.

    \b
    Example:
      waypoint-hooks -c examples/demo/waypoint.hcl serve --port 8470
    """
    try:
        from ..serve.service import StatusService
        from ..serve.web import Listener
        from ..serve.web import serve as run
    except ModuleNotFoundError as exc:
        _fail(
            f"serve needs {exc.name}: pip install 'waypoint-hooks[serve]' (in a checkout of "
            "waypoint-hooks, which no package index has yet: pip install '.[serve]')",
            USAGE,
        )
    from ..config.uses import check_plugins

    with session.checker(json_output=True, apps=apps) as checker:

        def reread(path: Path) -> Project:
            project = _read_project(path)
            check_plugins(project, checker.plugins, apps)
            return project

        service = StatusService(checker, apps, reread, lease=lease)
        try:
            listener = Listener(host, port)
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", USAGE)
        served = len(service.apps())
        click.echo(
            f"Serving the status of {served} apps of {checker.project.name} on "
            f"{listener.url} (Ctrl-C stops)",
            err=True,
        )
        run(service, listener, token)


def _served() -> NoReturn:
    from ..plugins.signals import STOP

    assert STOP.signum is not None
    name = signal.Signals(STOP.signum).name
    click.echo(f"Stopped by {name}: the checks that were running ended and are stored", err=True)
    sys.exit(READY)
