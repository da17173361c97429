"""The ``waypoint-hooks`` command: parse, call the library, render. Nothing else lives here.

Imports stay light at module level: ``--help`` and ``--version`` must start fast, so the
framework is imported inside the commands that use it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .. import __version__
from .lazy import LazyGroup
from .output import json_stdout, located_of, print_json, show_status
from .params import DURATION, Command, apps_argument
from .session import (
    NOT_READY,
    READY,
    USAGE,
    Session,
    error,
    exit_code,
    fail,
    handle_errors,
    on_one_loop,
    pass_session,
)

if TYPE_CHECKING:
    from ..checking.checker import AppStatus
    from ..lifecycle.phases import Outcome

# --- the command line --------------------------------------------------------------------


class _Main(LazyGroup):
    command_class = Command


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
    count=True,
    help="Show what plugins log at info level, and tracebacks of unexpected errors; -vv also "
    "traces every hook call on stderr (env WAYPOINT_HOOKS_TRACE=1).",
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
    verbose: int,
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
    ctx.obj = Session(config, state, workspace, plugin_specs, color, verbose > 0)
    ctx.call_on_close(log_to_stderr(verbose > 0))
    if verbose > 1:
        # Imported here: without -vv only the commands that call hooks need it, and they
        # look at WAYPOINT_HOOKS_TRACE themselves.
        from ..plugins.tracing import trace_to_stderr

        ctx.call_on_close(trace_to_stderr(True))


@main.command()
@click.option("--json", "json_output", is_flag=True, help="Print a JSON array.")
@pass_session
@handle_errors
def plugins(session: Session, json_output: bool) -> None:
    """List every discovered plugin, and why it failed to load if it did.

    \b
    Example:
      waypoint-hooks plugins --json
    """
    from . import render as _render

    found = session.plugins(listing=True).plugins
    if json_output:
        print_json([plugin.to_json() for plugin in found])
    else:
        for line in _render.plugins_table(found):
            click.echo(line)
    sys.exit(NOT_READY if any(plugin.error for plugin in found) else READY)


# The commands of modules of their own, imported when one is used; each with the first sentence
# of its help, which --help lists (tests/cli/test_lazy.py holds them to the commands' own).
main.add_lazy(
    "docs",
    ".docs",
    "Show what PLUGIN is (its kinds and hooks) and every setting its use blocks take: type, "
    "default and documentation, read from its code.",
)
main.add_lazy(
    "history",
    ".reading",
    "Past status reports of APP, newest first, with each change of health; or, with --csv, "
    "its uptime per hour or day, rolled-up history included.",
)
main.add_lazy(
    "alerts",
    ".reading",
    "Alerts the notify blocks raised in this workspace, newest first, and how the delivery of "
    "each went: sent, waiting for its first attempt, or failed and when it is tried again.",
)
main.add_lazy(
    "silence",
    ".silences",
    "Send none of APP's firing alerts and reminders for a while (a resolved alert of one that "
    "was sent is still sent).",
)
main.add_lazy(
    "silences",
    ".silences",
    "The silences in force in this workspace, the soonest to end first.",
)
main.add_lazy(
    "unsilence",
    ".silences",
    "Lift the silence ID (as `silence` and `silences` print it): the app's alerts are sent "
    "again, from its next report on.",
)
main.add_lazy(
    "serve",
    ".serving",
    "Check each APP (all when none is named) on its interval and serve a status page, a JSON "
    "API and Prometheus metrics, until stopped (Ctrl-C or SIGTERM: the checks that run end and "
    "are stored, then it exits 0).",
)
main.add_lazy(
    "report",
    ".report",
    "Store a report that APP's platform made of itself, read from FILE (- for standard "
    "input), for APP's latest live deployment (or release), marked external; alerts are "
    "raised as for any report.",
)


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
    @handle_errors
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

            async def phase_then_status() -> tuple[Outcome, list[AppStatus]]:
                outcome = await getattr(lifecycle, name)(apps, **options)
                for failure in outcome.failures:
                    error(failure)
                if destroys:
                    # What is left of the apps of the config it destroyed: none, when it
                    # destroyed only apps the config no longer names.
                    named = [app for app in apps if app in checker.project.apps]
                    every = not apps and not options["removed"]
                    return outcome, checker.cached(named) if named or every else []
                # Then every app's status, unless a stop signal came.
                return outcome, [] if STOP.requested else await checker.status(apps)

            outcome, rows = on_one_loop(checker, phase_then_status())
            removed = [] if apps else checker.removed()
            show_status(session, checker, rows, expect_live=not destroys, removed=removed)
        if destroys:
            # Nothing deployed is what a destroy is for: it fails only when a hook did.
            sys.exit(NOT_READY if outcome.failures else READY)
        sys.exit(exit_code(rows, outcome.failures, removed))

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
@handle_errors
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
        json_stdout(json_output) as emit_json,
    ):

        def show(rows: list[AppStatus]) -> int:
            # Apps gone from the config are listed with every app: never checked, only shown.
            removed = [] if apps else checker.removed()
            if json_output:
                # One app named: its every version, as the text shows them.
                versions = {apps[0]: checker.records(apps[0])} if len(apps) == 1 else None
                emit_json(
                    documents.status_json(
                        checker.project.name,
                        checker.workspace,
                        rows,
                        versions,
                        removed,
                        located_of(checker, rows),
                    )
                )
            else:
                apps_in_config = checker.project.apps.values()
                stale = {a.name: a.status.interval for a in apps_in_config} if cached else None
                show_status(session, checker, rows, stale, tree=len(apps) == 1, removed=removed)
            return exit_code(rows, removed=removed)

        if cached:  # only reads: no event loop, nor what runs hooks, is needed
            while True:
                code = show(checker.cached(apps))
                if watch is None or STOP.wait(watch):
                    break
        else:

            async def rounds() -> int:
                while True:
                    rows = await checker.status(
                        apps, timeout=timeout, concurrency=concurrency, keep=keep
                    )
                    code = show(rows)
                    if watch is None or await STOP.sleep(watch):
                        return code

            code = on_one_loop(checker, rounds())
    sys.exit(code)


@main.command("new-plugin")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["platform", "notifier"]),
    default="platform",
    show_default=True,
    help="What the plugin starts as: a platform and a release manager, or a notifier.",
)
@handle_errors
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
        fail(str(exc), USAGE)
    # The Python that runs this command has waypoint-hooks: the package's requirement is met
    # there, wherever waypoint-hooks came from (a checkout is not on the package index).
    python = shlex.quote(sys.executable)
    click.echo(f"Created {package}\n\nNext, in the Python environment of waypoint-hooks:")
    click.echo(f"  cd {shlex.quote(package.name)}")
    click.echo(f"  {python} -m pip install -e '.[test]'")
    click.echo(f"  {python} -m pytest")
